"""JSONL in and out (last stage): read records, label them in order, write predictions.

Nothing is lost: every non-blank input line yields exactly one output record, in
input order (blank lines are skipped but counted, so ids from line numbers match
the file). A line that is not valid JSON, is not an object, or holds
no usable text gets a record with ``label: null`` and ``error: {type, message}``
naming the line and the problem.
"""

from __future__ import annotations

import io
import os
import re
import sys
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, Any, Iterable, Iterator, NamedTuple, Optional, Union

import orjson

from .transcript import Transcript, TranscriptError, id_string

__all__ = [
    "read_records", "label_lines", "label_json_lines", "label_raw_batch", "Labeled", "label_batch", "prepare_resume",
    "dump_prediction", "Summary", "open_input", "InputStream", "InputError", "sniff_encoding", "check_output", "open_output", "OutputError", "get_path", "remap",
]


@dataclass
class Item:
    """One input line: its 1-based number and either a transcript or an error."""

    line_no: int
    transcript: Optional[Transcript] = None
    error_type: str = ""
    error: str = ""
    id: str = ""


class InputError(ValueError):
    """An input that cannot be read as JSONL: a directory, a zip archive, binary data."""


class OutputError(ValueError):
    """An output path that cannot be written (see :func:`check_output`)."""


#: Bytes looked at to tell text from binary data and UTF-8 from UTF-16/32.
SNIFF_BYTES = 1024


