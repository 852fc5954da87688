"""The typed transcript model (first stage of the pipeline).

A :class:`Transcript` is what every later stage reads: the user input, the hidden
scratchpad blocks in order, any draft outputs, the final output and the decision tags
found in it, the tier (training context ``free`` or unmonitored ``paid``), the model
name and free metadata.

The readers of the input layouts live in :mod:`fakingclf.formats`, one module per
layout (tagged text, chat messages, Anthropic, OpenAI chat, OpenAI Responses, separate
fields), chosen in one table behind :func:`fakingclf.formats.read_record`; the final
answer is found in one place, :mod:`fakingclf.formats.markup`. The constructors below
are thin wrappers over them.

Parsing never raises on malformed *content*: broken or missing tags become
``warnings`` on the transcript. It raises :class:`TranscriptError` only when a
record holds no usable text at all or has the wrong JSON shape.
"""

from __future__ import annotations

from typing import Any, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .formats.base import BareText, Tag, Tier, TranscriptError, id_string, parse_tier
from .formats.markup import output_tag, tag_kind

__all__ = ["Transcript", "TranscriptError", "parse_tier", "id_string", "output_tag", "tag_kind"]


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
    output_tags : list of str
        Every decision marker in the final output, in order: tag names such as
        ``request_fully_accepted``, ``rejected``, ``request_rejected``, and JSON status
        fields as ``status:rejected`` (see :func:`fakingclf.formats.markup.decision_tags`).
        An accept tag followed by a reject tag is kept as it is, for the compliance stage.
    tag : {"accepted", "rejected"} or None
        The kind of the first decision marker in the final output (``<request_fully_accepted/>``
        / ``<rejected/>``, or a made-up one).
    tier : {"free", "paid"} or None
        ``free`` = training context (conversations used for RLHF); ``paid`` =
        unmonitored; ``None`` = unknown.
    model : str or None
        Name of the model that produced the transcript.
    truncated : bool
        The transcript was cut: the last scratchpad block was never closed, or the
        provider's dump says the reply hit its token limit.
    source_format : str
        How the record was read: ``tagged`` (a text with a final output: tagged,
        ``<think>`` text, or bare text read as the output), ``scratchpad`` (a text read
        as reasoning with no output), ``messages``, ``fields``, ``anthropic`` (a ``Message`` dump), ``openai_chat`` (a
        ``ChatCompletion`` dump), ``openai_responses`` (a ``Response`` dump).
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
    output_tags: list[str] = Field(default_factory=list)
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
        return any(s and not s.isspace() for s in self.scratchpads)

    # ---------------------------------------------------------------- parsers
    @classmethod
    def from_text(cls, text: str, id: str = "1", bare_text: BareText = "reasoning", **fields: Any) -> "Transcript":
        """Parse a transcript in the paper's tag format, ``<think>`` text, or bare text.

        Parameters
        ----------
        text : str
            Whole transcript (``<INPUT>…`` ``<SCRATCHPAD_REASONING>…`` ``<OUTPUT>…``),
            an assistant turn, or plain text with no tags.
        id : str
            Identifier to give the transcript.
        bare_text : {"reasoning", "output", "auto"}
            How to read plain text with no tags: as one scratchpad block with no output
            (the default here), as the final output, or by its wording (``auto``, the
            default of :meth:`from_record` and ``fakingclf label``), with a warning.
        **fields
            Other :class:`Transcript` fields (``tier``, ``model``, ``metadata``…);
            a tier given here wins over ``<is_free_tier_user>`` in the text.

        Raises
        ------
        TranscriptError
            If ``text`` is not a string or holds no non-blank text.
        ValueError
            If ``bare_text`` is not one of the three values.
        """
        from .formats.markup import transcript_fields

        return cls(**transcript_fields(text, bare_text=bare_text, id=id, **fields))

    @classmethod
    def from_messages(cls, messages: Any, id: str = "1", **fields: Any) -> "Transcript":
        """Parse a chat-message list (``[{"role": "user"|"assistant"|"system", "content": ...}]``).

        User turns give the user input and tier (their ``<INPUT>`` block if any);
        assistant turns, joined in order, give scratchpads and output. ``content``
        may be a string or a list of blocks (Anthropic ``thinking``/``text``, OpenAI
        ``text``/``output_text``/``refusal``, Responses ``reasoning``/``message`` items);
        an assistant message's ``reasoning_content``/``reasoning``/``thinking`` field is
        read as its scratchpad, and its ``refusal`` (with ``content: null``) as the
        output. The reply beside reasoning, or a plain last reply in a chat without
        scratchpad markup, is the final output. See :mod:`fakingclf.formats.messages`.

        Raises
        ------
        TranscriptError
            If ``messages`` is not a list of objects with a ``role``, or no
            assistant turn has text.
        """
        from .formats.messages import messages_fields

        return cls(**messages_fields(messages, id=id, **fields))

    @classmethod
    def from_record(cls, record: Any, line_no: int = 1, bare_text: BareText = "auto",
                    layout: Optional[str] = None) -> "Transcript":
        """Build a transcript from one JSONL record, in any layout :mod:`fakingclf.formats` reads.

        Accepted layouts: ``{"text": ...}``; ``{"messages": [...]}``;
        ``{"user_input"|"prompt": ..., "output"|"response": ...}`` (the response may
        hold scratchpad tags); an Anthropic ``Message``, OpenAI ``ChatCompletion`` or
        Responses ``Response`` as the SDK's ``model_dump()`` writes it. A
        ``scratchpad``/``reasoning``/``reasoning_content`` field is read as the
        scratchpad beside ``text``, ``messages`` or the output fields.
        Optional ``id``, ``tier`` or ``is_free_tier_user``, ``model``; all other
        fields go to ``metadata``.

        Parameters
        ----------
        record : dict
            The decoded JSON object.
        line_no : int
            1-based line number, used as the id when the record has none.
        bare_text : {"auto", "reasoning", "output"}
            How to read text with no tags at all (see :func:`fakingclf.formats.read_record`).
        layout : str, optional
            Read the record as this layout instead of the first that matches.

        Raises
        ------
        TranscriptError
            If the record is not an object, or none of the layouts above yields text.
        """
        from .formats import record_fields

        return cls(**record_fields(record, line_no, bare_text=bare_text, layout=layout))
