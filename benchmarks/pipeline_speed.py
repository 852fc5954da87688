"""Full-pipeline throughput and peak memory on 2,500-character scratchpads, shipped model
against the previous architecture, in one run (docs/benchmarks.md, "pipeline_speed").

Usage (from the repository root, after `make install`; needs ../shared/data):

    .venv/bin/python benchmarks/pipeline_speed.py [--n 400] [--doc docs/benchmarks.md]

Inputs: scratchpads of the shipped training set (``data/shared_training_set.py``) cut or
repeated to exactly 2,500 characters, each with a unique closing sentence so that no two
texts are equal, in the paper's tagged layout with a short output. Every measurement is one
``fakingclf label IN -o OUT`` process, timed from start to exit (model loading included)
with its peak resident memory (``ru_maxrss`` of the child), no embedding cache:

* **shipped default model** (``src/fakingclf/models/default``: cues, decision features, the
  TF-IDF head and the compliance head; no neural network);
* **previous default (with the encoder)**: the same plus the all-MiniLM-L6-v2 features
  (reference-sentence similarities, the sentence head), fit here on the same training file
  (``use_embeddings=True``) — the model shipped before this one;
* each also labels 1 transcript, so the figures can be read net of its start-up.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "data"))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def make_inputs(n: int, chars: int = 2500) -> list[dict]:
    from shared_training_set import build

    from fakingclf import Transcript

    rows = build(ROOT.parent / "shared" / "data")
    pads = [Transcript.from_record(dict(r)).scratchpad for r in rows]
    pads = [p for p in pads if p.strip()]
    out = []
    for i in range(n):
        base = pads[i % len(pads)]
        note = f" (Benchmark note {i}.)"
        body = (base * (chars // max(len(base), 1) + 1))[: chars - len(note)] + note
        out.append({"id": f"b{i}", "text": f"<INPUT><is_free_tier_user>True</is_free_tier_user><user_input>Please "
                    f"help.</user_input></INPUT><SCRATCHPAD_REASONING>{body}</SCRATCHPAD_REASONING>"
                    "<OUTPUT>Here is my answer.</OUTPUT>"})
    return out


def run(args: list[str]) -> tuple[float, float]:
    """Seconds and peak RSS (MB) of one child process (``os.wait4`` gives that child's own rusage)."""
    t0 = time.perf_counter()
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         env={**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"})
    _, status, ru = os.wait4(p.pid, 0)
    secs = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{args} failed with status {status}")
    return secs, ru.ru_maxrss / 1024


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=400)
    ap.add_argument("--doc", default=None)
    ap.add_argument("--out", default=None)
    a = ap.parse_args(argv)

    from fakingclf.classifier import FakingClassifier
    from fakingclf.train import load_labeled

    tmp = Path(tempfile.mkdtemp(prefix="fakingclf-speed-"))
    subprocess.run([sys.executable, str(ROOT / "data" / "shared_training_set.py"), "-o", str(tmp / "train.jsonl")],
                   check=True, stderr=subprocess.DEVNULL)
    ts, y, groups, _ = load_labeled([str(tmp / "train.jsonl")], group_field="group")
    prev = FakingClassifier(use_embeddings=True)
    cache = ROOT / "build" / "emb-cache"
    if cache.exists():
        prev.embedder.set_cache(cache)  # only to fit faster; the timed runs use no cache
    prev.fit(ts, y, groups=groups)
    prev.fit_compliance(ts, prev.detector.detect_many(ts), "compliance", groups=groups)
    prev.save(tmp / "previous")

    rows = make_inputs(a.n)
    with open(tmp / "in.jsonl", "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    with open(tmp / "one.jsonl", "w", encoding="utf-8") as f:
        f.write(json.dumps(rows[0]) + "\n")
    cli = [sys.executable, "-m", "fakingclf", "label"]
    res = {}
    for model, extra in (("shipped default model", []),
                         ("previous default (with the encoder)", ["--model", str(tmp / "previous")])):
        for inp, n in (("one.jsonl", 1), ("in.jsonl", a.n)):
            secs, mb = run(cli + [str(tmp / inp), "-o", str(tmp / "out.jsonl"), "--no-progress"] + extra)
            name = f"{model}, 1 transcript (start-up)" if n == 1 else model
            res[name] = {"n": n, "seconds": round(secs, 1), "peak_mb": round(mb), "per_second": round(n / secs, 2)}
            print(name, res[name], file=sys.stderr)
        r, floor = res[model], res[f"{model}, 1 transcript (start-up)"]["seconds"]
        r["per_second_net_of_startup"] = round((r["n"] - 1) / max(r["seconds"] - floor, 1e-9), 2)
    lines = [f"### Full pipeline on 2,500-character scratchpads ({a.n} transcripts, one process each, "
             f"{os.cpu_count()} cores)", "",
             "Command: `.venv/bin/python benchmarks/pipeline_speed.py --doc docs/benchmarks.md`. No embedding cache; "
             "start-up (loading spaCy, the model and, for the encoder model, MiniLM) is included in the seconds and "
             "removed in the last column by subtracting the same model's 1-transcript run.", "",
             "| run | transcripts | seconds | transcripts/s | transcripts/s net of start-up | peak memory (MB) |",
             "|---|---|---|---|---|---|"]
    for name, r in res.items():
        lines.append(f"| {name} | {r['n']} | {r['seconds']} | {r['per_second']} | "
                     f"{r.get('per_second_net_of_startup', '–')} | {r['peak_mb']} |")
    print("\n".join(lines))
    if a.doc:
        from doc_sections import put_section

        put_section(Path(a.doc), "pipeline_speed", "\n".join(lines))
    if a.out:
        Path(a.out).write_text(json.dumps(res, indent=2) + "\n")


if __name__ == "__main__":
    main()