def sniff_encoding(head: bytes) -> Optional[str]:
    """The encoding that the first bytes of an input show, when it is not UTF-8.

    Parameters
    ----------
    head : bytes
        The first bytes of the (decompressed) input, ideally :data:`SNIFF_BYTES` of them.

    Returns
    -------
    str or None
        ``"utf-32"`` / ``"utf-16"`` (a byte-order mark), ``"utf-32-le"``, ``"utf-32-be"``,
        ``"utf-16-le"``, ``"utf-16-be"`` (no mark, but NUL bytes in the pattern that
        ASCII characters make in that encoding, and the bytes decode to text), or None
        for UTF-8 (with or without its mark) and for no data.

    Raises
    ------
    InputError
        If the bytes are not text: NUL bytes in no UTF-16/32 pattern (at least 1% of
        them), or at least 10% of the characters undecodable or control characters.
    """
    import codecs

    if head.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        return "utf-32"
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    if not head:
        return None
    nul = head.count(0)
    if nul:
        def zero_share(offset: int, step: int) -> float:
            part = head[offset::step]
            return part.count(0) / len(part) if part else 0.0

        candidates = []
        if len(head) >= 8 and zero_share(1, 4) > 0.9 and zero_share(2, 4) > 0.9:
            candidates = ["utf-32-le" if zero_share(3, 4) > zero_share(0, 4) else "utf-32-be"]
        elif len(head) >= 4:
            odd, even = zero_share(1, 2), zero_share(0, 2)
            if max(odd, even) > 0.3:
                candidates = ["utf-16-le" if odd > even else "utf-16-be"]
        for codec in candidates:
            try:
                text = codecs.getincrementaldecoder(codec)().decode(head, final=False)
            except UnicodeDecodeError:
                continue
            if text and "\x00" not in text and _junk_share(text) < 0.1:
                return codec
        if nul >= max(1, len(head) // 100):
            raise InputError("NUL bytes in its first KB, in no UTF-16 or UTF-32 pattern")
    text = codecs.getincrementaldecoder("utf-8")(errors="replace").decode(head, final=False)
    if text and _junk_share(text) >= 0.1:
        raise InputError("undecodable bytes or control characters in its first KB")
    return None


def _junk_share(text: str) -> float:
    """Share of the characters of ``text`` that no text file holds: U+FFFD and C0 controls but tab, LF, CR, FF."""
    bad = sum(1 for ch in text if ch == "\ufffd" or ch == "\x7f" or (ch < " " and ch not in "\t\n\r\f"))
    return bad / len(text)


class InputStream:
    """The lines of one input file or stdin, with where reading stands and how it ended.

    Made by :func:`open_input`. Iterating yields the lines: ``bytes``, or ``str`` when
    the input was UTF-16/32 and is decoded. A stream that breaks off (a truncated or
    corrupt ``.gz``, a read error, a UTF-16 file cut mid-character) does not raise:
    iteration stops after the last whole line, and :attr:`broken` says where.

    Attributes
    ----------
    name : str
        The path, or ``"stdin"``.
    size : int or None
        Bytes of the file when it is a regular file (compressed bytes for ``.gz``),
        else None. :meth:`position` counts towards it.
    encoding : str or None
        The encoding the input was decoded from when it is not UTF-8 (see
        :func:`sniff_encoding`), else None; :attr:`notice` then says so.
    notice : str or None
        A warning to show the user (the input was decoded from UTF-16/32).
    broken : str or None
        Set when reading stopped before the end: the line and byte where the stream
        broke, and why.
    lines_read : int
        Lines yielded so far (blank ones included).
    """

    def __init__(self, raw: IO[bytes], stream, name: str, size: Optional[int], compressed: bool,
                 encoding: Optional[str] = None, owned: bool = True):
        self._raw, self._stream, self.name, self.size = raw, stream, name, size
        self._compressed, self._owned = compressed, owned
        self.encoding = encoding
        self.notice = None if encoding is None else (
            f"{name} is {encoding.upper()}, not UTF-8: it is decoded as {encoding.upper()} (convert it to UTF-8 "
            "to silence this warning)")
        self.broken: Optional[str] = None
        self.lines_read = 0
        self._bytes = 0

    def __iter__(self) -> Iterator[Union[bytes, str]]:
        import zlib

        if self._stream is None:
            return
        it = iter(self._stream)
        while True:
            try:
                line = next(it)
            except StopIteration:
                return
            except (EOFError, OSError, zlib.error, UnicodeDecodeError) as e:
                self._break(e)
                return
            self.lines_read += 1
            self._bytes += len(line)
            yield line

    def _break(self, e: BaseException) -> None:
        what = "the gzip stream" if self._compressed else "the input"
        unit = "character" if self.encoding else "byte"
        data = "decoded text" if self.encoding else "decompressed data" if self._compressed else "data"
        if isinstance(e, UnicodeDecodeError):
            why = f"cannot be decoded as {self.encoding} ({e.reason})"
        else:
            why = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
        self.broken = (f"{self.name}: {what} breaks off after line {self.lines_read} ({unit} {self._bytes} of the "
                       f"{data}): {why}; the {self.lines_read} whole line(s) before it were read")

    def position(self) -> int:
        """Bytes of the file read so far (compressed bytes for ``.gz``; read-ahead included)."""
        try:
            return int(self._raw.tell())
        except (OSError, ValueError, AttributeError):
            return self._bytes

    def close(self) -> None:
        """Close the file (stdin is left open)."""
        if not self._owned:
            if isinstance(self._stream, io.TextIOWrapper):
                try:
                    self._stream.detach()  # so that collecting the wrapper does not close stdin
                except ValueError:
                    pass
            self._stream = None
            return
        for f in (self._stream, self._raw):
            try:
                if f is not None:
                    f.close()
            except (OSError, EOFError, ValueError):
                pass

    def __enter__(self) -> "InputStream":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_input(path: str) -> InputStream:
    """Open ``path`` to read JSONL lines (``-`` = stdin; ``.gz`` files are decompressed,
    as is gzip data on stdin; UTF-16 and UTF-32 are decoded, see :class:`InputStream`).

    Lines are decoded one at a time by :func:`read_records`, so a line of invalid
    UTF-8 becomes a warning on that record, not a failure of the file. A stream that
    breaks off midway stops after its last whole line with :attr:`InputStream.broken`
    set.

    Raises
    ------
    InputError (a ValueError)
        If ``path`` is a directory, cannot be opened (naming the OS error), is a zip
        archive (such as an Inspect AI log given on stdin), or is binary data (see
        :func:`sniff_encoding`).
    """
    import gzip
    import stat
    import zlib

    where = "stdin" if path == "-" else path
    if path == "-":
        raw = sys.stdin.buffer
        size = None
    else:
        try:
            raw = open(path, "rb")
        except IsADirectoryError:
            raise InputError(f"{path} is a directory, not a JSONL file") from None
        except OSError as e:
            raise InputError(f"cannot read {path}: {e.strerror or e}") from None
        st = os.fstat(raw.fileno())
        size = st.st_size if stat.S_ISREG(st.st_mode) else None
    owned = path != "-"
    if not hasattr(raw, "peek"):
        raw = io.BufferedReader(raw)  # a stdin without peek (a BytesIO, say)
    stream = raw
    compressed = False

    def refuse(message: str):
        if owned:
            raw.close()
        raise InputError(message)

    head = raw.peek(4)[:4]
    if head[:2] == b"\x1f\x8b":
        stream = gzip.open(raw, "rb")
        compressed = True
    elif head == b"PK\x03\x04":
        refuse(f"{where} is a zip archive, not JSONL (an Inspect AI .eval log is read from its "
               "file path: fakingclf label run.eval)")
    s = InputStream(raw, stream, where, size, compressed, owned=owned)
    try:
        head = stream.peek(SNIFF_BYTES)[:SNIFF_BYTES]
    except (EOFError, OSError, zlib.error) as e:  # a gzip stream broken from its start
        s._break(e)
        s._stream = None
        return s
    try:
        encoding = sniff_encoding(head)
    except InputError as e:
        refuse(f"{where} is not text ({e}): fakingclf reads JSONL, one JSON object a line, in UTF-8 "
               "(or UTF-16/UTF-32, decoded with a warning); convert it to UTF-8")
    if encoding is not None:
        s = InputStream(raw, io.TextIOWrapper(stream, encoding=encoding, newline="\n"), where, size, compressed,
                        encoding=encoding, owned=owned)
    return s


#: Output paths that name an open file descriptor: written in place, never renamed over.
_FD_PATH = re.compile(r"^/(dev/(stdout|stderr|fd/\d+)|proc/(self|thread-self|\d+)/fd/\d+)$")


def _writes_in_place(path: str) -> bool:
    """True when ``path`` exists and is not a regular file (a FIFO, a device), or names a file descriptor."""
    import stat

    if _FD_PATH.match(path):
        return True
    try:
        return not stat.S_ISREG(os.stat(path).st_mode)
    except FileNotFoundError:
        return False


def check_output(path: Union[str, os.PathLike], what: str = "output", append: bool = False) -> None:
    """Check that ``path`` can be written as :func:`open_output` writes it, creating nothing.

    ``-`` (stdout) always passes. A FIFO or a character device (after symlinks) passes
    when it is writable; it is written in place. A regular file, or a new one, needs
    an existing folder in which a temporary file can be made (the folder of a
    symlink's target, since the target is replaced), and an existing file must be
    writable. Paths in ``/proc`` and ``/sys`` are refused as files. ``append``
    (``--resume``) needs a regular file, or a new one; an existing file is appended to in
    place, so only the file must be writable, not its folder.

    Raises
    ------
    OutputError (a ValueError)
        Naming ``what`` and ``path`` and why: a directory, a missing folder (no folder is
        ever created), a kernel filesystem, a block device or socket, no write
        permission, a read-only filesystem.
    """
    import stat
    import tempfile

    p = os.fspath(path)
    if p == "-":
        return
    label = f"{what} {p}"
    try:
        st = os.stat(p)
    except FileNotFoundError:
        st = None
    except OSError as e:  # a parent that is a file, a symlink loop, no permission to look
        raise OutputError(f"cannot write {label}: {e.strerror or e}") from None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise OutputError(f"cannot write {label}: it is a directory")
    if st is not None and (stat.S_ISBLK(st.st_mode) or stat.S_ISSOCK(st.st_mode)):
        kind = "a block device" if stat.S_ISBLK(st.st_mode) else "a socket"
        raise OutputError(f"cannot write {label}: it is {kind}")
    if _writes_in_place(p) and st is not None:
        if append:
            raise OutputError(f"cannot write {label} with --resume: it is not a regular file (--resume appends to a "
                              "file it reads first)")
        if not os.access(p, os.W_OK):
            raise OutputError(f"cannot write {label}: permission denied")
        return
    real = os.path.realpath(p)
    top = real.split(os.sep)[1:2]
    if top in (["proc"], ["sys"]):
        where = "it is" if real == os.path.abspath(p) else f"its target {real} is"
        raise OutputError(f"cannot write {label}: {where} in /{top[0]}, a kernel filesystem, not a place for files")
    folder = os.path.dirname(real) or "."
    if not os.path.isdir(folder):
        where = "does not exist" if not os.path.exists(folder) else "is not a folder"
        raise OutputError(f"cannot write {label}: the folder {folder} {where} (fakingclf creates no folders)")
    if st is not None and not os.access(real, os.W_OK):
        raise OutputError(f"cannot write {label}: permission denied")
    if append and st is not None:  # appended to in place: the folder itself need not take new files
        try:
            with open(real, "ab"):
                pass
        except OSError as e:
            raise OutputError(f"cannot write {label}: {e.strerror or e}") from None
        return
    try:  # the only sure test (root, read-only and kernel filesystems): make a file there
        fd, probe = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(real)}.", suffix=".probe")
    except OSError as e:
        raise OutputError(f"cannot write {label}: cannot create a file in {folder} ({e.strerror or e})") from None
    os.close(fd)
    os.unlink(probe)


