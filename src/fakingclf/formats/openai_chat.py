"""Layout ``openai_chat``: an OpenAI ``ChatCompletion`` as ``completion.model_dump()`` writes it.

``{"id": "chatcmpl-…", "object": "chat.completion", "model": …, "choices": [{"index": 0,
"message": {"role": "assistant", "content": …, "refusal": …, "reasoning_content": …},
"finish_reason": …}], "usage": {...}}``, one per line. ``choices[0].message`` is read as
an assistant turn of :mod:`fakingclf.formats.messages` (with several choices, the first is
read, with a warning); a legacy completion's ``choices[0].text`` is read as text.
``finish_reason: "length"`` marks the reply as cut; ``"content_filter"`` is a warning.

This module also holds what OpenAI-style messages carry beside ``content``, in every
chat layout:

* the reasoning: ``reasoning_content`` (DeepSeek, vLLM, many OpenAI-compatible
  servers), ``reasoning`` (OpenRouter, Ollama, vLLM), ``thinking``, or OpenRouter's
  ``reasoning_details`` list;
* ``refusal``: with ``content: null`` it is the reply, a refusal shown to the user
  (never an error record); a ``{"type": "refusal"}`` content part likewise.
"""

from __future__ import annotations

from typing import Any

from .base import TranscriptError, block_texts

NAME = "openai_chat"
REASONING_FIELDS = ("reasoning_content", "reasoning", "thinking")


def _refusal_part(block: dict, i: int, parts: dict) -> None:
    r = block.get("refusal")
    if isinstance(r, str) and r.strip():
        parts["text"].append(r)
        parts["notes"].append(f"messages[{i}]: a refusal part read as the output (a refusal)")


BLOCKS = {"refusal": _refusal_part}


def message_fields(m: dict, content: str, i: int, notes: list[str]) -> tuple[list[str], str, bool]:
    """What an assistant message carries beside its content blocks.

    Returns
    -------
    (list of str, str, bool)
        Reasoning blocks from the message's own fields (before those of its content),
        the reply text (the ``refusal`` when there is no content), and whether that
        reply is the answer shown to the user by the layout's own word (a refusal).
    """
    reasoning: list[str] = []
    for key in REASONING_FIELDS:
        r = m.get(key)
        if isinstance(r, str) and r.strip():
            reasoning.append(r)
            break
    else:
        details = m.get("reasoning_details")
        if isinstance(details, list):
            texts = block_texts(details) or [d["summary"] for d in details if isinstance(d, dict)
                                             and isinstance(d.get("summary"), str) and d["summary"].strip()]
            if texts:
                reasoning.append("\n\n".join(texts))
            elif any(isinstance(d, dict) and d.get("data") for d in details):
                notes.append(f"messages[{i}]: the reasoning is encrypted; it was skipped")
    refusal = m.get("refusal")
    if isinstance(refusal, str) and refusal.strip() and refusal.strip() not in content:
        if content.strip():
            content = f"{content}\n\n{refusal}"
        else:
            content = refusal
            notes.append(f"messages[{i}]: content is null; the refusal field read as the output (a refusal)")
        return reasoning, content, True
    return reasoning, content, False


FINISH_WARNINGS = {
    "length": "the reply was cut at its token limit (finish_reason length)",
    "content_filter": "the reply was stopped by the content filter (finish_reason content_filter)",
}


def matches(rec: dict) -> bool:
    """The record has a ``choices`` list."""
    return isinstance(rec.get("choices"), list)


def read(rec: dict, common: dict[str, Any], bare_text: str) -> dict[str, Any]:
    """Transcript fields of one ``ChatCompletion`` dump (``rec`` without id, tier, model).

    Raises
    ------
    TranscriptError
        If ``choices`` is empty, or its first entry has neither ``message`` nor ``text``.
    """
    from .markup import transcript_fields
    from .messages import messages_fields

    choices = rec.pop("choices")
    rec.pop("object", None)
    if not choices or not isinstance(choices[0], dict):
        raise TranscriptError("choices must be a non-empty list of objects")
    choice = choices[0]
    warnings = [f"{len(choices)} choices: only the first is read"] if len(choices) > 1 else []
    finish = choice.get("finish_reason")
    if finish in FINISH_WARNINGS:
        warnings.append(FINISH_WARNINGS[finish])
    rec["finish_reason"] = finish
    msg = choice.get("message")
    if isinstance(msg, dict):
        out = messages_fields([dict(msg, role=msg.get("role") or "assistant")], metadata=rec, bare_text=bare_text,
                              warnings=warnings, **common)
    elif isinstance(choice.get("text"), str):
        out = transcript_fields(choice["text"], bare_text=bare_text, metadata=rec, warnings=warnings, **common)
    else:
        raise TranscriptError("choices[0] has neither a message nor a text")
    out["source_format"] = NAME
    if finish == "length":
        out["truncated"] = True
    return out
