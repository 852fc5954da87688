"""Layout ``openai_responses``: an OpenAI Responses ``Response`` as ``response.model_dump()`` writes it.

``{"id": "resp_…", "object": "response", "status": …, "model": …, "output": [items],
"incomplete_details": …, "usage": {...}, "metadata": {...}}``, one per line. The output
items are read as one assistant turn of :mod:`fakingclf.formats.messages`: ``reasoning``
items are the reasoning (their ``summary`` parts joined by a blank line, else their
``reasoning_text`` content; encrypted ones are skipped with a warning), ``message``
items give the reply (``output_text`` parts; a ``refusal`` part is a refusal shown to
the user), tool-call items hold no text. ``status: "incomplete"`` marks the reply as cut.
A ``tier`` or ``is_free_tier_user`` in the response's ``metadata`` gives the tier, and an
``input`` logged beside the response (a string or a list of messages) the user turn.

This module also holds the block readers for Responses items inside chat messages
(``messages`` whose assistant turn is a list of Responses items).
"""

from __future__ import annotations

from typing import Any

from .base import block_texts, parse_tier

NAME = "openai_responses"
TOOL_ITEMS = frozenset({
    "function_call", "function_call_output", "custom_tool_call", "web_search_call", "file_search_call",
    "computer_call", "code_interpreter_call", "image_generation_call", "local_shell_call", "mcp_call",
    "mcp_list_tools", "mcp_approval_request",
})


def _reasoning(block: dict, i: int, parts: dict) -> None:
    inner = block.get("reasoning") or block.get("text") or ""
    if not isinstance(inner, str) or not inner.strip():
        # its summary, else its reasoning_text content (parts joined as OpenAI's and Inspect's clients do)
        inner = "\n\n".join(block_texts(block.get("summary")) or block_texts(block.get("content")))
    if inner.strip():
        parts["reasoning"].append(inner)
    elif block.get("encrypted_content") or block.get("redacted"):
        parts["notes"].append(f"messages[{i}]: a reasoning block is encrypted or redacted; it was skipped")


def _message(block: dict, i: int, parts: dict) -> None:
    from .messages import read_blocks

    if isinstance(block.get("content"), list):
        inner: dict[str, Any] = {"reasoning": [], "text": [], "notes": parts["notes"]}
        read_blocks(block["content"], i, inner)
        parts["reasoning"] += inner["reasoning"]
        text = "\n".join(inner["text"])
        if text.strip():
            parts["text"].append(text)
    elif isinstance(block.get("content"), str):
        parts["text"].append(block["content"])


BLOCKS = {"reasoning": _reasoning, "message": _message}

INCOMPLETE = "the reply was cut before it was complete (status incomplete{reason})"


def matches(rec: dict) -> bool:
    """An ``output`` list beside ``object: "response"``, or holding reasoning/message items."""
    out = rec.get("output")
    return isinstance(out, list) and (rec.get("object") == "response" or any(
        isinstance(x, dict) and x.get("type") in ("reasoning", "message") for x in out))


def read(rec: dict, common: dict[str, Any], bare_text: str) -> dict[str, Any]:
    """Transcript fields of one ``Response`` dump (``rec`` without id, tier, model)."""
    from .messages import messages_fields

    items = rec.pop("output")
    rec.pop("object", None)
    turns: list[Any] = []
    given = rec.pop("input", None)  # the request, when the caller logged it beside the response
    if isinstance(given, str):
        turns.append({"role": "user", "content": given})
    elif isinstance(given, list):
        turns.extend(given)
    turns.append({"role": "assistant", "content": items})
    meta = rec.get("metadata")
    if common.get("tier") is None and isinstance(meta, dict):
        for key in ("tier", "is_free_tier_user"):
            if parse_tier(meta.get(key)) is not None:
                common = dict(common, tier=parse_tier(meta[key]))
                break
    warnings = []
    if rec.get("status") == "incomplete":
        details = rec.get("incomplete_details")
        reason = details.get("reason") if isinstance(details, dict) else None
        warnings.append(INCOMPLETE.format(reason=f", {reason}" if reason else ""))
    out = messages_fields(turns, metadata=rec, bare_text=bare_text, warnings=warnings, **common)
    out["source_format"] = NAME
    if rec.get("status") == "incomplete":
        out["truncated"] = True
    return out