@contextmanager
def open_output(path: Union[str, os.PathLike], append: bool = False) -> Iterator[IO[bytes]]:
    """A binary writer for an output path, as a context manager.

    * ``-``: stdout (flushed at the end, never closed).
    * ``append`` (``--resume``): the file itself, opened for appending.
    * a FIFO, a character device (``/dev/null``), or a path naming a file descriptor
      (``/dev/stdout``, ``/proc/self/fd/N``): opened and written in place, never
      replaced.
    * otherwise (a regular file, a new file, a symlink to either): a temporary file
      beside the file (beside a symlink's target) that is renamed over it when the
      block ends without an exception, so the output appears whole or not at all and
      a symlink stays a symlink to its updated target. An existing file's permission
      bits (and, when allowed, owner) are kept. On an exception (Ctrl-C included) the
      temporary file is removed and the old file is left as it was.

    Call :func:`check_output` first for a clear message before work starts.

    Raises
    ------
    OSError
        If the file cannot be opened, written or renamed.
    """
    p = os.fspath(path)
    if p == "-":
        out = sys.stdout.buffer
        yield out
        out.flush()
        return
    if append or _writes_in_place(p):
        with open(p, "ab") as f:
            yield f
        return
    real = os.path.realpath(p)
    folder, name = os.path.split(real)
    tmp = os.path.join(folder, f".{name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies, as to a new file
    try:
        try:
            st = os.stat(real)
        except FileNotFoundError:
            st = None
        if st is not None:
            os.fchmod(fd, st.st_mode & 0o7777)
            try:
                os.fchown(fd, st.st_uid, st.st_gid)
            except OSError:
                pass
        with os.fdopen(fd, "wb") as f:
            fd = -1
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, real)
    except BaseException:
        if fd != -1:
            os.close(fd)
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


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
    if isinstance(lines, (str, bytes)):
        raise TypeError("read_records takes an iterable of lines (a file, or text.splitlines()), not one string")
    return _read(enumerate(lines, 1), fields, bare_text, seen={})


