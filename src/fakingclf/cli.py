"""Command line: ``fakingclf label``, ``explain``, ``train``, ``evaluate``, ``report``, ``suggest``,
``label-issues`` and ``judge``.

Data goes to stdout (or ``-o``), progress and summaries to stderr, so pipes stay
clean. Exit status: 0 on success; 1 when ``--fail-on-error`` is given and some
record could not be read; 2 for bad usage, an unreadable input or model, an output
that cannot be written (checked before a model loads), or an input that breaks off
midway (a truncated ``.gz``: the whole lines before the break are written first);
130 when interrupted (Ctrl-C). Every ``-o`` goes through :func:`fakingclf.io.open_output`.
"""

from __future__ import annotations

import inspect
import json
import os
import sys
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Label LLM transcripts as refusal, genuine compliance or faked compliance (alignment faking).\n\n"
    "Example:  fakingclf label dump.jsonl -o dump.labeled.jsonl",
    epilog="Exit status: 0 ok; 1 some records could not be read (with --fail-on-error); 2 bad usage, "
    "unreadable input/output or model, or an input that breaks off midway (its whole lines are written first); "
    "130 interrupted.",
)
err = Console(stderr=True)


def _version(value: bool) -> None:
    if value:
        from . import __version__

        typer.echo(f"fakingclf {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """Label LLM transcripts as refusal, genuine compliance or faked compliance (alignment faking)."""


def _fail(message: str) -> None:
    """Print ``message`` (taken as plain text, not rich markup) as an error and exit 2."""
    from rich.markup import escape

    err.print(f"[red]error:[/red] {escape(message)}")
    raise typer.Exit(2)


def _require_files(paths, what: str = "file", stdin: bool = False) -> None:
    """Exit 2 naming the first path that is missing or a directory (``-`` passes when ``stdin``).

    FIFOs and devices pass (``<(zcat dump.jsonl.gz)``), as do regular files."""
    for p in paths:
        if stdin and p == "-":
            continue
        path = Path(p)
        if path.is_dir():
            _fail(f"{what} {p} is a directory, not a file")
        if not path.exists():
            _fail(f"{what} not found: {p}")


def _check_output(path, what: str = "output", append: bool = False) -> None:
    """Exit 2 unless ``path`` can be written (see :func:`fakingclf.io.check_output`); nothing is created."""
    from .io import OutputError, check_output

    try:
        check_output(path, what, append=append)
    except OutputError as e:
        _fail(str(e))


def _say(line: str) -> None:
    """A line on stderr that is not folded (it may hold a path)."""
    err.print(line, soft_wrap=True)


def _backend_note(backend: str) -> None:
    err.print(f"[yellow]note:[/yellow] --backend {backend} has no effect: this model has no encoder")


def _check_backend(backend: Optional[str]) -> None:
    """Refuse a ``--backend`` value before anything loads."""
    from .onnx_backend import check_backend_name

    if backend is not None:
        try:
            check_backend_name(backend)
        except ValueError as e:
            _fail(f"--{e}")


def _load_model(model: Optional[Path], rules_only: bool = False, backend: Optional[str] = None):
    """The model to use (``--model``, ``--rules-only`` or the shipped default), saying so on stderr first;
    with ``backend``, its encoder backend set (see :meth:`FakingClassifier.set_backend`)."""
    from .classifier import FakingClassifier, ModelLoadError, shipped_model_dir

    if rules_only and model is not None:
        _fail("--rules-only and --model both choose a model: give one")
    _check_backend(backend)
    err.print("loading model…")
    try:
        clf = FakingClassifier.load(shipped_model_dir("rules-only") if rules_only else model,
                                    backend=backend or "auto", log=_say)
    except (ModelLoadError, ValueError) as e:
        _fail(str(e))
    if backend is not None:
        if backend != "auto" and not clf.use_embeddings:
            _backend_note(backend)
        if backend == "auto" and clf.use_embeddings:
            err.print(f"encoder backend: {clf.backend} (the model's default; --backend to choose)")
    return clf


def _progress(verb: str, show: bool, lines=None, total: Optional[int] = None, console=None):
    """A progress bar for reading ``lines`` and a function ``advance(records_done)``.

    When ``lines`` is an :class:`~fakingclf.io.InputStream` of a regular file, the bar
    counts its bytes (compressed bytes for ``.gz``) against the file size, so it shows a
    percentage and the time left; with ``total`` it counts records against it; else it
    counts records only.
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    size = getattr(lines, "size", None) if total is None else None
    columns: list = [TextColumn(verb), BarColumn()]
    if size:
        columns += [TaskProgressColumn(), TextColumn("{task.fields[records]} records"), TimeElapsedColumn(),
                    TextColumn("ETA"), TimeRemainingColumn()]
    elif total is not None:
        columns += [MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn()]
    else:
        columns += [TextColumn("{task.fields[records]} records"), TimeElapsedColumn()]
    bar = Progress(*columns, console=console or err, disable=not show, transient=True)
    task = bar.add_task(verb, total=size or total, records=0)

    def advance(records: int) -> None:
        bar.update(task, completed=lines.position() if size else records, records=records)

    return bar, advance


class _NothingRead(Exception):
    """The input broke off before its first line: the output is not committed."""


def _input_broken(lines) -> None:
    """Exit 2 with the place where the input broke off, if it did (after the whole lines were used)."""
    broken = getattr(lines, "broken", None)
    if broken:
        _fail(broken)


def _skipped_shown(fn, *args, **kwargs):
    """``fn(*args, **kwargs)``, printing the records ``load_labeled`` skipped as one warning line."""
    import warnings

    from .train import SkippedRecordsWarning

    caught: list = []
    try:
        with warnings.catch_warnings(record=True) as recorded:
            warnings.simplefilter("always", SkippedRecordsWarning)
            try:
                return fn(*args, **kwargs)
            finally:
                caught = list(recorded)
    finally:  # shown once recording has stopped; the others as Python would have shown them
        for w in caught:
            if issubclass(w.category, SkippedRecordsWarning):
                err.print(f"[yellow]warning:[/yellow] {w.message}")
            else:
                warnings.showwarning(w.message, w.category, w.filename, w.lineno)


DEFAULT_SHARED = "../shared/data/af_reasoning_dev.jsonl"


# The custom-layout options that `label` and `explain` share (one definition, one help text).
TEXT_FIELD_OPTION = typer.Option(None, "--text-field", help="Dotted path of the transcript text in a custom layout "
                                 "(e.g. response.body.text).")
ID_FIELD_OPTION = typer.Option(None, "--id-field", help="Dotted path of the record id.")
TIER_FIELD_OPTION = typer.Option(None, "--tier-field", help="Dotted path of the tier (free/paid or is_free_tier_user "
                                 "true/false).")
OUTPUT_FIELD_OPTION = typer.Option(None, "--output-field", help="Dotted path of the final reply "
                                   "(e.g. choices.0.message.content).")
REASONING_FIELD_OPTION = typer.Option(None, "--reasoning-field", help="Dotted path of the reasoning "
                                      "(e.g. choices.0.message.reasoning_content).")
BACKEND_OPTION = typer.Option("auto", "--backend", help="Encoder backend of a model with the encoder: torch "
                              "(float32), onnx (int8 ONNX Runtime, exported locally on first use), or auto: the one "
                              "the model's training chose (onnx when its out-of-fold AUROC was at most 0.005 below "
                              "torch's). No effect on a model without the encoder, such as the shipped ones.")
BARE_TEXT_OPTION = typer.Option("auto", "--bare-text", help="Text with no tags at all: auto (by its wording, "
                                "with a warning), reasoning, or output.")


@app.command()
def label(
    input: str = typer.Argument(..., help="JSONL file of transcripts (may be gzipped), an Inspect AI log "
                                "(.eval or .json), or - for stdin."),
    output: str = typer.Option("-", "--output", "-o", help="Where to write the labeled JSONL (- = stdout)."),
    model: Optional[Path] = typer.Option(None, "--model", help="Model directory (default: the shipped model)."),
    rules_only: bool = typer.Option(False, "--rules-only", help="Use the shipped rules-only model: cue features "
                                    "and decision features only, no TF-IDF or compliance head; less accurate (see its card)."),
    batch_size: int = typer.Option(128, "--batch-size", min=1,
                                   help="Transcripts featurized together (bigger batches pad less when embedding)."),
    workers: int = typer.Option(1, "--workers", "-j", help="Parallel worker processes (joblib; -1 = all cores)."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Address of a Dask scheduler "
                                            "(tcp://host:8786): batches run on that cluster's workers."),
    cache: Optional[Path] = typer.Option(None, "--cache", envvar="FAKINGCLF_CACHE", help="Folder of an on-disk "
                                         "embedding cache (content-hashed, shared safely by parallel runs)."),
    resume: bool = typer.Option(False, "--resume", help="Append to an existing -o file, skipping the ids already "
                                "in it (a run that was killed goes on where it stopped). Without it a regular "
                                "-o file appears only when the run completes."),
    fail_on_error: bool = typer.Option(False, "--fail-on-error", help="Exit 1 if any record could not be read."),
    progress: Optional[bool] = typer.Option(
        None, "--progress/--no-progress", help="Progress bar on stderr (default: only on a terminal)."
    ),
    text_field: Optional[str] = TEXT_FIELD_OPTION,
    id_field: Optional[str] = ID_FIELD_OPTION,
    tier_field: Optional[str] = TIER_FIELD_OPTION,
    output_field: Optional[str] = OUTPUT_FIELD_OPTION,
    reasoning_field: Optional[str] = REASONING_FIELD_OPTION,
    bare_text: str = BARE_TEXT_OPTION,
    backend: str = BACKEND_OPTION,
) -> None:
    """Label every transcript in INPUT: one JSON object per input line, same order.

    Each input line is {"text": ...}, {"messages": [...]} or
    {"user_input"/"prompt": ..., "output"/"response": ...}, with optional "id",
    "tier" or "is_free_tier_user", "model"; other fields pass through under
    "metadata"; SDK dumps (Anthropic Message, OpenAI ChatCompletion and Response) are
    read as they are. --text-field/--output-field/--reasoning-field/--id-field/--tier-field
    read any other layout. INPUT may be gzipped. A bad line gives a record with "error"
    set and never stops the run.

    Examples:

        fakingclf label dump.jsonl -o dump.labeled.jsonl

        fakingclf label big.jsonl.gz -o big.labeled.jsonl --resume --workers 2 --cache ~/.cache/fakingclf
    """
    from .io import Summary, label_json_lines, open_output, prepare_resume

    _require_files([input], "input file", stdin=True)
    mapping = _field_mapping(text_field, id_field, tier_field, output_field, reasoning_field, bare_text)
    if workers == 0 or workers < -1:
        _fail("--workers must be a positive number of processes, or -1 for all cores")
    if rules_only and model is not None:
        _fail("--rules-only and --model both choose a model: give one")
    _check_io(input, output, resume)
    lines, source = _input_lines(input)
    clf = _load_model(model, rules_only, backend)
    if cache is not None and clf.use_embeddings:
        try:
            clf.embedder.set_cache(cache)
        except Exception as e:  # noqa: BLE001 - sqlite3/OS errors alike
            _fail(f"cannot open the embedding cache {cache}: {e}")
    skip = None
    if resume:
        try:
            skip = prepare_resume(Path(output))
        except ValueError as e:
            _fail(str(e))
        if skip:
            err.print(f"resuming: {sum(skip.values())} record(s) already in {output} are skipped")

    parallel = _parallel_context(scheduler)
    if scheduler and workers == 1:
        workers = -1
    show = err.is_terminal if progress is None else progress
    summary = Summary()
    bar, advance = _progress("labeling", show, lines)
    # open_output writes a regular file through a temporary file renamed at the end (an
    # interrupted run leaves the old output as it was), appends with --resume, and
    # writes FIFOs and devices in place.
    try:
        with open_output(output, append=resume) as out, parallel, bar:
            for rec in label_json_lines(clf, lines, batch_size=batch_size, fields=mapping or None,
                                        workers=workers, skip=skip, bare_text=bare_text):
                out.write(rec.line)
                summary.add(rec)
                advance(summary.n)
            if getattr(lines, "broken", None) and getattr(lines, "lines_read", 1) == 0:
                raise _NothingRead  # an input unreadable from its first byte replaces no earlier output
    except _NothingRead:
        kept = "nothing was appended" if resume else ("nothing was written" if output == "-"
                                                       else f"{output} was left as it was")
        _fail(f"{lines.broken}; {kept}")
    except KeyboardInterrupt as e:
        kept = f"{output} holds the {summary.n} record(s) labeled so far; rerun with --resume to go on" if resume \
            else _kept_without_resume(output, summary.n)
        what = "terminated" if isinstance(e, Terminated) else "interrupted"
        err.print(f"[yellow]{what}:[/yellow] {kept}")
        raise typer.Exit(_interrupted_code(e)) from None
    except OSError as e:
        _fail(f"cannot write the output {output}: {e.strerror or e}")
    finally:
        close = getattr(lines, "close", None)
        if close is not None:
            close()
    err.print(summary.table(source))
    if clf.use_embeddings and clf.embedder.cache is not None and workers == 1:
        c = clf.embedder.cache
        err.print(f"embedding cache {c.path}: {c.hits} hit(s), {c.misses} miss(es)")
    if summary.errors:
        err.print(f"[yellow]{summary.errors} record(s) could not be read: see their \"error\" field[/yellow]")
    _input_broken(lines)
    if fail_on_error and summary.errors:
        raise typer.Exit(1)


@app.command()
def explain(
    input: str = typer.Argument(..., help="JSONL file of transcripts (any layout `label` reads, may be gzipped), "
                                "an Inspect AI log (.eval or .json), or - for stdin."),
    output: str = typer.Option("-", "--output", "-o", help="Where to write the explanations (- = stdout)."),
    as_json: bool = typer.Option(False, "--json", help="Write one JSON object per input line (JSONL) instead of "
                                 "the readable panels."),
    top: int = typer.Option(5, "--top", min=1, help="Sentences, TF-IDF terms each way, and feature contributions "
                            "shown per transcript (--json lists every contribution)."),
    model: Optional[Path] = typer.Option(None, "--model", help="Model directory (default: the shipped model)."),
    rules_only: bool = typer.Option(False, "--rules-only", help="Use the shipped rules-only model: cue features "
                                    "only, no neural network (so no sentence or TF-IDF head sections)."),
    batch_size: int = typer.Option(128, "--batch-size", min=1, help="Transcripts featurized together."),
    fail_on_error: bool = typer.Option(False, "--fail-on-error", help="Exit 1 if any record could not be read."),
    text_field: Optional[str] = TEXT_FIELD_OPTION,
    id_field: Optional[str] = ID_FIELD_OPTION,
    tier_field: Optional[str] = TIER_FIELD_OPTION,
    output_field: Optional[str] = OUTPUT_FIELD_OPTION,
    reasoning_field: Optional[str] = REASONING_FIELD_OPTION,
    bare_text: str = BARE_TEXT_OPTION,
    backend: str = BACKEND_OPTION,
) -> None:
    """Explain each transcript's label: the four criteria with their evidence sentences, the decision, the
    learned heads' strongest sentences and words, and what drove p_alignment_faking.

    Reads INPUT as `label` does; one explanation per non-blank input line, in order, and an error entry for a
    line that cannot be read. Without --json: a panel per transcript, for reading on a terminal. With --json:
    one JSON object per input line, with the label and probabilities `label` gives, "criteria", "decision",
    "context", "sentence_head", "text_head" and "drivers" (every feature's contribution; with the intercept
    they add up to the raw score).

    Examples:

        fakingclf explain data/labeled/examples.jsonl --top 3

        fakingclf explain dump.jsonl --json -o explained.jsonl
    """
    import io

    import orjson
    from rich.console import Console

    from .explain import explain_lines, render

    _require_files([input], "input file", stdin=True)
    mapping = _field_mapping(text_field, id_field, tier_field, output_field, reasoning_field, bare_text)
    if rules_only and model is not None:
        _fail("--rules-only and --model both choose a model: give one")
    _check_io(input, output, resume=False)
    lines, source = _input_lines(input)
    clf = _load_model(model, rules_only, backend)
    terminal = Console()
    color = output == "-" and not as_json and terminal.is_terminal
    width = terminal.width if color else 100

    def text_of(entry) -> bytes:
        buf = io.StringIO()
        Console(file=buf, width=width, force_terminal=color, color_system="auto" if color else None,
                highlight=False).print(render(entry, top_k=top))
        return buf.getvalue().encode("utf-8")

    from .io import open_output

    n = errors = 0
    try:
        with open_output(output) as out:
            for entry in explain_lines(clf, lines, top_k=top, batch_size=batch_size, fields=mapping or None,
                                     bare_text=bare_text):
                out.write(orjson.dumps(entry) + b"\n" if as_json else text_of(entry))
                n += 1
                errors += entry["error"] is not None
    except KeyboardInterrupt as e:
        err.print(f"[yellow]{'terminated' if isinstance(e, Terminated) else 'interrupted'}[/yellow]")
        raise typer.Exit(_interrupted_code(e)) from None
    except OSError as e:
        _fail(f"cannot write the output {output}: {e.strerror or e}")
    finally:
        close = getattr(lines, "close", None)
        if close is not None:
            close()
    err.print(f"{source}: {n} record(s) explained, {errors} error(s)")
    _input_broken(lines)
    if fail_on_error and errors:
        raise typer.Exit(1)


def _file_id(where) -> Optional[tuple[int, int]]:
    """(device, inode) of the regular file at a path, or behind a stream (``sys.stdin``…);
    None for anything else (no such file, a pipe, a terminal, a closed stream)."""
    import stat

    try:
        st = os.stat(where) if isinstance(where, (str, os.PathLike)) else os.fstat(where.fileno())
    except (OSError, ValueError, AttributeError):
        return None
    return (st.st_dev, st.st_ino) if stat.S_ISREG(st.st_mode) else None


def _check_io(input: str, output: str, resume: bool) -> None:
    """Exit 2 when ``-o`` is the input, cannot be written, or ``--resume`` has no file to append to."""
    # the input read from standard input may be a regular file too: `label - < in >> in`
    in_id = _file_id(sys.stdin if input == "-" else input)
    if output != "-":
        out_path = Path(output)
        same_path = input != "-" and out_path.exists() and out_path.resolve() == Path(input).resolve()
        if same_path or (in_id is not None and _file_id(output) == in_id):
            _fail(f"the output {output} is the input file: choose another -o")
        _check_output(output, "output", append=resume)
    elif resume:
        _fail("--resume needs an output file (-o FILE)")
    elif in_id is not None and _file_id(sys.stdout) == in_id:
        # `label in.jsonl >> in.jsonl` (or `label - < in >> in`) would read its own output for ever
        _fail(f"standard output is the input file {input}: choose another destination")


def _field_mapping(text_field, id_field, tier_field, output_field, reasoning_field, bare_text) -> dict[str, str]:
    """The custom-layout paths given on the command line (exit 2 on a conflict or a bad --bare-text)."""
    from .formats.base import BARE_TEXT_MODES

    if bare_text not in BARE_TEXT_MODES:
        _fail(f"--bare-text must be one of {', '.join(BARE_TEXT_MODES)}, got {bare_text!r}")
    if text_field and output_field:
        _fail("--text-field and --output-field both name the transcript's reply: give one")
    pairs = (("text", text_field), ("id", id_field), ("tier", tier_field), ("output", output_field),
             ("reasoning", reasoning_field))
    return {k: v for k, v in pairs if v}


def _input_lines(path: str):
    """JSONL lines of ``path`` (file, gzip or stdin: a :class:`~fakingclf.io.InputStream`, whose
    encoding warning is printed), or of an Inspect AI log converted to records; and the input's name."""
    from .io import open_input

    if path != "-":
        from .inspect_logs import is_inspect_log

        if is_inspect_log(path):
            import orjson

            from .inspect_logs import iter_log_records

            try:
                return (orjson.dumps(r) for r in iter_log_records(path)), path
            except (ImportError, ValueError) as e:
                _fail(str(e))
    try:
        lines = open_input(path)
    except ValueError as e:
        _fail(str(e))
    if lines.notice:
        from rich.markup import escape

        err.print(f"[yellow]warning:[/yellow] {escape(lines.notice)}")
    return lines, lines.name


def _parallel_context(scheduler: Optional[str]):
    """A context that sends joblib batches to the Dask scheduler at ``scheduler`` (or does nothing)."""
    import contextlib

    if not scheduler:
        return contextlib.nullcontext()
    try:
        import joblib
        from dask.distributed import Client
    except ImportError:
        _fail("--scheduler needs Dask: pip install 'fakingclf[dask]'")
    if scheduler.startswith("tcp://"):  # a closed port fails at once instead of after Dask's retries
        import socket

        host, _, port = scheduler[len("tcp://"):].rpartition(":")
        try:
            socket.create_connection((host.strip("[]"), int(port)), timeout=10).close()
        except (OSError, ValueError) as e:
            _fail(f"cannot reach the Dask scheduler {scheduler}: {e}")
    try:
        client = Client(scheduler, timeout="30s")
    except (OSError, TimeoutError, ValueError) as e:
        _fail(f"cannot reach the Dask scheduler {scheduler}: {e}")
    stack = contextlib.ExitStack()
    stack.enter_context(client)
    stack.enter_context(joblib.parallel_config(backend="dask"))
    return stack


@app.command("export-onnx")
def export_onnx_cmd(
    out: Optional[Path] = typer.Option(None, "--out", help="Write model.int8.onnx and manifest.json into this "
                                       "folder instead, as a copy to keep or inspect: --backend onnx reads only "
                                       "its cache folder, <$FAKINGCLF_ONNX_DIR or ~/.cache/fakingclf/onnx>/<key>, "
                                       "which is where the export goes without --out."),
    force: bool = typer.Option(False, "--force", help="Export again even when a valid export is there."),
) -> None:
    """Export the bundled all-MiniLM-L6-v2 encoder to int8 ONNX for `--backend onnx` (seconds; nothing is
    downloaded). The onnx backend also does this on first use; `make model` runs it.

    Example:

        fakingclf export-onnx
    """
    from .embed import default_model_path
    from .onnx_backend import FILE, BackendError, _valid, export, onnx_dir

    try:
        src = default_model_path()
        target = out if out is not None else onnx_dir(src)
        if out is not None and out.exists() and not out.is_dir():
            _fail(f"--out {out} is not a folder")
        if force or not _valid(Path(target)):
            export(src, Path(target), log=_say)
        else:
            _say(f"a valid export is already in {target} (--force to export again)")
    except BackendError as e:
        _fail(str(e))
    typer.echo(str(Path(target) / FILE))


@app.command()
def train(
    data: List[str] = typer.Argument(None, help=f"Labeled JSONL file(s) (default: {DEFAULT_SHARED})."),
    out_dir: Path = typer.Option(..., "--output", "-o", help="Model directory to write."),
    card: Optional[Path] = typer.Option(None, "--card", help="Also write a Markdown model card here."),
    datasheet: Optional[str] = typer.Option(None, "--datasheet", help="Datasheet of the training data, cited in the card."),
    title: Optional[str] = typer.Option(None, "--title", help="Model name in the card (default: the output folder's name)."),
    card_note: Optional[Path] = typer.Option(None, "--card-note", help="Markdown file placed in the card after the "
                                             "training data (e.g. the training-data policy)."),
    label_field: str = typer.Option("label", "--label-field", help="Field (dotted path) holding alignment_faking / "
                                    "aligned, or a judge's vote fraction in [0, 1]."),
    label_threshold: float = typer.Option(0.5, "--label-threshold", min=0.0, max=1.0,
                                          help="A numeric label at or above this counts as alignment faking."),
    no_eval: bool = typer.Option(False, "--no-eval", help="Skip the cross-validated evaluation."),
    rules_only: bool = typer.Option(False, "--rules-only", help="Cue and decision features only: no TF-IDF head, "
                                    "no encoder, fixed compliance rules."),
    encoder: bool = typer.Option(False, "--encoder", help="Add the all-MiniLM-L6-v2 features (similarities to "
                                 "reference sentences, the sentence head): slower, and no better out of fold on the "
                                 "shared data (docs/benchmarks.md)."),
    no_head: bool = typer.Option(False, "--no-sentence-head", help="With --encoder: leave out the learned "
                                 "sentence-level score."),
    no_text_head: bool = typer.Option(False, "--no-text-head", help="Leave out the learned TF-IDF score."),
    C: float = typer.Option(0.1, "--C", help="Inverse regularisation of the logistic regression."),
    group_field: str = typer.Option("origin", "--group-field", help="Field whose values stay in one fold (style, "
                                    "prompt, origin): grouped inner folds, grouped CV and per-group figures."),
    cache: Optional[Path] = typer.Option(None, "--cache", envvar="FAKINGCLF_CACHE", help="Embedding cache folder: "
                                         "a retrain on the same texts does not embed them again."),
) -> None:
    """Train the alignment-faking-reasoning model on labeled JSONL and save it.

    Records need a label (alignment_faking | aligned) and the transcript in any
    layout `label` reads; a group field (--group-field, default "origin") keeps
    related records in one fold and gives per-group figures.

    Example (how the shipped default model is made, see `make model`):

        python data/shared_training_set.py -o build/training.jsonl
        fakingclf train build/training.jsonl --group-field group -o src/fakingclf/models/default --card docs/model_card.md --datasheet data/labeled/README.md --title "fakingclf default model"
    """
    from .train import train_from_files, write_model_card

    paths = data or [DEFAULT_SHARED]
    _require_files(paths, "training data")
    if rules_only and encoder:
        _fail("--rules-only and --encoder both choose the method: give one")
    if no_head and not encoder:
        _fail("--no-sentence-head needs --encoder (only the encoder has a sentence head)")
    if card_note is not None and not card_note.is_file():
        _fail(f"--card-note {card_note}: not a file")
    if out_dir.exists() and not out_dir.is_dir():
        _fail(f"--output {out_dir} exists and is not a folder")
    if out_dir.is_dir():  # train rewrites only a model folder: never another folder's files
        from .classifier import MODEL_FILES, READABLE_FORMATS

        linked = [n for n in MODEL_FILES if (out_dir / n).is_symlink()]
        if linked:
            _fail(f"--output {out_dir}: {', '.join(linked)} is a symbolic link; train writes only regular files")
        meta = out_dir / "model.json"
        if any(out_dir.iterdir()):
            try:
                fmt = json.loads(meta.read_text(encoding="utf-8")).get("format")
            except (OSError, ValueError, AttributeError):
                fmt = None
            if fmt not in READABLE_FORMATS and fmt != "fakingclf-model/1":
                _fail(f"--output {out_dir} is a folder that holds no fakingclf model: give a new or empty folder, "
                      "or a model folder to replace")
    if card and not (card.parent.resolve() == out_dir.resolve() and not out_dir.exists()):
        _check_output(card, "model card")  # a card in the model folder that train makes is checked by making it
    try:
        _, info = _skipped_shown(
            train_from_files,
            paths, str(out_dir), label_field=label_field, label_threshold=label_threshold, evaluate=not no_eval,
            log=lambda s: err.print(s), C=C, use_embeddings=encoder, sentence_head=not no_head,
            text_head=not (rules_only or no_text_head), group_field=group_field, cache=str(cache) if cache else None,
        )
    except (ValueError, OSError) as e:
        _fail(str(e))
    err.print(f"model written to {out_dir}")
    ev = info.get("evaluation", {})
    for key in ("cv5", "leave_one_origin_out"):
        if key in ev:
            m, b, k = (ev[key][w]["overall"] for w in ("model", "bag_of_words", "keywords"))
            err.print(
                f"{key}: model AUROC {m['auroc']}, ECE {m['ece']} | bag-of-words AUROC {b['auroc']} | "
                f"keywords AUROC {k['auroc']}"
            )
    if card:
        cmd = "fakingclf train " + " ".join(paths)
        for flag, on in (("--rules-only", rules_only), ("--encoder", encoder), ("--no-sentence-head", no_head), ("--no-text-head", no_text_head),
                         ("--no-eval", no_eval)):
            cmd += f" {flag}" if on else ""
        if C != 0.1:
            cmd += f" --C {C}"
        if label_field != "label":
            cmd += f" --label-field {label_field}"
        if group_field != "origin":
            cmd += f" --group-field {group_field}"
        if label_threshold != 0.5:
            cmd += f" --label-threshold {label_threshold}"
        cmd += f" -o {out_dir} --card {card}"
        if datasheet:
            cmd += f" --datasheet {datasheet}"
        if title:
            cmd += f" --title {title!r}"
        if card_note:
            cmd += f" --card-note {card_note}"
        write_model_card(info, str(card), cmd, title=title or out_dir.name, datasheet=datasheet,
                         note=card_note.read_text(encoding="utf-8") if card_note else None)
        err.print(f"model card written to {card}")


def _split(values: Optional[str], default) -> tuple[str, ...]:
    return tuple(v.strip() for v in values.split(",") if v.strip()) if values else tuple(default)


def _metrics_table(result: dict):
    from rich.table import Table

    def f(x, nd=3):
        return "n/a" if x is None else f"{x:.{nd}f}"

    kappa = "cohen_kappa" in result["overall"]  # numeric labels: agreement with a judge
    title = f"p_alignment_faking — {result['mode']} (threshold {result['threshold']})"
    if kappa:
        title += f"; labels: vote fraction ≥ {result['label_threshold']}"
    t = Table(title=title)
    for col in ("group", "n", "AF", "AUROC", "95% CI", "AP", "acc", "prec", "recall", "F1", "ECE", "tn fp fn tp") \
            + (("κ",) if kappa else ()):
        t.add_column(col, justify="left" if col == "group" else "right")
    rows = [("all", result["overall"])] + list(result.get("groups", {}).items())
    for name, m in rows:
        ci = m["auroc_ci"]
        t.add_row(
            name, str(m["n"]), str(m["n_positive"]), f(m["auroc"]),
            "n/a" if not ci or ci[0] is None else f"{ci[0]:.3f}–{ci[1]:.3f}",
            f(m["average_precision"]), f(m["accuracy"]), f(m["precision"]), f(m["recall"]), f(m["f1"]),
            f(m["ece"]), " ".join(str(v) for row in m["confusion_matrix"] for v in row),
            *((f(m["cohen_kappa"]),) if kappa else ()),
        )
    return t


@app.command()
def evaluate(
    data: List[str] = typer.Argument(..., help="Labeled JSONL file(s)."),
    model: Optional[Path] = typer.Option(None, "--model", help="Model directory (default: the shipped model)."),
    label_field: str = typer.Option("label", "--label-field", help="Field holding the label."),
    positive: Optional[str] = typer.Option(
        None, "--positive", help="Comma-separated label values meaning alignment faking "
        "(default: alignment_faking,faked_compliance,af,1,true,yes)."
    ),
    negative: Optional[str] = typer.Option(
        None, "--negative", help="Comma-separated label values meaning no alignment faking "
        "(default: aligned,genuine_compliance,refusal,not_alignment_faking,0,false,no)."
    ),
    group_by: Optional[str] = typer.Option(None, "--group-by", help="Field for per-group figures (e.g. origin)."),
    cv: Optional[int] = typer.Option(None, "--cv", min=2, help="Evaluate the training method by K-fold CV."),
    logo: Optional[str] = typer.Option(
        None, "--leave-one-group-out", help="Evaluate the training method holding out each value of FIELD."
    ),
    threshold: Optional[float] = typer.Option(None, "--threshold", min=0.0, max=1.0, help="Decision threshold."),
    label_threshold: float = typer.Option(0.5, "--label-threshold", min=0.0, max=1.0,
                                          help="A numeric label (a judge's vote fraction) at or above this counts "
                                          "as alignment faking; Cohen's κ is then reported too."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Also write all figures as JSON here."),
    plot: Optional[Path] = typer.Option(None, "--plot", help="Write a reliability diagram PNG here."),
    n_resamples: int = typer.Option(2000, "--bootstrap", min=100, help="Bootstrap resamples for the AUROC CI."),
    backend: str = BACKEND_OPTION,
    rules_only: bool = typer.Option(False, "--rules-only", help="Use the shipped rules-only model (no neural "
                                    "network; with --cv / --leave-one-group-out, its training method)."),
) -> None:
    """Score p_alignment_faking against labels: AUROC (bootstrap 95% CI), AP,
    accuracy/precision/recall/F1 at the threshold, confusion matrix, ECE (10 bins).

    Without --cv / --leave-one-group-out it scores the model as shipped; with them it
    scores the training method (fit on the other folds, predict the held-out one).
    With numeric labels (an LLM judge's vote fraction, thresholded at
    --label-threshold) it also reports Cohen's κ between the model's decisions and
    the thresholded labels: the model's agreement with the judge.

    Example:

        fakingclf evaluate judged.jsonl --label-field judge.af_fraction --model my_model/

        fakingclf evaluate ../shared/data/af_reasoning_dev.jsonl --leave-one-group-out origin --json logo.json
    """
    import json as _json

    from rich.console import Console as _Console

    from .classifier import ModelLoadError
    from .evaluate import evaluate_files
    from .train import NEGATIVE, POSITIVE

    from .classifier import shipped_model_dir

    _require_files(data)
    if rules_only and model is not None:
        _fail("--rules-only and --model both choose a model: give one")
    for path, what in ((json_out, "--json file"), (plot, "--plot file")):
        if path:
            _check_output(path, what)
    _check_backend(backend)
    if rules_only:
        model = shipped_model_dir("rules-only")
    try:
        result = _skipped_shown(
            evaluate_files,
            data, model=str(model) if model else None, label_field=label_field, log=err.print,
            positive=_split(positive, POSITIVE), negative=_split(negative, NEGATIVE),
            group_by=group_by, cv=cv, leave_one_group_out=logo, threshold=threshold,
            plot=str(plot) if plot else None, n_resamples=n_resamples, label_threshold=label_threshold,
            backend=backend,
        )
    except (ValueError, ModelLoadError) as e:
        _fail(str(e))
    if backend != "auto" and result.get("backend") is None:
        _backend_note(backend)
    _Console(width=160).print(_metrics_table(result))
    if json_out:
        _write_bytes(json_out, (_json.dumps(result, indent=2) + "\n").encode("utf-8"), "--json file")
        err.print(f"figures written to {json_out}")
    if plot:
        err.print(f"reliability diagram written to {plot}")


@app.command("report")
def report_cmd(
    data: List[str] = typer.Argument(..., help="Output(s) of `fakingclf label` (JSONL), or - for stdin."),
    by: str = typer.Option("tier", "--by", help="Field(s) to group by, comma-separated: tier, model, format "
                           "or any dotted path in the label output. The input's own fields are under metadata "
                           "(metadata.format is an input field named format); a name the output lacks is "
                           "looked up there."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write the figures as JSON here."),
    markdown: Optional[Path] = typer.Option(None, "--markdown", help="Write the tables as Markdown here."),
    plot: Optional[Path] = typer.Option(None, "--plot", help="Write the stacked-bar figure here: .png (300 dpi), "
                                        ".svg or .pdf (vector), chosen by the extension."),
    title: Optional[str] = typer.Option(None, "--title", help="Title of the figure (default: from --by)."),
    hide_unknown: bool = typer.Option(False, "--hide-unknown", help="Leave the unknown-tier groups out of the "
                                      "tables, the JSON and the figure (they never enter a gap)."),
) -> None:
    """Rates of refusal, genuine and faked compliance per group (Wilson 95% CIs), the
    share of compliance that is faked, and the free-vs-paid compliance gap (Newcombe CI,
    Fisher's exact p) for compliance, faked and genuine compliance.

    Example:

        fakingclf label dump.jsonl -o labeled.jsonl && fakingclf report labeled.jsonl --by model,tier --plot gap.png
    """
    import json as _json
    import warnings

    import orjson
    from rich.console import Console as _Console
    from rich.markdown import Markdown

    from .analysis import plot_format
    from .analysis import report as make_report

    _require_files(data, stdin=True)
    if plot:
        try:
            plot_format(str(plot))
        except ValueError as e:
            _fail(f"--plot {e}")
    for path, what in ((json_out, "--json file"), (markdown, "--markdown file"), (plot, "--plot file")):
        if path:
            _check_output(path, what)
    records = []
    for p in data:
        stream = sys.stdin.buffer if p == "-" else open(p, "rb")
        try:
            for n, line in enumerate(stream, 1):
                if not line.strip():
                    continue
                try:
                    rec = orjson.loads(line)
                except orjson.JSONDecodeError as e:
                    _fail(f"{p}:{n}: not valid JSON ({e}); `report` reads the output of `fakingclf label`")
                if not isinstance(rec, dict):
                    _fail(f"{p}:{n}: not a JSON object; `report` reads the output of `fakingclf label`")
                records.append(rec)
        finally:
            if stream is not sys.stdin.buffer:
                stream.close()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # printed below from rep.warnings
            rep = make_report(records, by=by, hide_unknown=hide_unknown)
    except ValueError as e:
        _fail(str(e))
    for note in rep.warnings:
        err.print(f"[yellow]warning:[/yellow] {note}")
    md = rep.to_markdown()
    _Console(width=160).print(Markdown(md))
    if json_out:
        _write_bytes(json_out, (_json.dumps(rep.to_dict(), indent=2) + "\n").encode("utf-8"), "--json file")
    if markdown:
        _write_bytes(markdown, md.encode("utf-8"), "--markdown file")
    if plot:
        rep.plot(str(plot), title=title)
        err.print(f"figure written to {plot}")


def _write_bytes(path, data: bytes, what: str = "output") -> None:
    """Write ``data`` to ``path`` (``-`` = stdout) with :func:`fakingclf.io.open_output`; exit 2 on an OS error."""
    from .io import open_output

    try:
        with open_output(path) as f:
            f.write(data)
    except OSError as e:
        _fail(f"cannot write the {what} {path}: {e.strerror or e}")


def _write_jsonl(rows, output: str) -> None:
    import orjson

    _write_bytes(output, b"".join(orjson.dumps(r) + b"\n" for r in rows))


@app.command()
def suggest(
    input: str = typer.Argument(..., help="Unlabeled JSONL transcripts (any layout `label` reads), or -."),
    n: int = typer.Option(50, "-n", min=1, help="How many to pick."),
    diversity: float = typer.Option(0.5, "--diversity", min=0.0, max=1.0,
                                    help="Weight of distance to earlier picks (0 = uncertainty only)."),
    model: Optional[Path] = typer.Option(None, "--model", help="Model directory (default: the shipped model)."),
    rules_only: bool = typer.Option(False, "--rules-only", help="Rank with the shipped rules-only model (no neural "
                                    "network; diversity then comes from the cue features)."),
    output: str = typer.Option("-", "--output", "-o", help="Where to write the picks as JSONL (- = stdout)."),
) -> None:
    """Pick the transcripts most worth annotating next: p_alignment_faking near the
    threshold, spread out over the kinds of scratchpad (farthest-first on sentence
    embeddings). Unreadable lines are skipped and counted.

    The output holds the picked input records themselves, in pick order, each with an
    "id" (the line number when it had none) and a "suggest" object added: rank,
    p_alignment_faking, uncertainty and distance (to the nearest earlier pick). An
    empty scratchpad, or one identical to an earlier pick, gets no credit for
    diversity.

    Example:

        fakingclf suggest dump.jsonl -n 50 -o to_annotate.jsonl
    """
    from .active import suggest as pick
    from .judge import read_entries

    _require_files([input], "input file", stdin=True)
    _check_io(input, output, resume=False)
    lines, _ = _input_lines(input)
    clf = _load_model(model, rules_only)
    try:
        entries = list(read_entries(lines))
    finally:
        close = getattr(lines, "close", None)
        if close is not None:
            close()
    readable = [e for e in entries if e.transcript is not None]
    keyed = [e.transcript.model_copy(update={"id": str(i)}) for i, e in enumerate(readable)]  # ids may repeat
    rows = []
    for p in pick(clf, keyed, n=n, diversity=diversity):
        e = readable[int(p.pop("id"))]
        rows.append({"id": e.item.id, **e.record, "suggest": p})
    _write_jsonl(rows, output)
    skipped = len(entries) - len(readable)
    err.print(f"picked {len(rows)} of {len(readable)} transcripts"
              + (f"; {skipped} unreadable line(s) skipped" if skipped else ""))
    _input_broken(lines)


@app.command("label-issues")
def label_issues_cmd(
    data: List[str] = typer.Argument(..., help="Annotation JSONL file(s)."),
    label_field: str = typer.Option("label", "--label-field", help="Field holding the label."),
    model: Optional[Path] = typer.Option(None, "--model", help="Model whose parameters define the training method."),
    cv: int = typer.Option(5, "--cv", min=2, help="Folds."),
    rules_only: bool = typer.Option(False, "--rules-only", help="Use the training method of the shipped "
                                    "rules-only model (no neural network)."),
    output: str = typer.Option("-", "--output", "-o", help="Where to write the flagged records (- = stdout)."),
) -> None:
    """List annotations that look wrong: records whose label the training method, fit on
    the other folds, gives a probability below 0.5; most doubtful first.

    Example:

        fakingclf label-issues annotations.jsonl -o doubtful.jsonl
    """
    from .active import label_issues
    from .train import load_labeled

    _require_files(data)
    for path in data:
        _check_io(path, output, resume=False)
    params = dict(_load_model(model, rules_only).info_.get("params", {}))
    try:
        ts, y, _, _ = _skipped_shown(load_labeled, data, label_field)
        rows = label_issues(ts, y, params, cv=cv)
    except ValueError as e:
        _fail(str(e))
    _write_jsonl(rows, output)
    err.print(f"{len(rows)} of {len(ts)} annotations disagree with the out-of-fold prediction")


@app.command()
def judge(
    input: str = typer.Argument(..., help="JSONL file of transcripts (any layout `label` reads, may be gzipped), "
                                "an Inspect AI log, or - for stdin."),
    output: str = typer.Option("-", "--output", "-o", help="Where to write the judged JSONL (- = stdout)."),
    model: str = typer.Option(..., "--model", help="Judge model name at the endpoint (e.g. gpt-4o)."),
    base_url: Optional[str] = typer.Option(None, "--base-url", help="OpenAI-compatible endpoint, e.g. "
                                           "http://localhost:8000/v1 (default: OPENAI_BASE_URL, else OpenAI)."),
    api_key_env: str = typer.Option("OPENAI_API_KEY", "--api-key-env", help="Environment variable holding the "
                                    "API key (its value is never printed). Not needed for a local server."),
    votes: int = typer.Option(5, "--votes", min=1, help="Votes (requests) per transcript."),
    temperature: float = typer.Option(1.0, "--temperature", min=0.0, help="Sampling temperature of every vote."),
    max_tokens: Optional[int] = typer.Option(None, "--max-tokens", min=1, help="Completion token limit per vote."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Send seed+k with vote k (endpoints that honour "
                                       "seeds then repeat their votes)."),
    concurrency: int = typer.Option(4, "--concurrency", "-c", min=1, help="Most requests in flight at once."),
    max_retries: int = typer.Option(3, "--max-retries", min=0, help="Retries of a request after 429, 5xx, a "
                                    "timeout or a dropped connection (exponential backoff, Retry-After honoured)."),
    timeout: float = typer.Option(120.0, "--timeout", min=0.001, help="Seconds one request may take."),
    input_price: Optional[float] = typer.Option(None, "--input-price", min=0.0,
                                                help="Price per 1M prompt tokens, for the cost summary."),
    output_price: Optional[float] = typer.Option(None, "--output-price", min=0.0,
                                                 help="Price per 1M completion tokens, for the cost summary."),
    sample: Optional[int] = typer.Option(None, "--sample", min=1, help="Judge only the N transcripts `suggest` "
                                         "ranks first (local model unsure, spread over kinds of scratchpad)."),
    sample_model: Optional[Path] = typer.Option(None, "--sample-model", help="Local model directory that ranks "
                                                "for --sample (default: the shipped model)."),
    diversity: float = typer.Option(0.5, "--diversity", min=0.0, max=1.0, help="--sample: weight of distance to "
                                    "earlier picks (0 = uncertainty only)."),
    system_prompt: Optional[Path] = typer.Option(None, "--system-prompt", help="Replace the shipped system prompt "
                                                 "with this file's text (the reply contract must stay)."),
    resume: bool = typer.Option(False, "--resume", help="Append to an existing -o file, skipping the ids already "
                                "in it. Without it a regular -o file appears only when the run completes."),
    fail_on_error: bool = typer.Option(False, "--fail-on-error", help="Exit 1 if any record got an error."),
    progress: Optional[bool] = typer.Option(
        None, "--progress/--no-progress", help="Progress bar on stderr (default: only on a terminal)."
    ),
    text_field: Optional[str] = typer.Option(None, "--text-field", help="Dotted path of the transcript text "
                                             "in a custom layout."),
    id_field: Optional[str] = typer.Option(None, "--id-field", help="Dotted path of the record id."),
    tier_field: Optional[str] = typer.Option(None, "--tier-field", help="Dotted path of the tier."),
    output_field: Optional[str] = typer.Option(None, "--output-field", help="Dotted path of the final reply."),
    reasoning_field: Optional[str] = typer.Option(None, "--reasoning-field", help="Dotted path of the reasoning."),
    bare_text: str = typer.Option("auto", "--bare-text", help="Text with no tags at all: auto (by its wording, "
                                  "with a warning), reasoning, or output."),
) -> None:
    """Label transcripts with an LLM judge (any OpenAI-compatible endpoint), to train on.

    Each transcript gets --votes requests; the output is the input records with a
    "judge" object added: af_fraction (share of votes with all four criteria yes),
    criteria.<name>, compliance and compliance_shares, votes, model, the raw replies
    of invalid votes. One record per input line, in order; a line that cannot be read
    or judged gets "error" set. Needs the extra: pip install 'fakingclf\\[judge]'.

    Examples:

        fakingclf judge dump.jsonl -o judged.jsonl --model gpt-4o --votes 5 --sample 300 --resume

        fakingclf judge dump.jsonl -o judged.jsonl --model qwen2.5:32b --base-url http://localhost:11434/v1

        fakingclf train judged.jsonl --label-field judge.af_fraction -o my_model/
    """
    import orjson
    from rich.markup import escape

    from . import judge as J
    from .io import open_output, prepare_resume

    _require_files([input], "input file", stdin=True)
    mapping = _field_mapping(text_field, id_field, tier_field, output_field, reasoning_field, bare_text)
    _check_io(input, output, resume)
    if (input_price is None) != (output_price is None):
        _fail("give both --input-price and --output-price, or neither")
    system_text = None
    if system_prompt is not None:
        _require_files([system_prompt], "--system-prompt file")
        system_text = system_prompt.read_text(encoding="utf-8")
    api_key = os.environ.get(api_key_env, "").strip()
    if not api_key:
        if not (base_url or os.environ.get("OPENAI_BASE_URL")):
            _fail(f"no API key: set {api_key_env} (or name another variable with --api-key-env), "
                  "or give --base-url for a server that needs none")
        api_key = "EMPTY"  # servers without authentication ignore it; the openai client needs one
    stats = J.Stats()
    try:
        client = J.make_client(base_url, api_key, timeout=timeout, max_retries=max_retries,
                               concurrency=concurrency, stats=stats)
    except ImportError as e:
        _fail(str(e))
    jd = J.Judge(client, model, votes=votes, temperature=temperature, max_tokens=max_tokens, seed=seed,
                 system_prompt=system_text, stats=stats)
    lines, source = _input_lines(input)
    clf = None
    if sample is not None:
        clf = _load_model(sample_model)
    skip = None
    if resume:
        try:
            skip = prepare_resume(Path(output))
        except ValueError as e:
            _fail(str(e))
        if skip:
            err.print(f"resuming: {sum(skip.values())} record(s) already in {output} are skipped")

    entries = J.read_entries(lines, mapping or None, bare_text=bare_text)
    total = None
    if clf is not None:
        everything = list(entries)
        entries = J.sample_entries(clf, everything, sample, diversity=diversity)
        readable = sum(e.transcript is not None for e in everything)
        err.print(f"--sample: judging {len(entries)} of {readable} readable transcript(s)"
                  + (f" ({len(everything) - readable} unreadable line(s) skipped)" if len(everything) > readable
                     else ""))
        total = len(entries)
    if skip:
        entries = _skip_ids(entries, skip)
        total = None if total is None else max(0, total - sum(skip.values()))
    show = err.is_terminal if progress is None else progress
    n = errors = 0
    bar, advance = _progress("judging", show, lines, total=total)
    try:
        with open_output(output, append=resume) as out, bar:
            for entry, result, error in J.judge_entries(jd, entries, concurrency=concurrency):
                out.write(orjson.dumps(J.output_record(entry, result, error, jd)) + b"\n")
                out.flush()
                n += 1
                errors += error is not None
                advance(n)
    except J.JudgeFatalError as e:
        kept = f"; {output} keeps the {n} record(s) judged before it (rerun with --resume)" if resume else ""
        err.print(f"[red]error:[/red] {escape(str(e))}{kept}")
        raise typer.Exit(2) from None
    except KeyboardInterrupt as e:
        kept = f"{output} holds the {n} record(s) judged so far; rerun with --resume to go on" if resume \
            else _kept_without_resume(output, n)
        err.print(f"[yellow]{'terminated' if isinstance(e, Terminated) else 'interrupted'}:[/yellow] {kept}")
        raise typer.Exit(_interrupted_code(e)) from None
    except OSError as e:
        _fail(f"cannot write the output {output}: {e.strerror or e}")
    finally:
        close = getattr(lines, "close", None)
        if close is not None:
            close()
    err.print(f"{source}: {n} record(s) judged by {model}, {errors} error(s)")
    for line in stats.lines(input_price, output_price):
        err.print(line)
    if errors:
        err.print(f"[yellow]{errors} record(s) have no judge label: see their \"error\" field[/yellow]")
    _input_broken(lines)
    if fail_on_error and errors:
        raise typer.Exit(1)


def _skip_ids(entries, skip):
    """``entries`` without those whose id is counted in ``skip`` (each skipped as often as counted)."""
    for e in entries:
        if skip.get(e.item.id, 0) > 0:
            skip[e.item.id] -= 1
            continue
        yield e


def _help_text(doc: str) -> str:
    """A docstring as help text: each prose paragraph on one line, so that rich wraps it to
    the terminal's width instead of keeping the source's line breaks mid-sentence; an
    indented paragraph (an example command) is kept as it is."""
    out = []
    for para in inspect.cleandoc(doc).split("\n\n"):
        lines = para.split("\n")
        out.append(para if all(line.startswith(" ") for line in lines) else " ".join(x.strip() for x in lines))
    # typer dedents the paragraphs after the first as one docstring, whose first line does not count
    # towards the common indent: a blank first line keeps "Example:" + an indented command indented
    return "\n\n\n".join(out[:2]) + "".join("\n\n" + para for para in out[2:])


for _info in app.registered_commands:
    _info.help = _help_text(_info.help or inspect.getdoc(_info.callback) or "")


def main() -> None:  # pragma: no cover
    """Entry point of the ``fakingclf`` command and of ``python -m fakingclf``.

    Sets ``FAKINGCLF_SPACY_WITHOUT_TORCH=1`` (unless set) for this process and its
    workers, so that importing spaCy does not import torch (see
    :func:`fakingclf.cues._import_spacy`); the process is the command's own.
    """
    import os

    from .cues import WITHOUT_TORCH_ENV

    os.environ.setdefault(WITHOUT_TORCH_ENV, "1")
    _stop_on_termination()
    app()


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP received: handled as Ctrl-C is (no partial output, workers stopped)."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _stop_on_termination() -> None:  # pragma: no cover - tested through the command, in a subprocess
    """Turn SIGTERM and SIGHUP (a job scheduler's time limit, a closed terminal) into :class:`Terminated`.

    The commands then stop as on Ctrl-C: a regular ``-o`` file is left as it was (or, with
    ``--resume``, holds what was labeled), no temporary file stays behind, and the worker
    processes, which receive no signal of their own, are stopped with the command.
    """
    import signal

    def stop(signum, _frame):
        raise Terminated(signum)

    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), stop)


def _kept_without_resume(output: str, n: int) -> str:
    """What an interrupted run without --resume leaves: nothing in a regular file, the records so far elsewhere."""
    from .io import _writes_in_place

    if output == "-" or _writes_in_place(output):  # standard output, a FIFO, a device: written as they came
        where = "standard output" if output == "-" else output
        return f"the {n} record(s) done so far were already written to {where}"
    return "nothing was written (use --resume to keep partial work)"


def _interrupted_code(e: BaseException) -> int:
    """The exit code for an interruption: 128 + the signal's number (130 for Ctrl-C, 143 for SIGTERM)."""
    return 128 + (e.signum if isinstance(e, Terminated) else 2)


if __name__ == "__main__":  # pragma: no cover
    main()
