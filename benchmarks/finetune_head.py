"""Out-of-fold AUROC of the experimental fine-tuned window head beside TF-IDF, the frozen-MiniLM
sentence head and a blend (docs/benchmarks.md, "finetune_head").

Usage (from the repository root, after `make install`; needs ../shared/data):

    OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false \\
        .venv/bin/python benchmarks/finetune_head.py [--shared ../shared/data] [--cache build/emb-cache] \\
        [--epochs 3] [--out results.json] [--doc docs/benchmarks.md]
    .venv/bin/python benchmarks/finetune_head.py --render results.json [--doc docs/benchmarks.md]

The data is the shipped models' training set (``data/shared_training_set.py``); the folds
are those of ``benchmarks/af_reasoning.py`` (``protocol_splits``): leave-one-style-out and
leave-one-origin-out (development, decided rows), each training set leaving out every row
that shares a group with the test rows. Per test fold, four scores of each test scratchpad:

* **tfidf**: TF-IDF of word uni- and bigrams + logistic regression (``baselines.bag_of_words``);
* **sentence_head**: the frozen-MiniLM sentence head of ``FakingClassifier`` (logistic
  regression on sentence-unit embeddings, mean of the 3 highest unit scores);
* **finetuned**: ``fakingclf.finetune.FineTunedHead`` (trainable feed-forward half of
  MiniLM's top layer + a linear window score over 256-token windows, log-mean-exp over the
  windows, seed 0, ``--epochs`` passes), fit on the fold's training rows;
* **blend**: mean of the tfidf and finetuned scores after z-scoring each method over the
  whole protocol's pooled out-of-fold scores (label-free). The z-scores are not taken within
  each test fold: a fold of one origin may hold one class only, and standardising such a fold
  on its own erases the shift between folds that the pooled AUROC measures.

AUROC is reported over each protocol's pooled out-of-fold scores (and per fold where the
fold holds both classes). The frozen forward pass over all windows runs once; with
``--cache DIR`` the sentence-unit embeddings and that pass are kept in DIR and reused. The
first fold's fine-tuned head is saved with ``FineTunedHead.save`` to a temporary file to
record its size (the file is then removed). ``--out`` is rewritten after every fold, so a stopped run keeps what it
measured; ``--render`` writes the section from such a file (written by this script) without
recomputing anything, marking what the run did not measure.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCRIPT = "benchmarks/finetune_head.py"
FORMAT = 1
METHODS = ("tfidf", "sentence_head", "finetuned", "blend")
METHOD_NAMES = {"tfidf": "TF-IDF alone", "sentence_head": "frozen-MiniLM sentence head",
                "finetuned": "fine-tuned window head", "blend": "blend (TF-IDF + fine-tuned, pooled z-scores)"}
PROTOCOLS = {"style": "leave-one-style-out", "origin": "leave-one-origin-out (development, decided rows)"}
DEFAULT_EPOCHS = 3
COMMAND = ("OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false "
           ".venv/bin/python benchmarks/finetune_head.py --cache build/emb-cache --epochs {epochs} "
           "--out finetune_head.json --doc docs/benchmarks.md")


def auroc(y, p):
    """AUROC of scores ``p`` for 0/1 labels ``y``, or None when ``y`` holds one class."""
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, p)) if len(set(y.tolist())) == 2 else None


def pooled_z(p):
    """``p`` (1-D) minus its mean, over its standard deviation (label-free; constant input gives 0)."""
    return (p - p.mean()) / (p.std() + 1e-12)


def measure(args) -> dict:
    """Run the benchmark; returns (and writes to ``args.out`` after every fold) the results dict."""
    import numpy as np
    import torch

    torch.set_num_threads(1)
    sys.path.insert(0, str(REPO / "data"))
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from af_reasoning import load_set

    from fakingclf.baselines import bag_of_words
    from fakingclf.classifier import FakingClassifier, Features
    from fakingclf.embed import Embedder
    from fakingclf.finetune import CachedText, FineTunedHead, WindowEncoder

    t0 = time.time()

    def log(msg):
        print(f"[{time.time() - t0:6.0f} s] {msg}", file=sys.stderr, flush=True)

    data = load_set(Path(args.shared))
    rows, y, origin, texts = data["rows"], data["y"], data["origin"], data["texts"]
    wanted = [PROTOCOLS[k] for k in args.protocols.split(",")]
    folds = {k: v for k, v in data["folds"].items() if k in wanted}
    log(f"{len(rows)} rows, {int(y.sum())} alignment faking")

    enc = WindowEncoder()
    probe = FineTunedHead(encoder=enc, seed=0, epochs=args.epochs)
    results = {"script": SCRIPT, "format": FORMAT, "complete": False, "n": len(rows), "n_af": int(y.sum()),
               "epochs": args.epochs, "command": COMMAND.format(epochs=args.epochs), "cpu_count": os.cpu_count(),
               "settings": {"max_len": enc.max_len, "overlap": enc.overlap, "pool": probe.pool,
                            "batch_texts": probe.batch_texts, "lr": probe.lr, "head_lr": probe.head_lr,
                            "weight_decay": probe.weight_decay, "seed": probe.seed},
               "protocols": {}}
    scores: dict = {}

    def save():
        if args.out:
            Path(args.out).write_text(json.dumps(results, indent=2, default=float) + "\n")

    # frozen sentence head inputs: sentence-unit embeddings
    emb = Embedder(cache=args.cache)
    F = Features(np.zeros((len(rows), 1)), emb.encode_units(texts), texts)
    clf = FakingClassifier(use_embeddings=True)  # only its sentence head is used
    log("unit embeddings done")
    for proto, fl in folds.items():
        s = {m: np.full(len(y), np.nan) for m in ("tfidf", "sentence_head")}
        for tr, te in fl:
            s["tfidf"][te] = bag_of_words().fit([texts[i] for i in tr], y[tr]).decision_function(
                [texts[i] for i in te])
            s["sentence_head"][te] = clf._head_scores(clf._fit_head(F[tr], y[tr]), F[te])[:, 0]
        scores[proto] = s
        test = np.concatenate([te for _, te in fl])
        results["protocols"][proto] = {"n": int(len(test)), "n_af": int(y[test].sum()),
                                       "auroc": {m: auroc(y[test], v[test]) for m, v in s.items()}, "folds": []}
        log(f"{proto}: {results['protocols'][proto]['auroc']}")
    save()

    # frozen window pass, once for all rows
    t1 = time.time()
    wc = Path(args.cache) / "finetune_windows.pt" if args.cache else None
    if wc is not None and wc.is_file():
        blob = torch.load(wc)
        same = blob.get("settings") == [str(enc.model_path), enc.max_len, enc.overlap]
        enc.cache = {t: CachedText(*v) for t, v in zip(blob["texts"], blob["cached"])} if same else {}
    cached = enc.encode(texts, progress=True)
    if wc is not None and not wc.is_file():
        wc.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"settings": [str(enc.model_path), enc.max_len, enc.overlap], "texts": texts,
                    "cached": [(c.tokens, c.window, c.n_windows) for c in cached]}, wc)
    results["frozen_pass_seconds"] = round(time.time() - t1, 1)
    results["n_windows"] = int(sum(c.n_windows for c in cached))
    log(f"frozen pass: {results['n_windows']} windows in {results['frozen_pass_seconds']} s")
    save()

    tmp = Path(tempfile.mkdtemp(prefix="fakingclf-finetune-"))
    for proto, fl in folds.items():
        s = scores[proto]
        s["finetuned"] = np.full(len(y), np.nan)
        block = results["protocols"][proto]
        for tr, te in fl:
            head = FineTunedHead(encoder=enc, seed=0, epochs=args.epochs).fit([cached[i] for i in tr], y[tr])
            s["finetuned"][te] = head.decision_function([cached[i] for i in te])
            fold = {"held_out": sorted(str(o) for o in set(origin[te])), "n_test": int(len(te)),
                    "n_train": int(len(tr)), **head.info_,
                    "auroc_in_fold": {m: auroc(y[te], s[m][te]) for m in ("tfidf", "sentence_head", "finetuned")}}
            block["folds"].append(fold)
            if "saved_bytes" not in results:
                saved = head.save(tmp / "head.safetensors")
                results["saved_bytes"] = saved.stat().st_size
                saved.unlink()
            log(f"{proto} fold {fold['held_out']}: {fold}")
            save()
        test = np.concatenate([te for _, te in fl])
        s["blend"] = np.full(len(y), np.nan)
        s["blend"][test] = (pooled_z(s["tfidf"][test]) + pooled_z(s["finetuned"][test])) / 2
        for fold, (_, te) in zip(block["folds"], fl):
            fold["auroc_in_fold"]["blend"] = auroc(y[te], s["blend"][te])
        block["auroc"] = {m: auroc(y[test], v[test]) for m, v in s.items()}
        log(f"{proto}: {block['auroc']}")
        save()
    tmp.rmdir()
    results["seconds"] = round(time.time() - t0, 1)
    results["complete"] = True
    save()
    return results


def _f(x, nd=4):
    return "–" if x is None else f"{x:.{nd}f}"


def render(results: dict) -> str:
    """The Markdown section of docs/benchmarks.md for ``results`` (as written by :func:`measure`).

    Raises
    ------
    ValueError
        If ``results`` was not written by this script (format ``FORMAT``).
    """
    if results.get("script") != SCRIPT or results.get("format") != FORMAT:
        raise ValueError(f"not a results file of {SCRIPT} (format {FORMAT})")
    epochs = results["epochs"]
    protos = results["protocols"]
    missing = {p: [m for m in METHODS if b["auroc"].get(m) is None] for p, b in protos.items()}
    measured = [p for p in protos if not missing[p]]
    tfidf_best = [p for p in measured
                  if all(protos[p]["auroc"]["tfidf"] > protos[p]["auroc"][m] for m in METHODS if m != "tfidf")]
    if not measured:
        verdict = "No protocol has all four methods measured in this run."
    elif tfidf_best == measured:
        where = "every protocol" if len(measured) == len(protos) else "every protocol where all methods were measured"
        verdict = f"It is not shipped: TF-IDF alone has the highest AUROC on {where}."
    else:
        verdict = ("TF-IDF alone does not have the highest AUROC on every measured protocol here "
                   f"(highest on: {', '.join(tfidf_best) or 'none'}).")
    lines = [
        "### Experimental fine-tuned window head (not shipped)", "",
        "The head is `fakingclf.finetune.FineTunedHead` on all-MiniLM-L6-v2: the feed-forward half of the "
        f"top layer is trained with a linear window score over {results['settings']['max_len']}-token windows "
        f"(overlap {results['settings']['overlap']}), pooled over each scratchpad's windows by log-mean-exp, "
        f"{epochs} epoch{'s' if epochs != 1 else ''}, seed {results['settings']['seed']}; the rest of the "
        f"encoder is frozen. The default of {DEFAULT_EPOCHS} epochs was chosen after seeing the held-out figures "
        "of 1-epoch runs, so the epoch count is not selected out of fold. " + verdict + " The blend z-scores each "
        "method over the protocol's pooled out-of-fold scores. Folds as in the sections above; AUROC over each "
        "protocol's pooled out-of-fold scores.", "",
        f"Command: `{results['command']}` (figures in this section: `.venv/bin/python benchmarks/finetune_head.py "
        "--render finetune_head.json --doc docs/benchmarks.md`).", ""]
    if results.get("note"):
        lines += [results["note"], ""]
    if not results.get("complete"):
        lines += ["This run stopped before it finished: – marks what it did not measure.", ""]
    lines += ["| protocol | n (alignment faking) | " + " | ".join(METHOD_NAMES[m] for m in METHODS) + " |",
              "|---|---|" + "---|" * len(METHODS)]
    for p, b in protos.items():
        lines.append(f"| {p} | {b['n']} ({b['n_af']}) | " + " | ".join(_f(b["auroc"].get(m)) for m in METHODS) + " |")
    lines.append("")
    for p, b in protos.items():
        secs = [f["seconds"] for f in b["folds"]]
        if secs:
            ntr = [f["n_train"] for f in b["folds"]]
            span = f"{min(ntr)}" if min(ntr) == max(ntr) else f"{min(ntr)}–{max(ntr)}"
            lines.append(f"- {p}: {len(secs)} fine-tunes on {span} training scratchpads each, "
                         f"{min(secs):.0f}–{max(secs):.0f} s per fine-tune (mean {sum(secs) / len(secs):.0f} s, "
                         f"one torch thread on a {results['cpu_count']}-core machine).")
        else:
            lines.append(f"- {p}: no fine-tune in this run.")
    if results.get("frozen_pass_seconds") is not None:
        lines.append(f"- Frozen forward pass, once for all {results['n']} scratchpads ({results['n_windows']} windows): "
                     f"{results['frozen_pass_seconds']:.0f} s.")
    if results.get("saved_bytes") is not None:
        lines.append(f"- Saved parameters (safetensors, float32): {results['saved_bytes'] / 1e6:.1f} MB "
                     f"({results['saved_bytes']} bytes).")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", default=str(REPO.parent / "shared" / "data"), help="folder of the shared data files")
    ap.add_argument("--cache", default=None, help="cache folder for the unit embeddings and the frozen window pass")
    ap.add_argument("--epochs", type=int, default=DEFAULT_EPOCHS, help="passes of each fine-tune over its training rows")
    ap.add_argument("--protocols", default="style,origin", help="comma-separated: " + ", ".join(PROTOCOLS))
    ap.add_argument("--out", default=None, help="write all figures as JSON (rewritten after every fold)")
    ap.add_argument("--doc", default=None, help="write the finetune_head section of docs/benchmarks.md here")
    ap.add_argument("--render", default=None, metavar="RESULTS.json",
                    help="only write the section from a results file of this script (no computation)")
    args = ap.parse_args(argv)
    if args.render:
        try:
            body = render(json.loads(Path(args.render).read_text(encoding="utf-8")))
        except ValueError as e:
            sys.exit(f"{args.render}: {e}")
    else:
        if not Path(args.shared, "af_contrast_synthetic.jsonl").is_file():
            sys.exit(f"shared data not found in {args.shared}")
        if any(k not in PROTOCOLS for k in args.protocols.split(",")):
            sys.exit(f"--protocols: choose from {', '.join(PROTOCOLS)}")
        body = render(measure(args))
    print(body)
    if args.doc:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from doc_sections import put_section

        put_section(Path(args.doc), "finetune_head", body)


if __name__ == "__main__":
    main()
