"""Readers: one module per input layout, chosen in one table, behind :func:`read_record`.

Each reader module has a ``NAME``, ``matches(record) -> bool`` and ``read(record,
common, bare_text) -> dict`` (the keyword arguments of :class:`~fakingclf.Transcript`).
:data:`READERS` lists them in the order they are tried; the first whose ``matches``
holds reads the record. The provider SDK dumps come first, since their objects carry
fields named like the simple layouts' (a ``Response`` has ``text`` and ``reasoning``
objects). Every reader ends in :func:`fakingclf.formats.markup.transcript_fields`, the one
place that finds the final answer.

To add a layout: write ``formats/<layout>.py`` with those three names, add it to
:data:`READERS`, and test it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Optional

from . import anthropic, fields, messages, openai_chat, openai_responses, tagged
from .base import TranscriptError, check_bare_text, id_string, parse_tier

if TYPE_CHECKING:
    from ..transcript import Transcript

__all__ = ["Reader", "READERS", "read_record", "record_fields", "layout_names"]


@dataclass(frozen=True)
class Reader:
    """One input layout: its name, the test that picks it, and the function that reads it."""

    name: str
    matches: Callable[[dict], bool]
    read: Callable[[dict, dict, str], dict]


def _reader(module) -> Reader:
    return Reader(module.NAME, module.matches, module.read)


READERS: tuple[Reader, ...] = tuple(_reader(m) for m in (
    anthropic,          # {"type": "message", "role": "assistant", "content": [blocks], "stop_reason", ...}
    openai_chat,        # {"object": "chat.completion", "choices": [{"message": ...}], ...}
    openai_responses,   # {"object": "response", "output": [items], ...}
    messages,           # {"messages": [{"role", "content"}, ...]} (before text: it wins when both are given)
    tagged,             # {"text": "<INPUT>…<SCRATCHPAD_REASONING>…<OUTPUT>…"}, <think> text, bare text
    fields,             # {"prompt": …, "response": …, "reasoning": …}; last: it says what is missing
))


def layout_names() -> list[str]:
    """The layout names of :data:`READERS`, in the order they are tried."""
    return [r.name for r in READERS]


def record_fields(record: Any, line_no: int = 1, bare_text: str = "auto",
                  layout: Optional[str] = None) -> dict[str, Any]:
    """The keyword arguments of :class:`~fakingclf.Transcript` for one JSONL record.

    Pops the fields every layout shares — ``id`` (else ``line_no``), ``tier`` or
    ``is_free_tier_user``, ``model`` — and hands the rest to the reader (see
    :func:`read_record`). Fields the reader does not use go to ``metadata``; the
    record itself is not changed.

    Raises
    ------
    TranscriptError
        If the record is not an object, or its reader finds no usable text.
    ValueError
        If ``bare_text`` or ``layout`` is not a known value.
    """
    check_bare_text(bare_text)
    if not isinstance(record, dict):
        raise TranscriptError(f"record must be a JSON object, got {type(record).__name__}")
    if layout is not None:
        chosen = next((r for r in READERS if r.name == layout), None)
        if chosen is None:
            raise ValueError(f"unknown layout {layout!r}: one of {', '.join(layout_names())}")
        if not chosen.matches(record):
            raise TranscriptError(f"no usable text: read as the {layout} layout, but the record has none of its "
                                  f"fields (a custom field path found nothing?); got keys {sorted(record)[:10]}")
    else:
        chosen = next(r for r in READERS if r.matches(record))
    rec = dict(record)
    rid = id_string(rec.pop("id", None)) or str(line_no)
    tier_raw = rec.pop("tier", None)
    free_raw = rec.pop("is_free_tier_user", None)
    given = tier_raw if tier_raw is not None else free_raw
    tier = parse_tier(given) if given is not None else None
    model = rec.pop("model", None)
    model = None if model is None else str(model)
    out = chosen.read(rec, {"id": rid, "tier": tier, "model": model}, bare_text)
    if given is not None and tier is None:
        field = "tier" if tier_raw is not None else "is_free_tier_user"
        where = "tier unknown" if out.get("tier") is None else "tier read from the transcript text instead"
        out["warnings"] = list(out.get("warnings", [])) + [f"unrecognised {field} value {given!r}; {where}"]
    return out


def read_record(record: Any, line_no: int = 1, bare_text: str = "auto", layout: Optional[str] = None) -> "Transcript":
    """Read one decoded JSONL record into a :class:`~fakingclf.Transcript`.

    Parameters
    ----------
    record : dict
        The decoded JSON object, in any layout of :data:`READERS`.
    line_no : int
        1-based line number, the id when the record has none.
    bare_text : {"auto", "reasoning", "output"}
        How to read a text with no scratchpad and no output tags (a ``text`` field, a
        legacy completion's text): by its wording (``auto``, with a warning saying
        which), always as reasoning, or always as the final output.
    layout : str, optional
        Read the record as this layout (a name of :data:`READERS`) instead of the
        first that matches.

    Raises
    ------
    TranscriptError
        If the record is not an object, or none of the layouts yields text.
    ValueError
        If ``bare_text`` or ``layout`` is not a known value.
    """
    from ..transcript import Transcript

    return Transcript(**record_fields(record, line_no, bare_text=bare_text, layout=layout))