def _read(numbered: Iterable[tuple[int, Union[str, bytes]]], fields: Optional[dict[str, str]], bare_text: str,
          seen: Optional[dict[str, int]]) -> Iterator[Item]:
    """:func:`read_records` over (line number, line) pairs; ``seen`` None: no duplicate-id warnings here."""
    layout = _layout_of(fields)
    for n, raw in numbered:
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
        if seen is not None:
            if t.id in seen:
                t.warnings.append(_duplicate(t.id, seen[t.id]))
            else:
                seen[t.id] = n
        yield Item(n, transcript=t, id=t.id)


def _duplicate(rid: str, first: int) -> str:
    return f"duplicate id {rid!r} (first on line {first})"


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
    for preds in _run(((label_batch, (clf, batch)) for batch in _batched(items, batch_size)), workers):
        yield from preds


def _run(jobs: Iterable[tuple], workers: int) -> Iterator:
    """The results of ``(function, args)`` jobs, in order: here, or on ``workers`` joblib workers.

    At most ``2 * workers`` jobs are in flight, so a stream of batches keeps memory flat.
    """
    if workers == 1:
        return (fn(*args) for fn, args in jobs)
    from joblib import Parallel, delayed

    parallel = Parallel(n_jobs=workers, return_as="generator", pre_dispatch="2*n_jobs")
    return parallel(delayed(fn)(*args) for fn, args in jobs)


