"""Throughput and memory of `fakingclf label` at 1k / 10k / 50k lines (docs/benchmarks.md, "Speed").

Usage (from the repository root, after `make install`):

    .venv/bin/python benchmarks/speed.py [../shared/data/af_reasoning_dev.jsonl] \
        --sizes 1000,10000,50000 --doc docs/benchmarks.md --out benchmarks/speed.json

Inputs: the source transcripts (the shared development set, or any JSONL that
`fakingclf label` reads) resampled with replacement to each size, every line with a
unique id and a unique last scratchpad sentence ("(Benchmark note N.)"), so no two
lines share a text and the embedding cache cannot hit within a run.

Every measurement is one `fakingclf label IN -o OUT` process (or the floor script),
timed from start to exit, model loading included, with its peak resident memory
(ru_maxrss of that child). Modes:

* floor: a minimal script that loads all-MiniLM-L6-v2 and calls
  `SentenceTransformer.encode` (batch 64) on exactly the sentence units the pipeline
  embeds (precomputed with `fakingclf.embed.split_units`, not timed) — the cost of the
  neural network alone;
* full: the default model, no cache;
* full, cache cold: the default model with `--cache` on an empty cache (fills it);
* full, cache warm: the same command again (every text cached);
* rules-only: `--rules-only`;
* rules-only, 2 workers: `--rules-only --workers 2`.

The section ends with `benchmarks/speed_notes.md`, the prose that reads the figures (keep
it true when the figures change).

`--modes` picks a subset (default: all). Sizes above `--max-full` (default 10000)
skip the embedding modes (floor, full, cache), which run at ~25 transcripts/s here:
50k lines would take over an hour per mode.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "fakingclf"]
ALL_MODES = ["floor", "full", "cache-cold", "cache-warm", "rules", "rules-w2"]
EMBEDDING_MODES = {"floor", "full", "cache-cold", "cache-warm"}
TITLES = {
    "floor": "floor: raw MiniLM encode of the same units",
    "full": "full pipeline (default model)",
    "cache-cold": "full, embedding cache cold (filling)",
    "cache-warm": "full, embedding cache warm (re-run)",
    "rules": "rules-only",
    "rules-w2": "rules-only, --workers 2",
}

FLOOR = r"""
import json, sys, os
os.environ["HF_HUB_OFFLINE"] = "1"
from sentence_transformers import SentenceTransformer
from fakingclf.embed import default_model_path
model = SentenceTransformer(default_model_path(), device="cpu", local_files_only=True)
units = json.load(open(sys.argv[1]))
model.encode(units, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
"""


def run(cmd: list[str], env: dict) -> tuple[float, float]:
    """Run ``cmd``; return (wall seconds, peak RSS in MB). Raises on a non-zero exit."""
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    code = os.waitstatus_to_exitcode(status)
    proc.returncode = code
    if code != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {code}: {err.decode(errors='replace')[-2000:]}")
    return wall, usage.ru_maxrss / 1024.0


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


def units_file(inp: Path, path: Path) -> int:
    """Write the sentence units the pipeline would embed for ``inp``; return how many."""
    from fakingclf.embed import split_units
    from fakingclf.io import read_records

    units = []
    with open(inp, "rb") as f:
        for it in read_records(f):
            units += split_units(it.transcript.scratchpad)
    path.write_text(json.dumps(units), encoding="utf-8")
    return len(units)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", nargs="?", default="../shared/data/af_reasoning_dev.jsonl")
    ap.add_argument("--sizes", default="1000,10000,50000")
    ap.add_argument("--modes", default=",".join(ALL_MODES))
    ap.add_argument("--max-full", type=int, default=10000, help="largest size for the embedding modes")
    ap.add_argument("--doc", default=None, help="write the Speed section of this Markdown file")
    ap.add_argument("--out", default=None, help="also write the figures as JSON")
    args = ap.parse_args(argv)
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
               "source": str(source), "runs": []}
    try:
        for n in sizes:
            inp = work / f"in{n}.jsonl"
            make_input(source, n, inp)
            n_units = None
            for mode in modes:
                if mode in EMBEDDING_MODES and n > args.max_full:
                    continue
                out = work / "out.jsonl"
                cache = work / f"cache{n}"
                if mode == "floor":
                    uf = work / f"units{n}.json"
                    n_units = units_file(inp, uf)
                    cmd = [sys.executable, "-c", FLOOR, str(uf)]
                elif mode == "full":
                    cmd = CLI + ["label", str(inp), "-o", str(out)]
                elif mode in ("cache-cold", "cache-warm"):
                    if mode == "cache-cold":
                        shutil.rmtree(cache, ignore_errors=True)
                    cmd = CLI + ["label", str(inp), "-o", str(out), "--cache", str(cache)]
                elif mode == "rules":
                    cmd = CLI + ["label", str(inp), "-o", str(out), "--rules-only"]
                else:
                    cmd = CLI + ["label", str(inp), "-o", str(out), "--rules-only", "--workers", "2"]
                wall, rss = run(cmd, env)
                row = {"lines": n, "mode": mode, "seconds": round(wall, 2), "per_second": round(n / wall, 1),
                       "peak_rss_mb": round(rss, 1)}
                if mode == "floor":
                    row["units"] = n_units
                if mode == "cache-cold":
                    row["cache_mb"] = round((cache / "embeddings.sqlite").stat().st_size / 2**20, 1)
                results["runs"].append(row)
                print(json.dumps(row), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    md = report(results, sizes, modes, args)
    print(md)
    if args.doc:
        sys.path.insert(0, str(Path(__file__).parent))
        from doc_sections import put_section

        put_section(Path(args.doc), "speed", md)
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


def report(results: dict, sizes: list[int], modes: list[str], args) -> str:
    """The Speed section as Markdown: one table of transcripts/s and peak RSS, then the targets."""
    runs = {(r["mode"], r["lines"]): r for r in results["runs"]}
    m = results["machine"]
    out = ["## Speed and memory", "",
           "Written by one command (takes about an hour here, most of it the embedding modes at 10k):", "",
           "```bash",
           f".venv/bin/python benchmarks/speed.py {results['source']} --sizes {args.sizes} "
           f"--doc docs/benchmarks.md --out benchmarks/speed.json",
           "```", "",
           f"Machine: {m['cpus']} CPUs, no GPU, Python {m['python']}. Each cell is one `fakingclf label` process "
           "timed from start to exit (so model loading is included), as transcripts/s, with the process's "
           "peak resident memory. Inputs are the development set resampled to each size, every line made "
           "unique. See `benchmarks/speed.py` for the exact commands.", "",
           "| mode | " + " | ".join(f"{n:,} lines" for n in sizes) + " |",
           "|---|" + "---|" * len(sizes)]
    for mode in modes:
        cells = []
        for n in sizes:
            r = runs.get((mode, n))
            cells.append(f"{r['per_second']:,}/s · {r['seconds']:,} s · {r['peak_rss_mb']:,.0f} MB" if r else "not run")
        out.append(f"| {TITLES[mode]} | " + " | ".join(cells) + " |")
    out.append("")
    lines = ["Against the targets:", ""]
    for n in sizes:
        f, fl = runs.get(("full", n)), runs.get(("floor", n))
        if f and fl:
            lines.append(f"- Full pipeline vs raw encode at {n:,} lines: {f['seconds'] / fl['seconds']:.2f}x "
                         "the floor's time (target ≤ 1.3x).")
    best_rules = [r for r in results["runs"] if r["mode"] in ("rules", "rules-w2")]
    if best_rules:
        top = max(best_rules, key=lambda r: r["per_second"])
        lines.append(f"- Rules-only: best {top['per_second']:,}/s ({TITLES[top['mode']]}, {top['lines']:,} lines); "
                     "target ≥ 2,000/s.")
    for mode in modes:
        have = [runs[(mode, n)] for n in sizes if (mode, n) in runs]
        if len(have) >= 2:
            lines.append(f"- Peak memory, {TITLES[mode]}: {have[0]['peak_rss_mb']:,.0f} MB at {have[0]['lines']:,} → "
                         f"{have[-1]['peak_rss_mb']:,.0f} MB at {have[-1]['lines']:,} lines "
                         f"({have[-1]['peak_rss_mb'] / have[0]['peak_rss_mb']:.2f}x; target ≤ 1.2x).")
    for n in sizes:
        c, w = runs.get(("cache-cold", n)), runs.get(("cache-warm", n))
        if c and w:
            lines.append(f"- Re-run with a warm cache at {n:,} lines: {w['seconds']:,} s against {c['seconds']:,} s "
                         f"cold ({c['seconds'] / w['seconds']:.1f}x faster); cache file {c['cache_mb']:,} MB.")
    notes = Path(__file__).with_name("speed_notes.md")
    tail = ["", notes.read_text(encoding="utf-8").rstrip()] if notes.is_file() else []
    return "\n".join(out + lines + tail) + "\n"


if __name__ == "__main__":
    main()
