"""JSONL in and out (last stage): read records, label them in order, write predictions.

Nothing is lost: every non-blank input line yields exactly one output record, in
input order (blank lines are skipped but counted, so ids from line numbers match
the file). A line that is not valid JSON, is not an object, or holds
no usable text gets a record with ``label: null`` and ``error: {type, message}``
naming the line and the problem.
"""

from __future__ import annotations

import io
import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import IO, Any, Iterable, Iterator, Optional, Union

import orjson

from .transcript import Transcript, TranscriptError, id_string

__all__ = ["read_records", "label_lines", "label_batch", "prepare_resume", "dump_prediction", "Summary", "open_input", "get_path", "remap"]


@dataclass
class Item:
    """One input line: its 1-based number and either a transcript or an error."""

    line_no: int
    transcript: Optional[Transcript] = None
    error_type: str = ""
    error: str = ""
    id: str = ""


def open_input(path: str) -> IO[bytes]:
    """Open ``path`` for reading JSONL as bytes (``-`` = stdin; ``.gz`` files are
    decompressed, as is gzip data on stdin).

    Lines are decoded one at a time by :func:`read_records`, so a line of invalid
    UTF-8 becomes a warning on that record, not a failure of the file.

    Raises
    ------
    ValueError
        If the data is a zip archive (such as an Inspect AI log given on stdin).
    """
    import gzip

    stream = sys.stdin.buffer if path == "-" else open(path, "rb")
    if isinstance(stream, io.BufferedReader):
        head = stream.peek(4)[:4]
        if head[:2] == b"\x1f\x8b":
            return gzip.open(stream, "rb")
        if head == b"PK\x03\x04":
            if stream is not sys.stdin.buffer:
                stream.close()
            where = "stdin" if path == "-" else path
            raise ValueError(f"{where} is a zip archive, not JSONL (an Inspect AI .eval log is read from its "
                             "file path: fakingclf label run.eval)")
    return stream


def get_path(record: Any, path: str) -> Any:
    """The value at a dotted ``path`` in nested objects and lists (``a.b.0.c``), or None."""
    node = record
    for part in path.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.lstrip("-").isdigit() and -len(node) <= int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def remap(record: dict, fields: dict[str, str]) -> dict:
    """A record in a layout :meth:`Transcript.from_record` reads, from a custom one.

    ``fields`` maps our names (``text``, ``id``, ``tier``, ``model``, ``messages``,
    ``prompt``, ``response``, ``reasoning``…) to dotted paths in ``record``. The
    top-level fields that no path starts from pass through as they are.
    """
    used = {path.split(".")[0] for path in fields.values()}
    out = {k: v for k, v in record.items() if k not in used and k not in fields}
    for name, path in fields.items():
        value = get_path(record, path)
        if value is not None:
            out[name] = value
    return out


def _decode(line: Union[str, bytes], first: bool) -> tuple[str, Optional[str]]:
    if isinstance(line, str):
        return (line[1:] if first and line.startswith("\ufeff") else line), None
    if first and line.startswith(b"\xef\xbb\xbf"):
        line = line[3:]
    try:
        return line.decode("utf-8"), None
    except UnicodeDecodeError as e:
        return line.decode("utf-8", errors="replace"), f"invalid UTF-8 bytes replaced with U+FFFD ({e.reason})"


def _layout_of(fields: Optional[dict[str, str]]) -> Optional[str]:
    """The layout a custom mapping names: ``text`` for a text path, ``fields`` for an
    output or reasoning path (the user said where the transcript is); else None."""
    if not fields:
        return None
    if "text" in fields:
        return "text"
    if "output" in fields or "reasoning" in fields:
        return "fields"
    return None


