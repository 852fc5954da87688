"""What every reader shares: the error type, ids, tiers, the record's common fields.

Nothing here knows a layout. A reader (one module of :mod:`fakingclf.formats` per
layout) turns one decoded JSON record into the keyword arguments of
:class:`fakingclf.Transcript`; :func:`fakingclf.formats.read_record` picks the reader.
"""

from __future__ import annotations

import json
from typing import Any, Literal, Optional

Tier = Literal["free", "paid"]
Tag = Literal["accepted", "rejected"]
BareText = Literal["auto", "reasoning", "output"]
BARE_TEXT_MODES = ("auto", "reasoning", "output")

_TRUE = {"true", "yes", "1", "free", "t", "y"}
_FALSE = {"false", "no", "0", "paid", "f", "n"}

ASSISTANT_ROLES = {"assistant", "model", "ai"}
USER_ROLES = {"user", "human"}


class TranscriptError(ValueError):
    """A record that cannot become a transcript (wrong JSON shape, no usable text)."""


def id_string(value: Any) -> Optional[str]:
    """A record id as a string: strings unchanged, JSON scalars as JSON writes them
    (``true``, ``12``, ``1.5``); None for a missing id or an object/array."""
    if value is None or isinstance(value, (dict, list)):
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)


def parse_tier(value: Any) -> Optional[Tier]:
    """Map a tier given in any common form to ``"free"``, ``"paid"`` or ``None``.

    Parameters
    ----------
    value : bool, str or None
        ``True``/``"true"``/``"free"``/``"free_tier"`` → ``"free"``;
        ``False``/``"false"``/``"paid"`` → ``"paid"``; anything else → ``None`` (unknown).
    """
    if isinstance(value, bool):
        return "free" if value else "paid"
    if value is None:
        return None
    s = str(value).strip().lower().replace("-", "_")
    if s in _TRUE or s in {"free_tier", "training", "monitored"}:
        return "free"
    if s in _FALSE or s in {"paid_tier", "deployment", "unmonitored"}:
        return "paid"
    return None


def check_bare_text(mode: str) -> str:
    """``mode`` if it is one of ``auto``, ``reasoning``, ``output``.

    Raises
    ------
    ValueError
        For any other value.
    """
    if mode not in BARE_TEXT_MODES:
        raise ValueError(f"bare_text must be one of {', '.join(BARE_TEXT_MODES)}, got {mode!r}")
    return mode


def first_str(rec: dict, keys: tuple[str, ...]) -> Optional[str]:
    """Pop the first of ``keys`` present in ``rec`` with a non-null value and return it.

    Raises
    ------
    TranscriptError
        If that value is not a string.
    """
    for k in keys:
        if k in rec:
            v = rec.pop(k)
            if v is None:
                continue
            if not isinstance(v, str):
                raise TranscriptError(f"field '{k}' must be a string, got {type(v).__name__}")
            return v
    return None


def dedupe(warnings: list[str]) -> list[str]:
    """Keep each warning once, in first-seen order, with a count when repeated."""
    counts: dict[str, int] = {}
    for w in warnings:
        counts[w] = counts.get(w, 0) + 1
    return [w if c == 1 else f"{w} (x{c})" for w, c in counts.items()]


def block_texts(items: Any) -> list[str]:
    """The non-blank ``text`` strings of a list of ``{"text": ...}`` parts (others skipped)."""
    if not isinstance(items, list):
        return []
    return [x["text"] for x in items if isinstance(x, dict) and isinstance(x.get("text"), str) and x["text"].strip()]
