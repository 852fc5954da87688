"""Layout ``fields``: the request and the reply in separate fields.

``{"user_input"|"prompt"|"input"|"question": …, "output"|"response"|"completion"|"answer": …,
"scratchpad"|"reasoning"|"reasoning_content": …}``. The reply may hold scratchpad tags
(``<think>…</think>answer``); with none, it is the final output. The reasoning field is
read as the scratchpad. The user field gives the request, and the tier when it holds an
``<INPUT>`` block. ``--output-field`` and ``--reasoning-field`` map any record to this
layout (``output`` and ``reasoning``).
"""

from __future__ import annotations

import re
from typing import Any

from . import markup
from .base import TranscriptError, first_str

NAME = "fields"
USER_FIELDS = ("user_input", "prompt", "input", "question")
OUTPUT_FIELDS = ("output", "response", "completion", "answer")
REASONING_FIELDS = ("scratchpad", "reasoning", "reasoning_content")


def matches(rec: dict) -> bool:
    """Always: the last reader of the table, it explains what a record lacks."""
    return True


def read(rec: dict, common: dict[str, Any], bare_text: str) -> dict[str, Any]:
    """Transcript fields of a ``fields`` record (``rec`` without id, tier and model).

    Raises
    ------
    TranscriptError
        If there is neither a reply nor a reasoning field, a field is not a string, or
        all of them are empty.
    """
    keys = sorted(rec)
    user = first_str(rec, USER_FIELDS)
    out = first_str(rec, OUTPUT_FIELDS)
    reasoning = first_str(rec, REASONING_FIELDS)
    if out is None and reasoning is None:
        raise TranscriptError(
            "no usable text: expected one of 'text', 'messages', 'output'/'response' "
            f"(with optional 'user_input'/'prompt'); got keys {keys[:10]}"
        )
    user_info = markup.parse_user_turn(user) if user else {"tier": None, "user_input": None}
    common = dict(common)
    if common.get("tier") is None:
        common["tier"] = user_info["tier"]
    text = markup.compose([reasoning] if reasoning is not None else [], out if out is not None else "",
                          plain_is_output=True)
    if not text.strip() or not re.sub(r"<[^>]*>", "", text).strip():
        raise TranscriptError("no usable text: output/response fields are empty")
    fields = markup.transcript_fields(text, bare_text=bare_text, user_input=user_info["user_input"], metadata=rec,
                                      **common)
    fields["source_format"] = NAME
    return fields