def read_records(lines: Iterable[Union[str, bytes]], fields: Optional[dict[str, str]] = None,
                 bare_text: str = "auto") -> Iterator[Item]:
    """Parse JSONL lines into transcripts, one :class:`Item` per non-blank line.

    Lines may be ``str`` or ``bytes`` (decoded as UTF-8; a byte-order mark on the
    first line is dropped; undecodable bytes are replaced, with a warning). Blank
    lines are skipped but still counted, so line numbers stay those of the file.

    ``fields`` maps field names to dotted paths for a custom layout (see :func:`remap`);
    a ``text`` path reads the record as the ``text`` layout, an ``output`` or
    ``reasoning`` path as the ``fields`` layout. ``bare_text`` (``auto``, ``reasoning``
    or ``output``) says how to read a text with no tags at all (see
    :func:`fakingclf.formats.read_record`).

    Never raises for bad content: the item carries the error instead
    (``invalid_json``, ``invalid_record``). A repeated id gets a warning.

    Raises
    ------
    TypeError
        If ``lines`` is a single string or bytes object instead of an iterable of lines.
    ValueError
        If ``bare_text`` is not one of its three values.
    """
    from .formats.base import check_bare_text

    check_bare_text(bare_text)
    layout = _layout_of(fields)
    if isinstance(lines, (str, bytes)):
        raise TypeError("read_records takes an iterable of lines (a file, or text.splitlines()), not one string")
    seen: dict[str, int] = {}
    for n, raw in enumerate(lines, 1):
        line, decode_warning = _decode(raw, n == 1)
        line = line.rstrip("\r\n")
        if not line.strip():
            continue
        try:
            rec = orjson.loads(line)
        except orjson.JSONDecodeError as e:
            yield Item(n, error_type="invalid_json", error=f"line {n}: not valid JSON ({e})", id=str(n))
            continue
        if fields and isinstance(rec, dict):
            rec = remap(rec, fields)
        given = id_string(rec.get("id")) if isinstance(rec, dict) else None
        rid = given or str(n)
        try:
            t = Transcript.from_record(rec, line_no=n, bare_text=bare_text, layout=layout)
        except (TranscriptError, ValueError) as e:
            msg = str(e).splitlines()[0] if str(e) else type(e).__name__
            if isinstance(rec, dict) and isinstance(rec.get("error"), str) and rec["error"].strip():
                msg += f" (the record's own error: {rec['error'].strip()[:500]})"
            yield Item(n, error_type="invalid_record", error=f"line {n} (id {rid}): {msg}", id=rid)
            continue
        if decode_warning:
            t.warnings.append(decode_warning)
        if isinstance(rec.get("id"), (dict, list)):
            t.warnings.append("id is an object or array: the line number is used instead")
        if t.id in seen:
            t.warnings.append(f"duplicate id {t.id!r} (first on line {seen[t.id]})")
        else:
            seen[t.id] = n
        yield Item(n, transcript=t, id=t.id)


def _skipping(items: Iterator[Item], skip: Counter) -> Iterator[Item]:
    """``items`` without those whose id is in ``skip`` (each id skipped as many times as counted)."""
    for it in items:
        if skip.get(it.id, 0) > 0:
            skip[it.id] -= 1
            continue
        yield it


def _batched(items: Iterable[Item], size: int) -> Iterator[list[Item]]:
    batch: list[Item] = []
    for it in items:
        batch.append(it)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def label_batch(clf, batch: list[Item]) -> list:
    """Predictions for one batch of :class:`Item` (one per item, in order).

    Transcripts are featurized together. If the batch fails inside the model, its
    transcripts are retried one by one and any that still fails gets an error
    record of type ``processing_error``; items that could not be read get their
    read error. Module-level so that joblib and Dask workers can run it.
    """
    from .classifier import Prediction

    def predict(items: list[Item]) -> list:
        try:
            return clf.predict([it.transcript for it in items])
        except Exception as e:  # noqa: BLE001 - a bad record must not stop the run
            if len(items) > 1:  # find the record that fails
                return [p for it in items for p in predict([it])]
            it = items[0]
            return [Prediction.failed(
                it.id, "processing_error", f"line {it.line_no} (id {it.id}): {type(e).__name__}: {e}",
                model_version=clf.version,
            )]

    ok = [it for it in batch if it.transcript is not None]
    preds = iter(predict(ok) if ok else ())
    return [
        next(preds) if it.transcript is not None
        else Prediction.failed(it.id, it.error_type, it.error, model_version=clf.version)
        for it in batch
    ]


