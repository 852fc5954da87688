"""Layout ``messages``: a chat-message list, ``{"messages": [{"role", "content"}, ...]}``.

User turns give the user input and the tier (their ``<INPUT>`` block if any); the
assistant turns, in order, give the reasoning and the reply. A turn's ``content`` is a
string or a list of blocks, read by the block readers of the provider modules
(:data:`BLOCKS`: Anthropic ``thinking``/``redacted_thinking``, OpenAI ``text`` and
``refusal`` parts, Responses ``reasoning``/``message``/``output_text``/``refusal``
items); any other block with a ``text`` string is text. Message-level fields
(``reasoning_content``, ``reasoning``, ``thinking``, ``refusal``) are read by
:func:`fakingclf.formats.openai_chat.message_fields`. Responses items given as turns of
their own, with no ``role`` (``{"type": "reasoning", ...}``), are assistant turns.

The reply beside reasoning is the final output, and so is a plain last reply in a chat
with no scratchpad markup (a model without reasoning). The text then goes through
:func:`fakingclf.formats.markup.transcript_fields`, which finds the final answer.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from . import anthropic, markup, openai_chat, openai_responses
from .base import ASSISTANT_ROLES, USER_ROLES, TranscriptError

NAME = "messages"

# A block reader gets (block, message index, parts) and adds to parts["reasoning"],
# parts["text"] or parts["notes"]. One table for every provider's block types.
BlockReader = Callable[[dict, int, dict], None]
BLOCKS: dict[str, BlockReader] = {**anthropic.BLOCKS, **openai_chat.BLOCKS, **openai_responses.BLOCKS}

# Top-level fields that hold the reasoning beside the transcript
SIDE_REASONING = ("reasoning_content", "reasoning", "scratchpad")


def content_parts(content: Any, i: int, notes: Optional[list[str]] = None) -> tuple[list[str], str]:
    """Split a message's content into (reasoning blocks, text).

    ``content`` is a string, or a list of blocks read by :data:`BLOCKS` (by their
    ``type``); a block of another type with a ``text`` string is text, others are
    skipped. Problems are appended to ``notes``.

    Raises
    ------
    TranscriptError
        If ``content`` is neither a string, a list nor null.
    """
    notes = notes if notes is not None else []
    if content is None:
        return [], ""
    if isinstance(content, str):
        return [], content
    if isinstance(content, list):
        parts: dict[str, Any] = {"reasoning": [], "text": [], "notes": notes}
        read_blocks(content, i, parts)
        return parts["reasoning"], "\n".join(parts["text"])
    raise TranscriptError(f"messages[{i}].content must be a string or a list of blocks, got {type(content).__name__}")


def read_blocks(blocks: list, i: int, parts: dict) -> None:
    """Read a list of content blocks into ``parts`` (``reasoning``, ``text``, ``notes``)."""
    for block in blocks:
        if isinstance(block, str):
            parts["text"].append(block)
        elif isinstance(block, dict):
            kind = block.get("type")
            reader = BLOCKS.get(kind) if isinstance(kind, str) else None  # the type may be an unhashable list
            if reader is not None:
                reader(block, i, parts)
            elif isinstance(block.get("text"), str):
                parts["text"].append(block["text"])


def _as_turn(m: Any, i: int, notes: list[str]) -> Optional[dict]:
    """The message ``m``, or a Responses item with no role as an assistant turn; None to skip it."""
    if isinstance(m, dict) and "role" in m:
        return m
    if isinstance(m, dict) and isinstance(m.get("type"), str):
        if m["type"] in ("reasoning", "message"):
            return {"role": "assistant", "content": [m]}
        if m["type"] in openai_responses.TOOL_ITEMS:
            notes.append(f"messages[{i}]: a {m['type']} item holds no text; it was skipped")
            return None
    raise TranscriptError(f"messages[{i}] is not an object with a 'role'")


def messages_fields(messages: Any, id: str = "1", plain_reply_is_output: bool = True, **fields: Any) -> dict[str, Any]:
    """Keyword arguments of :class:`~fakingclf.Transcript` for a chat-message list.

    Parameters
    ----------
    messages : list of dict
        ``[{"role": "user"|"assistant"|"system", "content": ...}]`` (see the module doc).
    id : str
        The transcript id.
    plain_reply_is_output : bool
        A last reply with no reasoning and no markup is the output (chat layouts); else
        it is bare text, read as ``bare_text`` in ``fields`` says.
    **fields
        Other transcript fields (``tier``, ``user_input``, ``model``, ``metadata``,
        ``warnings``, ``bare_text``…); ``tier`` and ``user_input`` given here win over
        the user turns.

    Raises
    ------
    TranscriptError
        If ``messages`` is not a non-empty list of objects with a ``role``, or no
        assistant turn has text.
    """
    if not isinstance(messages, list) or not messages:
        raise TranscriptError("messages must be a non-empty list of {role, content} objects")
    bare_text = fields.pop("bare_text", "reasoning")
    user_parts: list[str] = []
    turns: list[tuple[list[str], str, bool]] = []  # assistant turns: (reasoning blocks, content, content is the answer)
    notes: list[str] = []
    for i, raw in enumerate(messages):
        m = _as_turn(raw, i, notes)
        if m is None:
            continue
        reasoning, content = content_parts(m.get("content"), i, notes)
        role = str(m["role"]).lower()
        if role in USER_ROLES:
            user_parts.append(content)
        elif role in ASSISTANT_ROLES:
            extra, content, answer = openai_chat.message_fields(m, content, i, notes)
            turns.append((extra + reasoning, content, answer))
    if not any(r or c.strip() for r, c, _ in turns):
        why = list(fields.get("warnings", [])) + notes
        raise TranscriptError("no assistant message with text" + (f" ({'; '.join(why)})" if why else ""))
    any_markup = any(markup.has_markup(c) for _, c, _ in turns)
    last = len(turns) - 1
    text = "\n".join(
        markup.compose(reasoning, content, plain_is_output=answer or (
            plain_reply_is_output and k == last and not any_markup))
        for k, (reasoning, content, answer) in enumerate(turns))
    user_text = "\n".join(user_parts)
    warnings = list(fields.pop("warnings", [])) + notes
    tier = fields.pop("tier", None)
    user_input = fields.pop("user_input", None)
    if user_text.strip():
        info = markup.parse_user_turn(user_text)
        tier = tier if tier is not None else info["tier"]
        user_input = user_input if user_input is not None else info["user_input"]
    out = markup.transcript_fields(text, bare_text=bare_text, id=id, tier=tier, user_input=user_input,
                                   warnings=warnings, **fields)
    out["source_format"] = NAME
    return out


def matches(rec: dict) -> bool:
    """The record has a ``messages`` field."""
    return "messages" in rec


def read(rec: dict, common: dict[str, Any], bare_text: str) -> dict[str, Any]:
    """Transcript fields of a ``messages`` record (``rec`` without id, tier and model).

    A top-level ``reasoning_content``/``reasoning``/``scratchpad`` string is the
    reasoning of the last assistant turn, unless that turn has its own.
    """
    side = next((k for k in SIDE_REASONING if isinstance(rec.get(k), str) and rec[k].strip()), None)
    reasoning = rec.pop(side) if side else None
    messages = rec.pop("messages")
    if reasoning is not None and isinstance(messages, list):
        last = max((i for i, m in enumerate(messages) if isinstance(m, dict)
                    and str(m.get("role", "")).lower() in ASSISTANT_ROLES), default=None)
        if last is not None and not any(isinstance(messages[last].get(k), str) for k in openai_chat.REASONING_FIELDS):
            messages = list(messages)
            messages[last] = dict(messages[last], reasoning_content=reasoning)
    return messages_fields(messages, metadata=rec, bare_text=bare_text, **common)