class Labeled(NamedTuple):
    """One output record, written: its JSON line and what the end-of-run summary counts."""

    line: bytes  # the record as one JSON line, newline-terminated (see dump_prediction)
    id: str
    label: Optional[str]
    tier: Optional[str]
    error: bool
    line_no: int  # its input line
    read_warnings: Optional[int]  # warnings it got while being read (a duplicate-id warning goes after them); None: unreadable


def _written(clf, items: list[Item]) -> list[Labeled]:
    return [Labeled(dump_prediction(p), p.id, p.label, p.tier, p.error is not None, it.line_no,
                    len(it.transcript.warnings) if it.transcript is not None else None)
            for it, p in zip(items, label_batch(clf, items))]


def label_raw_batch(clf, numbered: list[tuple[int, Union[str, bytes]]], fields: Optional[dict[str, str]] = None,
                    bare_text: str = "auto") -> list[Labeled]:
    """Read, label and write one batch of (line number, JSONL line) pairs: a :class:`Labeled` per non-blank line.

    What a worker process runs for :func:`label_json_lines`: the lines go to it and
    written records come back, so neither transcripts nor predictions cross between
    processes. Duplicate ids are left to the caller, which sees every batch.
    """
    return _written(clf, list(_read(numbered, fields, bare_text, seen=None)))


def label_json_lines(
    clf,
    lines: Iterable[Union[str, bytes]],
    batch_size: int = 128,
    fields: Optional[dict[str, str]] = None,
    workers: int = 1,
    skip: Optional[Counter] = None,
    bare_text: str = "auto",
) -> Iterator[Labeled]:
    """:func:`label_lines`, each prediction written as its output JSON line (:func:`dump_prediction`).

    The same records, in the same order, as ``dump_prediction`` over :func:`label_lines`
    (``tests/test_robustness.py`` compares them byte for byte), but with ``workers``
    other than 1 the input lines themselves go to the workers, which read, label and
    write them (:func:`label_raw_batch`): this process only batches lines and adds
    duplicate-id warnings. With ``skip`` (``--resume``) records are read here, to know
    their ids, and labeled and written by the workers.

    Yields
    ------
    Labeled
        One per non-blank input line not skipped, in order.
    """
    from .formats.base import check_bare_text

    check_bare_text(bare_text)
    if isinstance(lines, (str, bytes)):
        raise TypeError("label_json_lines takes an iterable of lines (a file, or text.splitlines()), not one string")
    if skip:
        batches = _batched(_skipping(read_records(lines, fields, bare_text=bare_text), skip), batch_size)
        jobs = ((_written, (clf, batch)) for batch in batches)
        seen = None  # read_records warns of duplicates itself
    else:
        jobs = ((label_raw_batch, (clf, batch, fields, bare_text))
                for batch in _batched(enumerate(lines, 1), batch_size))
        seen = {}
    for batch in _run(jobs, workers):
        for rec in batch:
            if seen is not None and rec.read_warnings is not None:  # as read_records: every record read
                first = seen.setdefault(rec.id, rec.line_no)
                if first != rec.line_no and not rec.error:  # (a record failing in the model has no warnings)
                    rec = _with_warning(rec, _duplicate(rec.id, first))
            yield rec


