"""Layout ``text``: ``{"text": "…"}``, a transcript in the paper's tags, ``<think>`` text, or bare text.

The text is read by :func:`fakingclf.formats.markup.transcript_fields`: ``<INPUT>``,
``<SCRATCHPAD_REASONING>`` / ``<think>`` blocks (``<DRAFT_OUTPUT>`` inside), ``<OUTPUT>``,
in any case and spacing (``source_format`` ``tagged``; ``scratchpad`` for reasoning with
no output). Text with no tags at all is read as ``bare_text`` says: ``reasoning`` (one
scratchpad block, ``source_format`` ``scratchpad``), ``output`` (the final output), or
``auto``, by its wording, with a warning saying which.

A top-level ``reasoning_content``, ``reasoning`` or ``scratchpad`` string beside the text
is the reasoning, and the text is then the reply.
"""

from __future__ import annotations

from typing import Any

from . import markup
from .messages import SIDE_REASONING

NAME = "text"


def matches(rec: dict) -> bool:
    """The record has a ``text`` field."""
    return "text" in rec


def read(rec: dict, common: dict[str, Any], bare_text: str) -> dict[str, Any]:
    """Transcript fields of a ``text`` record (``rec`` without id, tier and model)."""
    side = next((k for k in SIDE_REASONING if isinstance(rec.get(k), str) and rec[k].strip()), None)
    reasoning = rec.pop(side) if side else None
    text = rec.pop("text")
    if reasoning is not None and isinstance(text, str):
        text = markup.compose([reasoning], text)
    return markup.transcript_fields(text, bare_text=bare_text, metadata=rec, **common)
