"""Throughput, start-up and memory of `fakingclf label`, each as a ratio to its floor (docs/benchmarks.md, "Speed").

Usage (from the repository root, after `make install`):

    .venv/bin/python benchmarks/speed.py [../shared/data/af_reasoning_dev.jsonl] \
        --sizes 1000,10000,50000 --doc docs/benchmarks.md --out benchmarks/speed.json

Inputs: the source transcripts (the shared development set, or any JSONL that
`fakingclf label` reads) resampled with replacement to each size, every line with a
unique id and a unique last scratchpad sentence ("(Benchmark note N.)"), so no two
lines share a whole text (they share all but that sentence with other lines). With
`--distinct FILES`, the same figures on every record of those files once: texts that
all differ.

Every figure is measured in the same run as its floor:

* **tokenizer floor**: spaCy's tokenizer alone (`nlp.make_doc`, the blank English
  pipeline the cue detector uses) over exactly the texts the rules-only pipeline
  tokenizes — every transcript's draft-masked scratchpad and its output, extracted
  beforehand and not timed — timed inside the process (start-up excluded) from a
  freshly built pipeline, whose caches fill on the way as the command's do, on one
  process and on two processes at once (each half the texts: the 2-core floor);
* **rules-only**: one `fakingclf label IN -o OUT --rules-only` process, timed from
  start to exit, then net of its start-up (the same command on a one-line input, run
  in the same rounds: see below); `--workers 2` likewise;
* **start-up**: one-line `label --rules-only` and one-line `label` (the default model)
  against `python -c "import spacy; spacy.blank('en')"`, each the median of three
  runs;
* **default model**: `fakingclf label` with the shipped default (no encoder) at the
  sizes up to `--max-full` (default 1000).

The throughput runs of one size take turns, `--repeat` rounds of them (default 3), each
command followed by its one-line start-up, and each figure is the median of its rounds
(net: the median time less the median start-up): a slow spell of a shared machine then
falls on the floors, the commands and their start-ups alike.

Peak resident memory is reported with every run: the largest resident set of the
command's processes (with `--workers 2`, of the parent and its workers, each alone),
measured from a small wrapper process so that the benchmark's own memory is not counted. The section ends with `benchmarks/speed_notes.md`,
the prose that reads the figures (keep it true when the figures change).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "fakingclf"]
ALL_MODES = ["tokenizer", "tokenizer-2", "rules", "rules-w2", "default"]
TITLES = {
    "tokenizer": "floor: spaCy tokenizer alone, 1 process",
    "tokenizer-2": "floor: spaCy tokenizer alone, 2 processes",
    "rules": "rules-only",
    "rules-w2": "rules-only, --workers 2",
    "default": "default model (no encoder)",
}

TOKENIZER_FLOOR = r"""
import json, sys, time
from fakingclf.cues import _blank
nlp = _blank()
texts = json.load(open(sys.argv[1], encoding="utf-8"))
part, parts = int(sys.argv[2]), int(sys.argv[3])
texts = texts[part::parts]
t0 = time.perf_counter()  # from a fresh pipeline, as the command starts: its caches fill on the way
for t in texts:
    nlp.make_doc(t)
