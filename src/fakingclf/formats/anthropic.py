"""Layout ``anthropic``: an Anthropic ``Message`` as ``message.model_dump()`` writes it.

``{"id": "msg_…", "type": "message", "role": "assistant", "model": …, "content": [...],
"stop_reason": …, "usage": {...}}``, one per line. The content blocks are read as an
assistant turn of :mod:`fakingclf.formats.messages`: ``thinking`` blocks are the
reasoning, ``text`` blocks the reply, ``redacted_thinking`` blocks (encrypted) are
skipped with a warning, tool blocks hold no text. ``stop_reason: "max_tokens"`` marks
the reply as cut; ``"refusal"`` (the API stopped the reply) is a warning. The message id
is the transcript id; ``stop_reason``, ``usage`` and the rest go to ``metadata``.

This module also holds the block readers for Anthropic blocks inside chat messages.
"""

from __future__ import annotations

from typing import Any

NAME = "anthropic"


def _thinking(block: dict, i: int, parts: dict) -> None:
    inner = block.get("thinking") or block.get("reasoning") or block.get("text") or ""
    if isinstance(inner, str) and inner.strip():
        parts["reasoning"].append(inner)
    elif block.get("redacted"):
        parts["notes"].append(f"messages[{i}]: a reasoning block is encrypted or redacted; it was skipped")


def _redacted(block: dict, i: int, parts: dict) -> None:
    parts["notes"].append(f"messages[{i}]: a redacted_thinking block cannot be read; it was skipped")


BLOCKS = {"thinking": _thinking, "redacted_thinking": _redacted}

STOP_WARNINGS = {
    "max_tokens": "the reply was cut at its token limit (stop_reason max_tokens)",
    "refusal": "the API stopped the reply as a refusal (stop_reason refusal)",
}


def matches(rec: dict) -> bool:
    """A content-block list with ``type: "message"`` or ``role: "assistant"`` beside it."""
    return isinstance(rec.get("content"), list) and (
        rec.get("type") == "message" or str(rec.get("role", "")).lower() == "assistant")


def read(rec: dict, common: dict[str, Any], bare_text: str) -> dict[str, Any]:
    """Transcript fields of one Anthropic ``Message`` dump (``rec`` without id, tier, model)."""
    from .messages import messages_fields

    content = rec.pop("content")
    rec.pop("type", None)
    rec.pop("role", None)
    stop = rec.get("stop_reason")
    warnings = [STOP_WARNINGS[stop]] if stop in STOP_WARNINGS else []
    out = messages_fields([{"role": "assistant", "content": content}], metadata=rec, bare_text=bare_text,
                          warnings=warnings, **common)
    out["source_format"] = NAME
    if stop == "max_tokens":
        out["truncated"] = True
    return out
