"""docs/benchmarks.md is written by five scripts: af_reasoning.py (accuracy, with the intro),
pipeline_speed.py (full pipeline on 2,500-character scratchpads), speed.py (throughput and
memory), encoder_speed.py (the float and int8 encoder backends) and finetune_head.py (the
experimental fine-tuned head). Each owns one section between
HTML comment markers and leaves the others as they are."""

from __future__ import annotations

import re
from pathlib import Path


def _markers(name: str) -> tuple[str, str]:
    return f"<!-- {name}:begin (written by benchmarks/{name}.py) -->", f"<!-- {name}:end -->"


def get_section(path: Path, name: str) -> str:
    """The marked section ``name`` of ``path`` with its markers, or "" if absent."""
    if not path.is_file():
        return ""
    begin, end = _markers(name)
    m = re.search(re.escape(begin) + r".*?" + re.escape(end), path.read_text(encoding="utf-8"), re.S)
    return m.group(0) if m else ""


def put_section(path: Path, name: str, body: str) -> None:
    """Replace section ``name`` of ``path`` by ``body`` (appended at the end if absent)."""
    begin, end = _markers(name)
    block = f"{begin}\n{body.rstrip()}\n{end}"
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    old = get_section(path, name)
    if old:
        text = text.replace(old, block)
    else:
        text = text.rstrip() + ("\n\n" if text.strip() else "") + block + "\n"
    path.write_text(text, encoding="utf-8")