def _with_warning(rec: Labeled, warning: str) -> Labeled:
    """``rec`` with ``warning`` after the warnings it got while being read, where :func:`read_records` puts it."""
    data = orjson.loads(rec.line)
    data["warnings"].insert(rec.read_warnings, warning)
    return rec._replace(line=orjson.dumps(data) + b"\n", read_warnings=rec.read_warnings + 1)


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
        If a complete line of the file is not an output record (a JSON object with an
        ``id`` and a ``model_version`` or ``judge`` field), or an incomplete last line
        does not begin as one: the file is not an output of ``fakingclf label`` or
        ``judge`` and is left untouched (checked before anything is cut).
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
            if not isinstance(rec, dict) or not isinstance(rec.get("id"), str) or not (
                    "model_version" in rec or "judge" in rec):
                raise ValueError(f"{p} line {n} is not a fakingclf output record (a JSON object with an id and a "
                                 "model_version or judge field): --resume appends only to the output of an earlier "
                                 "run, and the file was left as it was")
            done[rec["id"]] += 1
    if end < p.stat().st_size:
        with open(p, "rb") as f:
            f.seek(end)
            tail = f.read()
        try:
            whole = orjson.loads(tail)
        except orjson.JSONDecodeError:
            whole = None
        if whole is not None and not (isinstance(whole, dict) and ("model_version" in whole or "judge" in whole)):
            # a complete JSON value that is no output record: a user's file, not a write cut short
            raise ValueError(f"{p} ends with a complete line that is not a fakingclf output record: --resume "
                             "appends only to the output of an earlier run, and the file was left as it was")
        if not tail.startswith(b'{"id":'):
            raise ValueError(f"{p} ends with a line that is not a cut-off fakingclf output record: --resume "
                             "appends only to the output of an earlier run, and the file was left as it was")
        if isinstance(whole, dict) and isinstance(whole.get("id"), str):
            # a whole record that only lacks its newline: keep it
            with open(p, "ab") as f:
                f.write(b"\n")
                f.flush()
                os.fsync(f.fileno())
            done[whole["id"]] += 1
            return done
        with open(p, "r+b") as f:
            f.truncate(end)
            f.flush()
            os.fsync(f.fileno())
    return done


def dump_prediction(pred) -> bytes:
    """One output JSON line (bytes, newline-terminated) for a Prediction.

    Input fields passed through in ``metadata`` that JSON cannot write back (nested
    deeper than the serializer allows, say) are dropped with a warning on the record,
    so one odd line never stops a run.
    """
    try:
        return orjson.dumps(pred.model_dump(mode="json")) + b"\n"
    except (orjson.JSONEncodeError, TypeError, ValueError, RecursionError) as e:
        data = pred.model_dump(mode="json", exclude={"metadata"})
        data["metadata"] = {}
        data["warnings"] = list(data.get("warnings") or []) + [
            f"input fields could not be written back ({type(e).__name__}: {e}): metadata dropped"]
        return orjson.dumps(data) + b"\n"


@dataclass
class Summary:
    """Counts for the end-of-run table: per label, per tier, and errors."""

    n: int = 0
    errors: int = 0
    by_tier: dict = field(default_factory=dict)  # tier -> Counter(label)

    def add(self, pred) -> None:
        """Count one prediction (a Prediction, or a written record: :class:`Labeled`)."""
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

