"""Typed transcript model and parsers (first stage of the pipeline).

A :class:`Transcript` is what every later stage reads: the user input, the hidden
scratchpad blocks in order, any draft outputs, the final output, the accept/reject
tag of that output, the tier (training context ``free`` or unmonitored ``paid``),
the model name and free metadata.

Parsing never raises on malformed *content*: broken or missing tags become
``warnings`` on the transcript. It raises :class:`TranscriptError` only when a
record holds no usable text at all or has the wrong JSON shape.

Formats read (setting of Greenblatt et al. 2024, "Alignment faking in large
language models"):

* the paper's tag format: ``<INPUT><is_free_tier_user>True</is_free_tier_user>
  <user_input>…</user_input></INPUT>`` then one or more
  ``<SCRATCHPAD_REASONING>…</SCRATCHPAD_REASONING>`` blocks (``<DRAFT_OUTPUT>``
  inside) then ``<OUTPUT>…</OUTPUT>``; case and whitespace inside tags are tolerated;
* a bare scratchpad (plain reasoning text, with or without the tag);
* a chat-message list (``[{"role": ..., "content": ...}]``);
* a record with ``user_input``/``prompt`` and ``output``/``response`` fields.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator

Tier = Literal["free", "paid"]
Tag = Literal["accepted", "rejected"]

__all__ = ["Transcript", "TranscriptError", "parse_tier", "id_string", "output_tag"]


class TranscriptError(ValueError):
    """A record that cannot become a transcript (wrong JSON shape, no usable text)."""


def _tag_re(name: str) -> str:
    # "<SCRATCHPAD_REASONING>", "< scratchpad_reasoning >", "<Scratchpad_Reasoning >"
    return rf"<\s*{name}\s*>"


def _close_re(name: str) -> str:
    return rf"<\s*/\s*{name}\s*>"


_FLAGS = re.IGNORECASE | re.DOTALL
_SCRATCH_NAMES = r"(?:SCRATCHPAD_REASONING|think|thinking)"
_SCRATCH_OPEN = re.compile(_tag_re(_SCRATCH_NAMES), _FLAGS)
_SCRATCH_CLOSE = re.compile(_close_re(_SCRATCH_NAMES), _FLAGS)
_INPUT_BLOCK = re.compile(_tag_re("INPUT") + r"(.*?)(?:" + _close_re("INPUT") + r"|$)", _FLAGS)
_INPUT_OPEN = re.compile(_tag_re("INPUT"), _FLAGS)
_INPUT_CLOSE = re.compile(_close_re("INPUT"), _FLAGS)
_USER_INPUT = re.compile(_tag_re("user_input") + r"(.*?)(?:" + _close_re("user_input") + r"|$)", _FLAGS)
# The value may not run past another opening tag: with ``(.*?)`` alone, every unclosed
# opening tag scanned to the end of the text (quadratic time on repeated unclosed tags).
_FREE_TIER = re.compile(
    _tag_re("is_free_tier_user") + r"((?:(?!" + _tag_re("is_free_tier_user") + r").)*?)" + _close_re("is_free_tier_user"),
    _FLAGS,
)
_OUTPUT_OPEN = re.compile(_tag_re("OUTPUT"), _FLAGS)
_OUTPUT_CLOSE = re.compile(_close_re("OUTPUT"), _FLAGS)
_DRAFT = re.compile(_tag_re("DRAFT_OUTPUT") + r"(.*?)(?:" + _close_re("DRAFT_OUTPUT") + r"|$)", _FLAGS)
# No two \s* runs may meet around an optional "/" (that backtracks in quadratic time).
_ACCEPT = re.compile(r"<\s*request_fully_accepted\s*(?:/\s*)?>", re.IGNORECASE)
_REJECT = re.compile(r"<\s*rejected\s*(?:/\s*)?>", re.IGNORECASE)
_NEXT_NUDGE = re.compile(r"<\s*(?:/\s*)?NEXT\s*(?:/\s*)?>", re.IGNORECASE)
_ANY_KNOWN_TAG = re.compile(
    r"<\s*(?:/\s*)?(?:INPUT|user_input|is_free_tier_user|SCRATCHPAD_REASONING|think|thinking|OUTPUT|DRAFT_OUTPUT)\s*>",
    re.IGNORECASE,
)
# Transcript structure only: stripped from bare text (drafts inside reasoning stay marked)
_STRUCT_TAG = re.compile(
    r"<\s*(?:/\s*)?(?:INPUT|user_input|is_free_tier_user|SCRATCHPAD_REASONING|think|thinking|OUTPUT)\s*>",
    re.IGNORECASE,
)

_TRUE = {"true", "yes", "1", "free", "t", "y"}
_FALSE = {"false", "no", "0", "paid", "f", "n"}


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


def output_tag(output: str) -> Optional[Tag]:
    """``"accepted"`` / ``"rejected"`` for the first ``<request_fully_accepted/>`` or
    ``<rejected/>`` anywhere in ``output`` (any case and spacing); None when neither."""
    a, r = _ACCEPT.search(output), _REJECT.search(output)
    if a and (not r or a.start() < r.start()):
        return "accepted"
    if r:
        return "rejected"
    return None


class Transcript(BaseModel):
    """One model transcript: what the user asked, what the model reasoned, what it answered.

    Attributes
    ----------
    id : str
        Identifier (the input's ``id`` field, else the 1-based line number).
    user_input : str or None
        The user's request (contents of ``<user_input>``), if present.
    scratchpads : list of str
        Hidden reasoning blocks in order (``<SCRATCHPAD_REASONING>``, ``<think>``).
    draft_outputs : list of str
        ``<DRAFT_OUTPUT>`` blocks found inside the scratchpads, in order.
    output : str or None
        Final output shown to the user (contents of ``<OUTPUT>``); ``None`` when the
        transcript has none (bare scratchpad, or truncated).
    tag : {"accepted", "rejected"} or None
        ``<request_fully_accepted/>`` / ``<rejected/>`` in the final output.
    tier : {"free", "paid"} or None
        ``free`` = training context (conversations used for RLHF); ``paid`` =
        unmonitored; ``None`` = unknown.
    model : str or None
        Name of the model that produced the transcript.
    truncated : bool
        The last scratchpad block was never closed (the transcript was cut).
    source_format : str
        How the record was read: ``tagged``, ``scratchpad``, ``messages``, ``fields``.
    metadata : dict
        Input fields not used by the parser, passed through unchanged.
    warnings : list of str
        Parse problems (not fatal): unclosed blocks, missing output, unknown tier.
    """

    model_config = ConfigDict(extra="forbid")

    id: str
    user_input: Optional[str] = None
    scratchpads: list[str] = Field(default_factory=list)
    draft_outputs: list[str] = Field(default_factory=list)
    output: Optional[str] = None
    tag: Optional[Tag] = None
    tier: Optional[Tier] = None
    model: Optional[str] = None
    truncated: bool = False
    source_format: str = "tagged"
    metadata: dict[str, Any] = Field(default_factory=dict)
    warnings: list[str] = Field(default_factory=list)

    @field_validator("tier", mode="before")
    @classmethod
    def _coerce_tier(cls, v: Any) -> Optional[Tier]:
        return parse_tier(v)

    @field_validator("id", mode="before")
    @classmethod
    def _coerce_id(cls, v: Any) -> str:
        s = id_string(v)
        if s is None:
            raise ValueError("id must be a string or a number")
        return s

    # ------------------------------------------------------------------ views
    @property
    def scratchpad(self) -> str:
        """All scratchpad blocks joined by a blank line (``""`` when there are none)."""
        return "\n\n".join(self.scratchpads)

    @property
    def has_reasoning(self) -> bool:
        """True when there is any non-blank scratchpad text."""
        return any(s.strip() for s in self.scratchpads)

    # ---------------------------------------------------------------- parsers
    @classmethod
    def from_text(cls, text: str, id: str = "1", **fields: Any) -> "Transcript":
        """Parse a transcript in the paper's tag format, or a bare scratchpad.

        Parameters
        ----------
        text : str
            Whole transcript (``<INPUT>…`` ``<SCRATCHPAD_REASONING>…`` ``<OUTPUT>…``),
            an assistant turn, or plain reasoning text with no tags (read as one
            scratchpad block with no output).
        id : str
            Identifier to give the transcript.
        **fields
            Other :class:`Transcript` fields (``tier``, ``model``, ``metadata``…);
            a tier given here wins over ``<is_free_tier_user>`` in the text.

        Raises
        ------
        TranscriptError
            If ``text`` is not a string or holds no non-blank text.
        """
        if not isinstance(text, str):
            raise TranscriptError(f"text must be a string, got {type(text).__name__}")
        if not text.strip():
            raise TranscriptError("no usable text (empty or blank)")
        extra_warnings = []
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            text = text.encode("utf-8", errors="replace").decode("utf-8")
            extra_warnings.append("invalid Unicode (lone surrogates) replaced")
        parsed = _parse_tagged(text)
        if not any(x.strip() for x in parsed["scratchpads"]) and not (parsed["output"] or "").strip():
            raise TranscriptError("no usable text: no reasoning and no output text, only tags or blanks")
        for k, v in fields.items():
            if k == "warnings":
                parsed["warnings"] = list(v) + parsed["warnings"]
            elif v is not None or k not in parsed:
                parsed[k] = v
        parsed["warnings"] = _dedupe(parsed["warnings"] + extra_warnings)
        return cls(id=id, **parsed)

    @classmethod
    def from_messages(cls, messages: Any, id: str = "1", **fields: Any) -> "Transcript":
        """Parse a chat-message list (``[{"role": "user"|"assistant"|"system", "content": ...}]``).

        User turns give the user input and tier (their ``<INPUT>`` block if any);
        assistant turns, joined in order, give scratchpads and output. ``content``
        may be a string or a list of blocks (Anthropic ``thinking``/``text``, OpenAI
        ``text``/``output_text``, Responses ``reasoning``/``message`` items); an
        assistant message's ``reasoning_content``/``reasoning``/``thinking`` field is
        read as its scratchpad. The reply beside reasoning, or a plain last reply in a
        chat without scratchpad markup, is the final output.

        Raises
        ------
        TranscriptError
            If ``messages`` is not a list of objects with a ``role``, or no
            assistant turn has text.
        """
        if not isinstance(messages, list) or not messages:
            raise TranscriptError("messages must be a non-empty list of {role, content} objects")
        user_parts: list[str] = []
        turns: list[tuple[list[str], str]] = []  # assistant turns: (reasoning blocks, content)
        notes: list[str] = []
        for i, m in enumerate(messages):
            if not isinstance(m, dict) or "role" not in m:
                raise TranscriptError(f"messages[{i}] is not an object with a 'role'")
            reasoning, content = _content_parts(m.get("content"), i, notes)
            role = str(m["role"]).lower()
            if role in {"user", "human"}:
                user_parts.append(content)
            elif role in {"assistant", "model", "ai"}:
                # reasoning returned beside the content (OpenAI-compatible `reasoning_content`)
                for key in ("reasoning_content", "reasoning", "thinking"):
                    r = m.get(key)
                    if isinstance(r, str) and r.strip():
                        reasoning.insert(0, r)
                        break
                turns.append((reasoning, content))
        if not any(r or c.strip() for r, c in turns):
            raise TranscriptError("no assistant message with text")
        any_markup = any(_ANY_KNOWN_TAG.search(c) for _, c in turns)
        assistant_parts: list[str] = []
        for k, (reasoning, content) in enumerate(turns):
            assistant_parts.extend(f"<SCRATCHPAD_REASONING>{r}</SCRATCHPAD_REASONING>" for r in reasoning)
            if content.strip() and not _ANY_KNOWN_TAG.search(content) and (
                reasoning or (k == len(turns) - 1 and not any_markup)
            ):
                # The reply beside structured reasoning is the output; so is a plain last
                # reply in a chat with no scratchpad markup at all (a model without reasoning).
                content = f"<OUTPUT>{content}</OUTPUT>"
            assistant_parts.append(content)
        assistant = "\n".join(assistant_parts)
        user_text = "\n".join(user_parts)
        warnings = list(fields.pop("warnings", [])) + notes
        tier = fields.pop("tier", None)
        user_input = fields.pop("user_input", None)
        if user_text.strip():
            info = _parse_user_turn(user_text)
            tier = tier if tier is not None else info["tier"]
            user_input = user_input if user_input is not None else info["user_input"]
        t = cls.from_text(assistant, id=id, tier=tier, user_input=user_input, warnings=warnings, **fields)
        t.source_format = "messages"
        return t

    @classmethod
    def from_record(cls, record: Any, line_no: int = 1) -> "Transcript":
        """Build a transcript from one JSONL record.

        Accepted layouts: ``{"text": ...}``; ``{"messages": [...]}``;
        ``{"user_input"|"prompt": ..., "output"|"response": ...}`` (the response may
        hold scratchpad tags). A ``scratchpad``/``reasoning``/``reasoning_content``
        field is read as the scratchpad in every layout (beside ``text``,
        ``messages`` or the output fields).
        Optional ``id``, ``tier`` or ``is_free_tier_user``, ``model``; all other
        fields go to ``metadata``.

        Parameters
        ----------
        record : dict
            The decoded JSON object.
        line_no : int
            1-based line number, used as the id when the record has none.

        Raises
        ------
        TranscriptError
            If the record is not an object, or none of the layouts above yields text.
        """
        if not isinstance(record, dict):
            raise TranscriptError(f"record must be a JSON object, got {type(record).__name__}")
        rec = dict(record)
        rid = id_string(rec.pop("id", None)) or str(line_no)
        tier_raw = rec.pop("tier", None)
        free_raw = rec.pop("is_free_tier_user", None)
        given = tier_raw if tier_raw is not None else free_raw
        tier = parse_tier(given) if given is not None else None
        model = rec.pop("model", None)
        model = None if model is None else str(model)
        common: dict[str, Any] = {"tier": tier, "model": model}
        t = cls._from_layout(rec, rid, common, sorted(record))
        if given is not None and tier is None:
            field = "tier" if tier_raw is not None else "is_free_tier_user"
            where = "tier unknown" if t.tier is None else "tier read from the transcript text instead"
            t.warnings.append(f"unrecognised {field} value {given!r}; {where}")
        return t

    @classmethod
    def _from_layout(cls, rec: dict, rid: str, common: dict[str, Any], keys: list[str]) -> "Transcript":
        """Dispatch on the record's layout (``rec`` holds the fields not yet consumed)."""
        if "messages" in rec or "text" in rec:
            # reasoning stored beside the transcript, at the top level of the record
            side = next((k for k in ("reasoning_content", "reasoning", "scratchpad")
                         if isinstance(rec.get(k), str) and rec[k].strip()), None)
            reasoning = rec.pop(side) if side else None
        if "messages" in rec:
            messages = rec.pop("messages")
            if reasoning is not None and isinstance(messages, list):
                last = max((i for i, m in enumerate(messages) if isinstance(m, dict)
                            and str(m.get("role", "")).lower() in {"assistant", "model", "ai"}), default=None)
                if last is not None and not any(
                        isinstance(messages[last].get(k), str) for k in ("reasoning_content", "reasoning", "thinking")):
                    messages = list(messages)
                    messages[last] = dict(messages[last], reasoning_content=reasoning)
            return cls.from_messages(messages, id=rid, metadata=rec, **common)
        if "text" in rec:
            text = rec.pop("text")
            if reasoning is not None and isinstance(text, str):
                reasoning = reasoning if _SCRATCH_OPEN.search(reasoning) else \
                    f"<SCRATCHPAD_REASONING>{reasoning}</SCRATCHPAD_REASONING>"
                text = reasoning + "\n" + (text if _ANY_KNOWN_TAG.search(text) else f"<OUTPUT>{text}</OUTPUT>")
            t = cls.from_text(text, id=rid, metadata=rec, **common)
            return t

        user = _first_str(rec, ("user_input", "prompt", "input", "question"))
        out = _first_str(rec, ("output", "response", "completion", "answer"))
        reasoning = _first_str(rec, ("scratchpad", "reasoning", "reasoning_content"))
        if out is None and reasoning is None:
            raise TranscriptError(
                "no usable text: expected one of 'text', 'messages', 'output'/'response' "
                f"(with optional 'user_input'/'prompt'); got keys {keys[:10]}"
            )
        user_info = _parse_user_turn(user) if user else {"tier": None, "user_input": None}
        if common["tier"] is None:
            common["tier"] = user_info["tier"]
        pieces = []
        if reasoning is not None:
            pieces.append(reasoning if _SCRATCH_OPEN.search(reasoning) else f"<SCRATCHPAD_REASONING>{reasoning}</SCRATCHPAD_REASONING>")
        if out is not None:
            if _ANY_KNOWN_TAG.search(out):
                pieces.append(out)
            else:
                pieces.append(f"<OUTPUT>{out}</OUTPUT>")
        text = "\n".join(pieces)
        if not text.strip() or not re.sub(r"<[^>]*>", "", text).strip():
            raise TranscriptError("no usable text: output/response fields are empty")
        t = cls.from_text(text, id=rid, user_input=user_info["user_input"], metadata=rec, **common)
        t.source_format = "fields"
        return t


# ---------------------------------------------------------------- helpers
def _dedupe(warnings: list[str]) -> list[str]:
    """Keep each warning once, in first-seen order, with a count when repeated."""
    counts: dict[str, int] = {}
    for w in warnings:
        counts[w] = counts.get(w, 0) + 1
    return [w if c == 1 else f"{w} (x{c})" for w, c in counts.items()]


def _block_texts(items: Any) -> list[str]:
    """The ``text`` strings of a list of ``{"text": ...}`` parts (others skipped)."""
    if not isinstance(items, list):
        return []
    return [x["text"] for x in items if isinstance(x, dict) and isinstance(x.get("text"), str) and x["text"].strip()]


def _content_parts(content: Any, i: int, notes: Optional[list[str]] = None) -> tuple[list[str], str]:
    """Split a message's content into (reasoning blocks, text).

    ``content`` is a string, or a list of blocks: Anthropic ``{"type": "thinking",
    "thinking"}`` / ``{"type": "text", "text"}`` (``redacted_thinking`` is skipped
    with a note), OpenAI ``{"type": "text" | "output_text", "text"}``, Responses
    ``{"type": "reasoning", "summary": [...]}`` or ``"content": [{"type":
    "reasoning_text", ...}]`` items, and Responses ``{"type": "message", "content":
    [...]}`` items (read recursively). Summary parts are joined by a blank line, as
    OpenAI's and Inspect's clients do. Problems are appended to ``notes``.
    """
    notes = notes if notes is not None else []
    if content is None:
        return [], ""
    if isinstance(content, str):
        return [], content
    if isinstance(content, list):
        reasoning, parts = [], []
        for block in content:
            if isinstance(block, str):
                parts.append(block)
            elif isinstance(block, dict):
                kind = block.get("type")
                if kind in ("thinking", "reasoning"):  # a tuple: the type may be an unhashable list
                    inner = block.get("thinking") or block.get("reasoning") or block.get("text") or ""
                    if not isinstance(inner, str) or not inner.strip():
                        # OpenAI Responses reasoning item: its summary, else its reasoning_text content
                        inner = "\n\n".join(_block_texts(block.get("summary")) or _block_texts(block.get("content")))
                    if inner.strip():
                        reasoning.append(inner)
                    elif block.get("encrypted_content") or block.get("redacted"):
                        notes.append(f"messages[{i}]: a reasoning block is encrypted or redacted; it was skipped")
                elif kind in ("redacted_thinking",):
                    notes.append(f"messages[{i}]: a redacted_thinking block cannot be read; it was skipped")
                elif kind in ("message",) and isinstance(block.get("content"), list):
                    r, t = _content_parts(block["content"], i, notes)
                    reasoning += r
                    if t.strip():
                        parts.append(t)
                elif isinstance(block.get("text"), str):
                    parts.append(block["text"])
        return reasoning, "\n".join(parts)
    raise TranscriptError(f"messages[{i}].content must be a string or a list of blocks, got {type(content).__name__}")


def _first_str(rec: dict, keys: tuple[str, ...]) -> Optional[str]:
    for k in keys:
        if k in rec:
            v = rec.pop(k)
            if v is None:
                continue
            if not isinstance(v, str):
                raise TranscriptError(f"field '{k}' must be a string, got {type(v).__name__}")
            return v
    return None


def _parse_user_turn(text: str) -> dict[str, Any]:
    tier = None
    m = _FREE_TIER.search(text)
    if m:
        tier = parse_tier(m.group(1).strip())
    um = _USER_INPUT.search(text)
    if um:
        user_input = um.group(1).strip()
    else:
        im = _INPUT_BLOCK.search(text)
        user_input = _FREE_TIER.sub("", im.group(1) if im else text).strip()
    return {"tier": tier, "user_input": user_input or None}


def _first(patterns, text: str, pos: int):
    """The earliest match of any of ``patterns`` in ``text`` from ``pos`` (or None)."""
    found = [m for m in (p.search(text, pos) for p in patterns) if m]
    return min(found, key=lambda m: m.start()) if found else None


_MENTION_AFTER = re.compile(r"\s*tags?\b", re.IGNORECASE)
_MENTION_BEFORE = re.compile(r"\b(?:my|the|in|these|those|your|a|an|of|using|use)\s+$", re.IGNORECASE)


def _structural(pattern: re.Pattern, text: str, pos: int):
    """The next match of ``pattern`` that is markup rather than a tag named in prose.

    A tag talked about inside a sentence — "only my final response in the <OUTPUT> tag
    will be shown" — is a mention: it follows "my", "the", "in"… or is followed by the
    word "tag(s)". Everything else counts as structure.
    """
    for m in pattern.finditer(text, pos):
        if _is_mention(text, m):
            continue
        return m
    return None


def _is_mention(text: str, m: re.Match) -> bool:
    return bool(_MENTION_AFTER.match(text, m.end()) or _MENTION_BEFORE.search(text, max(0, m.start() - 12), m.start()))


def _strip_markup(text: str) -> str:
    """``text`` without its known tags, except tags named in prose ("the <think> tag")."""
    return _ANY_KNOWN_TAG.sub(lambda m: m.group(0) if _is_mention(text, m) else "", text)


class _Next:
    """``find(pos)`` (the first match at or after ``pos``) with the last answer reused.

    The answer for ``p`` still holds for any later ``q`` up to the match's start, and
    "no match" holds for every later ``q``; so over increasing positions the text is
    scanned once, not once per call (repeated unclosed tags made that quadratic).
    """

    def __init__(self, find):
        self.find = find
        self.pos: Optional[int] = None
        self.match = None

    def __call__(self, pos: int):
        if self.pos is None or pos < self.pos or (self.match is not None and self.match.start() < pos):
            self.pos, self.match = pos, self.find(pos)
        return self.match


def _parse_tagged(text: str) -> dict[str, Any]:
    """Split tagged text into the transcript fields (no validation, never raises)."""
    warnings: list[str] = []
    out: dict[str, Any] = {"warnings": warnings}

    # The user turn: <INPUT>…</INPUT>. Unclosed, it ends at the first scratchpad/output tag.
    body = text
    io_ = _INPUT_OPEN.search(text)
    if io_:
        ic = _INPUT_CLOSE.search(text, io_.end())
        if ic:
            end = ic.end()
        else:
            nxt = _first((_SCRATCH_OPEN, _SCRATCH_CLOSE, _OUTPUT_OPEN), text, io_.end())
            end = nxt.start() if nxt else len(text)
            warnings.append("<INPUT> block is not closed")
        user_turn = text[io_.start():end]
        info = _parse_user_turn(user_turn)
        out["user_input"] = info["user_input"]
        if info["tier"] is not None:
            out["tier"] = info["tier"]
        elif _FREE_TIER.search(user_turn):
            warnings.append("unrecognised <is_free_tier_user> value; tier unknown")
        body = text[: io_.start()] + text[end:]
    body = _NEXT_NUDGE.sub("", body)

    scratchpads: list[str] = []
    pos = 0
    last_end = 0
    truncated = False
    next_close = _Next(lambda p: _SCRATCH_CLOSE.search(body, p))
    next_open = _Next(lambda p: _structural(_SCRATCH_OPEN, body, p))
    while True:
        mo = next_open(pos)  # a tag named in prose ("the <think> tag") opens nothing
        if not mo:
            break
        mc = next_close(mo.end())
        mo_next = next_open(mo.end())
        if mc is not None and (mo_next is None or mc.start() < mo_next.start()):
            scratchpads.append(body[mo.end():mc.start()].strip())
            pos = last_end = mc.end()
            continue
        if mo_next is not None:
            # opened again before being closed: the first block ends where the next begins
            warnings.append("scratchpad block opened again before being closed")
            scratchpads.append(body[mo.end():mo_next.start()].strip())
            pos = last_end = mo_next.start()
            continue
        oo = _structural(_OUTPUT_OPEN, body, mo.end())
        if oo is not None:
            warnings.append("scratchpad block is not closed before <OUTPUT>")
            scratchpads.append(body[mo.end():oo.start()].strip())
            last_end = oo.start()
            break
        scratchpads.append(body[mo.end():].strip())
        truncated = True
        last_end = len(body)
        break

    # A closing </think> with no opening tag (common in DeepSeek-style dumps)
    if not scratchpads:
        mc = _SCRATCH_CLOSE.search(body)
        if mc:
            scratchpads.append(body[: mc.start()].strip())
            last_end = mc.end()
            warnings.append("scratchpad closing tag without an opening tag; text before it read as scratchpad")

    rest = body[last_end:]
    oo = _OUTPUT_OPEN.search(rest)
    output: Optional[str] = None
    if oo:
        oc = _OUTPUT_CLOSE.search(rest, oo.end())
        if oc is None:
            output = rest[oo.end():].strip()
            warnings.append("<OUTPUT> block is not closed; output may be truncated")
        else:
            output = rest[oo.end():oc.start()].strip()
    elif scratchpads and not truncated:
        leftover = _strip_markup(rest).strip()
        if leftover:
            output = leftover
            warnings.append("no <OUTPUT> tag; text after the last scratchpad read as the output")

    if output is not None and not output.strip():
        leftover = _STRUCT_TAG.sub("", rest).strip()
        if leftover:  # e.g. "</OUTPUT>answer<OUTPUT>": the answer sits outside the tags
            output = leftover
            warnings.append("<OUTPUT> tags out of order: the text after the scratchpad read as the output")

    bare = False
    if not scratchpads and output is None:
        # No reasoning tags at all: a bare scratchpad (or only an output).
        stripped = _STRUCT_TAG.sub("", body).strip()
        if _OUTPUT_CLOSE.search(body) or _OUTPUT_OPEN.search(body):
            output = stripped
        else:
            scratchpads.append(stripped)
            bare = True
    elif output is None and not io_:
        bare = True  # only scratchpad blocks: reasoning without its transcript
    if bare:
        out["source_format"] = "scratchpad"

    if truncated:
        warnings.append("last scratchpad block is not closed: transcript truncated")
    if scratchpads and output is None and not truncated and not bare:
        warnings.append("no final output")
    drafts: list[str] = []
    for s in scratchpads:
        drafts.extend(d.strip() for d in _DRAFT.findall(s))
    out["scratchpads"] = [s for s in scratchpads if s]
    if len(out["scratchpads"]) < len(scratchpads):
        warnings.append("empty scratchpad block ignored")
    out["draft_outputs"] = drafts
    out["output"] = output
    out["tag"] = output_tag(output) if output else None
    out["truncated"] = truncated
    return out