def label_lines(
    clf,
    lines: Iterable[Union[str, bytes]],
    batch_size: int = 128,
    fields: Optional[dict[str, str]] = None,
    workers: int = 1,
    skip: Optional[Counter] = None,
    bare_text: str = "auto",
) -> Iterator:
    """Label JSONL lines with ``clf`` (a fitted :class:`~fakingclf.FakingClassifier`).

    Parameters
    ----------
    lines : iterable of str or bytes
        JSONL lines (a file opened in binary mode streams; nothing is read ahead
        beyond the batches in flight).
    batch_size : int
        Transcripts featurized together.
    fields : dict, optional
        Dotted paths for a custom layout (see :func:`remap`).
    workers : int
        1 labels in this process. Otherwise batches go to ``joblib.Parallel(n_jobs=
        workers)`` (-1 = all cores) on the active joblib backend: local processes
        (loky) by default, or a Dask cluster inside ``joblib.parallel_config(
        backend="dask")``. Results keep input order; at most ``2 * workers`` batches
        are in flight, so memory stays flat.
    skip : collections.Counter, optional
        Ids already labeled (``--resume``): records with these ids are dropped, each
        as many times as counted; the counter is decremented in place.
    bare_text : {"auto", "reasoning", "output"}
        How to read a text with no tags at all (see :func:`read_records`).

    Yields
    ------
    Prediction
        One per non-blank input line not skipped, in order; unreadable lines get an
        error record. A record that fails inside the model gets a
        ``processing_error`` record and the run goes on.
    """
    items: Iterator[Item] = read_records(lines, fields, bare_text=bare_text)
    if skip:
        items = _skipping(items, skip)
    batches = _batched(items, batch_size)
    if workers == 1:
        for batch in batches:
            yield from label_batch(clf, batch)
        return
    from joblib import Parallel, delayed

    parallel = Parallel(n_jobs=workers, return_as="generator", pre_dispatch="2*n_jobs")
    for preds in parallel(delayed(label_batch)(clf, batch) for batch in batches):
        yield from preds


def prepare_resume(path) -> Counter:
    """Make an output file ready for ``--resume`` and count the ids already in it.

    A run killed mid-write can leave an incomplete last line: it is cut off (the
    file is truncated after its last newline), so appending stays valid JSONL.
    A missing file counts as empty.

    Returns
    -------
    collections.Counter
        How many output records each id has (pass as ``skip`` to :func:`label_lines`).

    Raises
    ------
    ValueError
        If a complete line of the file is not a JSON object with an ``id``: the file
        is not an output of ``fakingclf label`` and is left untouched.
    """
    import os
    from pathlib import Path

    p = Path(path)
    done: Counter = Counter()
    if not p.exists():
        return done
    end = 0  # offset just after the last complete line
    with open(p, "rb") as f:
        for n, line in enumerate(f, 1):
            if not line.endswith(b"\n"):
                break  # an incomplete last line, cut off below
            end += len(line)
            if not line.strip():
                continue
            try:
                rec = orjson.loads(line)
            except orjson.JSONDecodeError:
                rec = None
            if not isinstance(rec, dict) or not isinstance(rec.get("id"), str):
                raise ValueError(f"{p} line {n} is not a fakingclf prediction (a JSON object with an id): "
                                 "--resume appends only to the output of an earlier run")
            done[rec["id"]] += 1
    if end < p.stat().st_size:
        with open(p, "r+b") as f:
            f.truncate(end)
            f.flush()
            os.fsync(f.fileno())
    return done


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