print(time.perf_counter() - t0)
"""

SPACY_START = [sys.executable, "-c", "import spacy; spacy.blank('en')"]


# Runs a command and reports its wall time and peak memory. A child forked from this benchmark
# would start with the benchmark's own resident memory (which holds the inputs) and report it as
# its peak, so the command is started from this small process instead.
_MEASURE = r"""
import json, resource, subprocess, sys, time
t = time.perf_counter()
code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode
wall = time.perf_counter() - t
print(json.dumps({"code": code, "wall": wall, "rss_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
"""


def run_rss(cmd: list[str], env: dict) -> tuple[float, float]:
    """Run ``cmd`` (output discarded); return (wall seconds, peak RSS in MB of its largest process).

    The peak is the largest resident set of the command or of any process it waited for
    (its ``--workers``), not their sum.
    """
    proc = subprocess.run([sys.executable, "-c", _MEASURE, *cmd], capture_output=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"measuring {' '.join(cmd)} failed: {proc.stderr.decode(errors='replace')[-2000:]}")
    got = json.loads(proc.stdout.decode().strip().splitlines()[-1])
    if got["code"] != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {got['code']}: {proc.stderr.decode(errors='replace')[-2000:]}")
    return got["wall"], got["rss_kb"] / 1024.0


def texts_file(inp: Path, path: Path) -> int:
    """Write the texts the rules-only pipeline tokenizes for ``inp`` (masked scratchpads and outputs)."""
    from fakingclf.cues import mask_drafts
    from fakingclf.io import read_records

    texts = []
    with open(inp, "rb") as f:
        for it in read_records(f):
            texts += [mask_drafts(it.transcript.scratchpad), it.transcript.output or ""]
    path.write_text(json.dumps(texts), encoding="utf-8")
    return len(texts)


def tokenizer_floor(texts: Path, processes: int, env: dict) -> float:
    """Seconds for ``processes`` tokenizer processes at once to tokenize every text (the slowest one's time)."""
    procs = [subprocess.Popen([sys.executable, "-c", TOKENIZER_FLOOR, str(texts), str(k), str(processes)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env) for k in range(processes)]
    secs = []
    for p in procs:
        out, err = p.communicate()
        if p.returncode != 0:
            raise RuntimeError(f"tokenizer floor exited {p.returncode}: {err.decode(errors='replace')[-2000:]}")
        secs.append(float(out.decode().split()[-1]))
    return max(secs)


def median_wall(cmd: list[str], env: dict, k: int = 3) -> float:
    return statistics.median(run_rss(cmd, env)[0] for _ in range(k))


def make_input(source: Path, n: int, path: Path, seed: int = 0) -> None:
    """Write ``n`` lines resampled from ``source``, each with a unique id and scratchpad ending."""
    from fakingclf.transcript import Transcript

    rows = [json.loads(x) for x in source.read_text(encoding="utf-8").splitlines() if x.strip()]
    texts = []
    for r in rows:
        t = Transcript.from_record(r)
        texts.append((t.scratchpad, t.output, t.user_input, t.tier))
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            scratchpad, output, user_input, tier = texts[rng.randrange(len(texts))]
            rec = {"id": f"b{i}", "prompt": user_input or "", "reasoning": f"{scratchpad}\n(Benchmark note {i}.)",
                   "response": output or "", "tier": tier}
            f.write(json.dumps(rec) + "\n")


def distinct_input(paths: list[Path], path: Path) -> int:
    """Write every record of ``paths`` once, each with a unique id: texts that are all different."""
    n = 0
    with open(path, "w", encoding="utf-8") as f:
        for p in paths:
            for line in p.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    rec = json.loads(line)
                    rec["id"] = f"d{n}"
                    f.write(json.dumps(rec) + "\n")
                    n += 1
    return n


def measure(inp: Path, n: int, modes: list[str], args, one: Path, env: dict, work: Path, results: dict,
            kind: str = "resampled") -> None:
    """Run every mode on ``inp`` (``n`` lines) and append its figures to ``results["runs"]``.

    The modes run in turn, ``args.repeat`` rounds of them, so that a slow spell of a shared
    machine falls on every mode alike; each command runs on a one-line input too, in the same
    round, and its net time is the median of its rounds' times less the median of those
    start-ups. Every round's seconds are kept (``seconds_each``, ``startup_each``); peak
    memory is the largest of the rounds.
    """
    out = work / "out.jsonl"
    tf = work / f"texts-{kind}-{n}.json"
    todo = [m for m in modes if not (m == "default" and n > args.max_full)]
    if any(m in ("tokenizer", "tokenizer-2") for m in todo):
        n_texts = texts_file(inp, tf)
    times: dict[str, list[float]] = {m: [] for m in todo}
    starts: dict[str, list[float]] = {m: [] for m in todo}
    rss: dict[str, float] = {}
    for _ in range(args.repeat):
        for mode in todo:
            if mode in ("tokenizer", "tokenizer-2"):
                times[mode].append(tokenizer_floor(tf, 1 if mode == "tokenizer" else 2, env))
                continue
            starts[mode].append(run_rss(command(mode, one, out), env)[0])
            wall, mem = run_rss(command(mode, inp, out), env)
            with open(out, "rb") as f:
                n_out = sum(1 for _ in f)
            if n_out != n:
                raise RuntimeError(f"{mode} at {n} lines wrote {n_out} records")
            times[mode].append(wall)
            rss[mode] = max(rss.get(mode, 0.0), mem)
    for mode in todo:
        row = {"lines": n, "mode": mode, "input": kind}
        secs = statistics.median(times[mode])
        if mode in ("tokenizer", "tokenizer-2"):
            row.update(seconds=round(secs, 2), net_per_second=round(n / secs, 1), texts=n_texts)
        else:
            start = statistics.median(starts[mode])
            row.update(seconds=round(secs, 2), per_second=round(n / secs, 1), startup=round(start, 2),
                       net_per_second=round(n / max(secs - start, 1e-9), 1), peak_rss_mb=round(rss[mode], 1),
                       startup_each=[round(x, 2) for x in starts[mode]])
        row["seconds_each"] = [round(x, 2) for x in times[mode]]
        results["runs"].append(row)
        print(json.dumps(row), flush=True)


def command(mode: str, inp: Path, out: Path) -> list[str]:
    """The ``fakingclf label`` command of a mode."""
    cmd = CLI + ["label", str(inp), "-o", str(out)]
    if mode == "rules":
        cmd.append("--rules-only")
    elif mode == "rules-w2":
        cmd += ["--rules-only", "--workers", "2"]
    return cmd


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", nargs="?", default="../shared/data/af_reasoning_dev.jsonl")
    ap.add_argument("--sizes", default="1000,10000,50000")
    ap.add_argument("--modes", default=",".join(ALL_MODES))
    ap.add_argument("--max-full", type=int, default=1000, help="largest size for the default model")
    ap.add_argument("--startup-runs", type=int, default=3, help="runs per start-up figure (the median is kept)")
    ap.add_argument("--repeat", type=int, default=3, help="rounds of the throughput runs (the median is kept)")
    ap.add_argument("--distinct", default=None, metavar="FILES",
                    help="comma-separated JSONL files: also measure on their records, each once (all texts differ)")
    ap.add_argument("--doc", default=None, help="write the Speed section of this Markdown file")
    ap.add_argument("--out", default=None, help="also write the figures as JSON")
    ap.add_argument("--render", default=None, metavar="JSON",
                    help="measure nothing: write the section from a --out file of an earlier run (after editing "
                         "speed_notes.md)")
    args = ap.parse_args(argv)
    if args.render:
        results = json.loads(Path(args.render).read_text(encoding="utf-8"))
        a = results["args"]
        args.sizes, args.startup_runs, args.distinct = a["sizes"], a["startup_runs"], a.get("distinct")
        args.repeat = a.get("repeat", 1)
        sizes = [int(s) for s in args.sizes.split(",")]
        return _write(report(results, sizes, a["modes"], args), results, args)
    source = Path(args.data)
    if not source.is_file():
        sys.exit(f"{source} not found (pass a JSONL of transcripts)")
    sizes = [int(s) for s in args.sizes.split(",")]
    modes = [m for m in args.modes.split(",") if m]
    unknown = set(modes) - set(ALL_MODES)
    if unknown:
        sys.exit(f"unknown modes {sorted(unknown)}; choose among {ALL_MODES}")
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    work = Path(tempfile.mkdtemp(prefix="fakingclf-speed-"))
    results = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                           "platform": platform.platform()},
               "source": str(source), "runs": [], "startup": {},
               "args": {"sizes": args.sizes, "modes": modes, "startup_runs": args.startup_runs, "repeat": args.repeat,
                        "distinct": args.distinct}}
    try:
        one = work / "one.jsonl"
        make_input(source, 1, one)
        out = work / "out.jsonl"
        st = results["startup"]
        k = args.startup_runs
        st["spacy_blank"] = round(median_wall(SPACY_START, env, k), 2)
        st["rules_only"] = round(median_wall(CLI + ["label", str(one), "-o", str(out), "--rules-only"], env, k), 2)
        st["rules_only_w2"] = round(median_wall(CLI + ["label", str(one), "-o", str(out), "--rules-only",
                                                       "--workers", "2"], env, k), 2)
        st["default"] = round(median_wall(CLI + ["label", str(one), "-o", str(out)], env, k), 2)
        print(json.dumps(st), flush=True)
        for n in sizes:
            inp = work / f"in{n}.jsonl"
            make_input(source, n, inp)
            measure(inp, n, modes, args, one, env, work, results)
        if args.distinct:
            inp = work / "distinct.jsonl"
            n = distinct_input([Path(x) for x in args.distinct.split(",")], inp)
            measure(inp, n, [m for m in modes if m != "default"], args, one, env, work, results, kind="distinct")
    finally:
        shutil.rmtree(work, ignore_errors=True)

    _write(report(results, sizes, modes, args), results, args)


def _write(md: str, results: dict, args) -> None:
    print(md)
    if args.doc:
        sys.path.insert(0, str(Path(__file__).parent))
        from doc_sections import put_section

        put_section(Path(args.doc), "speed", md)
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


def cell(r: Optional[dict]) -> str:
    """One table cell: a command's rate, net rate, time and peak memory, or a floor's rate and time."""
    if not r:
        return "not run"
    if "peak_rss_mb" in r:
        return (f"{r['per_second']:,}/s ({r['net_per_second']:,}/s net) · {r['seconds']:,} s · "
                f"{r['peak_rss_mb']:,.0f} MB")
    units = f" ({r['units_per_second']:,} units/s)" if "units_per_second" in r else ""
    return f"{r['net_per_second']:,}/s{units} · {r['seconds']:,} s"


def report(results: dict, sizes: list[int], modes: list[str], args) -> str:
    """The Speed section as Markdown: throughput against the tokenizer floor, start-up against spaCy's."""
    runs = {(r["mode"], r["lines"]): r for r in results["runs"] if r.get("input", "resampled") == "resampled"}
    distinct = {r["mode"]: r for r in results["runs"] if r.get("input") == "distinct"}
    m, st = results["machine"], results["startup"]
    out = ["## Speed and memory", "",
           "Written by one command:", "",
           "```bash",
           f".venv/bin/python benchmarks/speed.py {results['source']} --sizes {args.sizes} "
           + (f"--distinct {args.distinct} " if args.distinct else "")
           + (f"--repeat {args.repeat} " if getattr(args, "repeat", 1) != 3 else "")
           + "--doc docs/benchmarks.md --out benchmarks/speed.json",
           "```", "",
           f"Machine: {m['cpus']} CPUs, no GPU, Python {m['python']}. Inputs are the development set resampled "
           "to each size, every line made unique. Each `fakingclf label` row is one process timed from start to "
           f"exit, the median of {getattr(args, 'repeat', 1)} round(s) in which every mode of the column runs in turn; "
           "*net* removes the same command's one-line start-up, run in the same rounds (its median). The floors are spaCy's tokenizer "
           "alone over exactly the texts the rules-only pipeline tokenizes (masked scratchpads and outputs), timed "
           "inside the process from a freshly built pipeline (its caches start empty, as the command's do). "
           "Memory is the peak resident set of the largest single process (with `--workers 2` three run: "
           "the command and two workers; their sum is not measured). See `benchmarks/speed.py` for the exact commands.", "",
           "| mode | " + " | ".join(f"{n:,} lines" for n in sizes) + " |",
           "|---|" + "---|" * len(sizes)]
    for mode in modes:
        out.append(f"| {TITLES[mode]} | " + " | ".join(cell(runs.get((mode, n))) for n in sizes) + " |")
    if distinct:
        n = next(iter(distinct.values()))["lines"]
        out += ["", f"The same on texts that all differ: every record of `{args.distinct}` once ({n:,} lines, "
                "several layouts). Pieces of text seen before are not tokenized again (`AtomEngine.tokens`), so "
                "resampled inputs, which repeat all but one sentence of each text, favour rules-only; here they do not.",
                "", "| mode | " + f"{n:,} lines |", "|---|---|"]
        for mode in modes:
            r = distinct.get(mode)
            if r:
                out.append(f"| {TITLES[mode]} | {cell(r)} |")
    out += ["", f"Start-up, median of {args.startup_runs} run(s) on a one-line input before the throughput runs "
            "(the net figures above use each size's own start-up runs, in `benchmarks/speed.json`): "
            f"`python -c \"import spacy; spacy.blank('en')\"` {st['spacy_blank']} s; "
            f"`label --rules-only` {st['rules_only']} s ({st['rules_only'] / st['spacy_blank']:.2f}x); "
            f"`label --rules-only --workers 2` {st['rules_only_w2']} s; "
            f"`label` with the default model {st['default']} s ({st['default'] / st['spacy_blank']:.2f}x).", ""]
    lines = ["Against the targets:", ""]
    for n in sizes:
        for mode, floor in (("rules", "tokenizer"), ("rules-w2", "tokenizer-2")):
            r, f = runs.get((mode, n)), runs.get((floor, n))
            if r and f:
                lines.append(f"- {TITLES[mode]} at {n:,} lines: {r['net_per_second']:,}/s net, "
                             f"{r['net_per_second'] / f['net_per_second']:.2f}x its floor ({f['net_per_second']:,}/s; "
                             "target ≥ 0.5x and ≥ 2,000/s on 2 cores).")
    for mode, floor in (("rules", "tokenizer"), ("rules-w2", "tokenizer-2")):
        r, f = distinct.get(mode), distinct.get(floor)
        if r and f:
            lines.append(f"- {TITLES[mode]} on the distinct texts: {r['net_per_second']:,}/s net, "
                         f"{r['net_per_second'] / f['net_per_second']:.2f}x its floor ({f['net_per_second']:,}/s).")
    lines.append(f"- One-line `label --rules-only`: {st['rules_only'] / st['spacy_blank']:.2f}x the spaCy start-up "
                 "(target ≤ 1.5x).")
    for mode in ("rules", "rules-w2", "default"):
        have = [runs[(mode, n)] for n in sizes if (mode, n) in runs]
        if len(have) >= 2:
            lines.append(f"- Peak memory, {TITLES[mode]}: {have[0]['peak_rss_mb']:,.0f} MB at {have[0]['lines']:,} → "
                         f"{have[-1]['peak_rss_mb']:,.0f} MB at {have[-1]['lines']:,} lines "
                         f"({have[-1]['peak_rss_mb'] / have[0]['peak_rss_mb']:.2f}x).")
    notes = Path(__file__).with_name("speed_notes.md")
    tail = ["", notes.read_text(encoding="utf-8").rstrip()] if notes.is_file() else []
    return "\n".join(out + lines + tail) + "\n"


if __name__ == "__main__":
    main()
