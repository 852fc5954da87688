"""Throughput of a model with the encoder on the float (torch) and the int8 (onnx) backend, each against raw
encode of the same windows, with both backends' held-out AUROC (docs/benchmarks.md, "Encoder backends").

Usage (from the repository root, after `make install`; needs ../shared/data unless --model is given):

    .venv/bin/python benchmarks/encoder_speed.py [../shared/data/af_reasoning_dev.jsonl] \
        --sizes 1000,10000 --doc docs/benchmarks.md --out benchmarks/encoder_speed.json [--model DIR]

The model: the shipped default has no encoder, so the script trains one the way `make model` trains the
default, on the same training file (`data/shared_training_set.py`), adding `--encoder`:
`fakingclf train TRAIN --group-field group --encoder -o DIR`. Its training runs the backend check
(`fakingclf.train.backend_check`): out of 5 folds, a model fit on float embeddings scores the held-out
rows from the float and from the int8 encoder; those two AUROCs, and the default backend they chose, are
read from its `model.json`. `--model DIR` uses a model trained before instead.

Inputs: the source transcripts resampled to each size, every line unique (`speed.make_input`). Every
figure is measured in this run:

* **floor**: raw encode of the same windows — every sentence unit (`fakingclf.embed.split_units`) of
  every line's scratchpad, the texts the pipeline embeds — by the backend alone inside one process, the
  encoder loaded and warmed beforehand, not timed: `SentenceTransformer.encode(batch_size=64)` for
  torch, `OnnxEncoder.encode` for onnx; the fastest of `--floor-runs` runs (default 2: on a shared
  machine a floor can only be slowed by noise, never sped up);
* **pipeline**: `fakingclf label IN -o OUT --model DIR --backend B`, one process timed from start to
  exit with its peak memory, then net of the same command's one-line start-up (median of 3).

The int8 export is made first (`fakingclf export-onnx`), so no figure includes it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from speed import CLI, ROOT, cell, make_input, median_wall, run_rss  # noqa: E402

BACKENDS = ("torch", "onnx")

ENCODE_FLOOR = r"""
import json, sys, time
from fakingclf.embed import Embedder
units = json.load(open(sys.argv[1], encoding="utf-8"))
m = Embedder(backend=sys.argv[2]).model
m.encode(units[:64], batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
t = time.perf_counter()
m.encode(units, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
print(time.perf_counter() - t)
"""


def units_file(inp: Path, path: Path) -> int:
    """Write every sentence unit the encoder embeds for ``inp`` (its scratchpads' units); returns their number."""
    from fakingclf.embed import split_units
    from fakingclf.io import read_records

    units = []
    with open(inp, "rb") as f:
        for it in read_records(f):
            units += split_units(it.transcript.scratchpad)
    path.write_text(json.dumps(units), encoding="utf-8")
    return len(units)


def encode_floor(units: Path, backend: str, env: dict) -> float:
    p = subprocess.run([sys.executable, "-c", ENCODE_FLOOR, str(units), backend], capture_output=True, env=env)
    if p.returncode != 0:
        raise RuntimeError(f"{backend} encode floor exited {p.returncode}: {p.stderr.decode(errors='replace')[-2000:]}")
    return float(p.stdout.decode().split()[-1])


def train_model(work: Path, env: dict) -> Path:
    data = work / "train.jsonl"
    subprocess.run([sys.executable, str(ROOT / "data" / "shared_training_set.py"), "--shared",
                    str(ROOT.parent / "shared" / "data"), "-o", str(data)], check=True, env=env)
    out = work / "encoder-model"
    subprocess.run(CLI + ["train", str(data), "--group-field", "group", "--encoder", "-o", str(out)], check=True,
                   env=env)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", nargs="?", default="../shared/data/af_reasoning_dev.jsonl")
    ap.add_argument("--sizes", default="1000,10000")
    ap.add_argument("--model", default=None, help="a model trained with --encoder (default: train one here)")
    ap.add_argument("--startup-runs", type=int, default=3)
    ap.add_argument("--floor-runs", type=int, default=2, help="runs per floor (the fastest is kept)")
    ap.add_argument("--doc", default=None, help="write the Encoder backends section of this Markdown file")
    ap.add_argument("--out", default=None, help="also write the figures as JSON")
    ap.add_argument("--render", default=None, metavar="JSON", help="measure nothing: write the section from a "
                    "--out file of an earlier run")
    args = ap.parse_args(argv)
    if args.render:
        results = json.loads(Path(args.render).read_text(encoding="utf-8"))
        return _write(report(results), results, args)
    source = Path(args.data)
    if not source.is_file():
        sys.exit(f"{source} not found (pass a JSONL of transcripts)")
    sizes = [int(s) for s in args.sizes.split(",")]
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    work = Path(tempfile.mkdtemp(prefix="fakingclf-encoder-speed-"))
    results = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                           "platform": platform.platform()},
               "source": str(source), "sizes": args.sizes, "startup_runs": args.startup_runs,
               "floor_runs": args.floor_runs, "runs": [],
               "startup": {}}
    try:
        subprocess.run(CLI + ["export-onnx"], check=True, env=env, stdout=subprocess.DEVNULL)
        model = Path(args.model) if args.model else train_model(work, env)
        meta = json.loads((model / "model.json").read_text(encoding="utf-8"))
        if not meta.get("params", {}).get("use_embeddings"):
            sys.exit(f"{model} has no encoder: train it with --encoder")
        results["model"] = {"trained_here": args.model is None, "path": None if args.model is None else str(model),
                            "encoder_backend": meta.get("encoder_backend"),
                            "training_n": meta.get("training_data", {}).get("n")}
        one, out = work / "one.jsonl", work / "out.jsonl"
        make_input(source, 1, one)
        st = results["startup"]
        for b in BACKENDS:
            st[b] = round(median_wall(CLI + ["label", str(one), "-o", str(out), "--model", str(model),
                                             "--backend", b], env, args.startup_runs), 2)
        print(json.dumps(st), flush=True)
        for n in sizes:
            inp, uf = work / f"in{n}.jsonl", work / f"units{n}.json"
            make_input(source, n, inp)
            n_units = units_file(inp, uf)
            for b in BACKENDS:
                secs = min(encode_floor(uf, b, env) for _ in range(max(1, args.floor_runs)))
                row = {"lines": n, "units": n_units, "mode": f"floor-{b}", "seconds": round(secs, 2),
                       "net_per_second": round(n / secs, 1), "units_per_second": round(n_units / secs, 1)}
                results["runs"].append(row)
                print(json.dumps(row), flush=True)
                wall, rss = run_rss(CLI + ["label", str(inp), "-o", str(out), "--model", str(model),
                                           "--backend", b], env)
                with open(out, "rb") as f:
                    n_out = sum(1 for _ in f)
                if n_out != n:
                    raise RuntimeError(f"--backend {b} at {n} lines wrote {n_out} records")
                row = {"lines": n, "units": n_units, "mode": f"label-{b}", "seconds": round(wall, 2),
                       "per_second": round(n / wall, 1), "net_per_second": round(n / max(wall - st[b], 1e-9), 1),
                       "peak_rss_mb": round(rss, 1)}
                results["runs"].append(row)
                print(json.dumps(row), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    _write(report(results), results, args)


def _write(md: str, results: dict, args) -> None:
    print(md)
    if args.doc:
        from doc_sections import put_section

        put_section(Path(args.doc), "encoder_speed", md)
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


def report(results: dict) -> str:
    """The Encoder backends section as Markdown."""
    sizes = [int(s) for s in results["sizes"].split(",")]
    runs = {(r["mode"], r["lines"]): r for r in results["runs"]}
    m, st, mod = results["machine"], results["startup"], results["model"]
    b = mod.get("encoder_backend") or {}
    out = ["## Encoder backends: float (torch) and int8 (ONNX Runtime)", "",
           "Written by one command:", "", "```bash",
           f".venv/bin/python benchmarks/encoder_speed.py {results['source']} --sizes {results['sizes']} "
           "--doc docs/benchmarks.md --out benchmarks/encoder_speed.json", "```", "",
           f"Machine: {m['cpus']} CPUs, no GPU, Python {m['python']}. The shipped models have no encoder, so "
           + ("this run trained one the way `make model` trains the default, on the same "
              f"{mod.get('training_n')} transcripts, adding `--encoder`. " if mod.get("trained_here") else
              f"this run used the model at `{mod.get('path')}`. ")
           + "Inputs are the development set resampled to each size, every line unique. *floor*: raw encode of "
           "the same windows (every sentence unit of every scratchpad) by that backend alone, model loaded "
           f"beforehand, the fastest of {results.get('floor_runs', 1)} run(s); *label*: one `fakingclf label --backend B` process from start to exit, *net* of its "
           "one-line start-up. See `benchmarks/encoder_speed.py`.", "",
           "| | " + " | ".join(f"{n:,} lines" for n in sizes) + " |", "|---|" + "---|" * len(sizes)]
    titles = {"floor-torch": "floor: raw encode, torch (float32)", "label-torch": "label --backend torch",
              "floor-onnx": "floor: raw encode, onnx (int8)", "label-onnx": "label --backend onnx"}
    for mode, title in titles.items():
        out.append(f"| {title} | " + " | ".join(cell(runs.get((mode, n))) for n in sizes) + " |")
    n_units = {n: runs[("floor-torch", n)]["units"] for n in sizes if ("floor-torch", n) in runs}
    out += ["", "Units embedded: " + ", ".join(f"{u:,} at {n:,} lines" for n, u in n_units.items()) + ".", "",
            f"One-line start-up (median of {results['startup_runs']}): `--backend torch` {st['torch']} s, "
            f"`--backend onnx` {st['onnx']} s.", "", "Read against each other:", ""]
    for n in sizes:
        lt, lq, ft, fq = (runs.get((k, n)) for k in ("label-torch", "label-onnx", "floor-torch", "floor-onnx"))
        if lt and lq and ft and fq:
            out.append(f"- {n:,} lines: label at {lt['net_per_second'] / ft['net_per_second']:.2f}x its floor with "
                       f"torch and {lq['net_per_second'] / fq['net_per_second']:.2f}x with onnx; onnx labels "
                       f"{lq['net_per_second'] / lt['net_per_second']:.2f}x as fast as torch (net), its raw encode "
                       f"is {fq['net_per_second'] / ft['net_per_second']:.2f}x torch's; peak memory "
                       f"{lt['peak_rss_mb']:,.0f} MB (torch) and {lq['peak_rss_mb']:,.0f} MB (onnx).")
    if b.get("checked"):
        out.append(f"- Held-out AUROC (training's backend check, {b['folds']} folds over {b['n']} transcripts, a "
                   f"model fit on float embeddings scoring the held-out rows from each encoder): torch "
                   f"{b['auroc']['torch']:.4f}, onnx {b['auroc']['onnx']:.4f}. Largest difference in p "
                   f"{b['max_abs_diff_p']}; same label on {100 * b['label_agreement']:.1f}%. So this model's "
                   f"`--backend auto` is **{b['default']}** (onnx when its AUROC is at most {b['tolerance']} lower).")
    else:
        out.append("- The model's training did not run the backend check (`--no-eval`, or ONNX Runtime missing): "
                   "no held-out AUROC, and `--backend auto` is torch.")
    notes = Path(__file__).with_name("encoder_speed_notes.md")
    tail = ["", notes.read_text(encoding="utf-8").rstrip()] if notes.is_file() else []
    return "\n".join(out + tail) + "\n"


if __name__ == "__main__":
    main()
