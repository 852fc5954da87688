"""JSONL in and out (last stage): read records, label them in order, write predictions.

Nothing is lost: every input line (blank lines excepted) yields exactly one output
record, in input order. A line that is not valid JSON, is not an object, or holds
no usable text gets a record with ``label: null`` and ``error: {type, message}``
naming the line and the problem.
"""

from __future__ import annotations

import io
import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import IO, Iterable, Iterator, Optional

import orjson

from .transcript import Transcript, TranscriptError

__all__ = ["read_records", "label_lines", "dump_prediction", "Summary", "open_input"]


@dataclass
class Item:
    """One input line: its 1-based number and either a transcript or an error."""

    line_no: int
    transcript: Optional[Transcript] = None
    error_type: str = ""
    error: str = ""
    id: str = ""


def open_input(path: str) -> IO[str]:
    """Open ``path`` for reading text (``-`` = stdin); undecodable bytes are replaced, not fatal."""
    if path == "-":
        return io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8-sig", errors="replace")
    return open(path, encoding="utf-8-sig", errors="replace")


def read_records(lines: Iterable[str]) -> Iterator[Item]:
    """Parse JSONL lines into transcripts, one :class:`Item` per non-blank line.

    Never raises for bad content: the item carries the error instead
    (``invalid_json``, ``invalid_record``).
    """
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rec = orjson.loads(line)
        except orjson.JSONDecodeError as e:
            yield Item(n, error_type="invalid_json", error=f"line {n}: not valid JSON ({e})", id=str(n))
            continue
        rid = rec.get("id") if isinstance(rec, dict) else None
        rid = str(n) if rid is None or isinstance(rid, (dict, list)) else str(rid)
        try:
            yield Item(n, transcript=Transcript.from_record(rec, line_no=n), id=rid)
        except (TranscriptError, ValueError) as e:
            msg = str(e).splitlines()[0] if str(e) else type(e).__name__
            yield Item(n, error_type="invalid_record", error=f"line {n} (id {rid}): {msg}", id=rid)


def label_lines(clf, lines: Iterable[str], batch_size: int = 32) -> Iterator:
    """Label JSONL lines with ``clf`` (a fitted :class:`~fakingclf.FakingClassifier`).

    Yields
    ------
    Prediction
        One per non-blank input line, in order; unreadable lines get an error record.
        Transcripts are featurized in batches of ``batch_size``.
    """
    from .classifier import Prediction

    batch: list[Item] = []

    def flush():
        ok = [it for it in batch if it.transcript is not None]
        preds = iter(clf.predict([it.transcript for it in ok])) if ok else iter(())
        for it in batch:
            if it.transcript is not None:
                yield next(preds)
            else:
                yield Prediction.failed(it.id, it.error_type, it.error, model_version=clf.version)

    for item in read_records(lines):
        batch.append(item)
        if len(batch) >= batch_size:
            yield from flush()
            batch = []
    if batch:
        yield from flush()


def dump_prediction(pred) -> bytes:
    """One output JSON line (bytes, newline-terminated) for a Prediction."""
    return orjson.dumps(pred.model_dump(mode="json")) + b"\n"


@dataclass
class Summary:
    """Counts for the end-of-run table: per label, per tier, and errors."""

    n: int = 0
    errors: int = 0
    by_tier: dict = field(default_factory=dict)  # tier -> Counter(label)

    def add(self, pred) -> None:
        """Count one prediction."""
        self.n += 1
        tier = pred.tier or "unknown"
        label = pred.label or "error"
        if pred.error:
            self.errors += 1
        self.by_tier.setdefault(tier, Counter())[label] += 1

    def table(self, source: str = ""):
        """A ``rich.table.Table`` of labels (rows) by tier (columns); ``source`` names the input."""
        from rich.table import Table

        tiers = sorted(self.by_tier, key=lambda t: ("free", "paid", "unknown").index(t) if t in ("free", "paid", "unknown") else 9)
        where = f"{source}: " if source else ""
        t = Table(title=f"{where}{self.n} records labeled, {self.errors} errors")
        t.add_column("label")
        for tier in tiers:
            t.add_column(f"tier: {tier}", justify="right")
        t.add_column("total", justify="right")
        for label in ("refusal", "genuine_compliance", "faked_compliance", "error"):
            counts = [self.by_tier[tier].get(label, 0) for tier in tiers]
            if label == "error" and not sum(counts):
                continue
            t.add_row(label, *map(str, counts), str(sum(counts)))
        return t

