"""Reproduce every figure of docs/benchmarks.md: p_alignment_faking against baselines.

Usage (from the repository root, after `make install`):

    .venv/bin/python benchmarks/af_reasoning.py [../shared/data/af_reasoning_dev.jsonl] [--out benchmarks/results.json]

For each method it prints, as Markdown, the out-of-fold AUROC (with a stratified
bootstrap 95 % CI), average precision and ECE under two protocols: stratified 5-fold
cross-validation and leave-one-origin-out, overall and per origin. Methods:

* fakingclf (default): cue + prototype-similarity features + the stacked sentence
  head, sigmoid calibration;
* fakingclf, isotonic calibration;
* fakingclf without the sentence head;
* fakingclf, rules only (no embedding model);
* bag of words (TF-IDF + logistic regression);
* keywords (count of keyword families, Platt-scaled);
* experiments that are not shipped (kept here so their figures can be checked):
  - "+ mean/max-pooled embeddings": the default features plus the mean- and
    max-pooled sentence embeddings (768 more columns);
  - "origin-held-out calibration": the default logistic regression (without the
    sentence head), Platt-scaled on
    scores predicted for each training origin by a model fit on the other training
    origins (instead of on random folds).

Features are computed once per method family; only the fits repeat per fold.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from fakingclf.baselines import bag_of_words, keyword_model
from fakingclf.classifier import FakingClassifier, Features
from fakingclf.metrics import binary_metrics
from fakingclf.train import load_labeled, out_of_fold


def splits(y, origins, seed=0):
    from sklearn.model_selection import StratifiedKFold

    return {
        "5-fold CV": list(StratifiedKFold(5, shuffle=True, random_state=seed).split(np.zeros(len(y)), y)),
        "leave-one-origin-out": [(np.where(origins != o)[0], np.where(origins == o)[0]) for o in sorted(set(origins))],
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", nargs="?", default="../shared/data/af_reasoning_dev.jsonl")
    ap.add_argument("--out", default=None, help="also write all figures as JSON")
    ap.add_argument("--doc", default=None, help="write docs/benchmarks.md (intro + these tables) here")
    args = ap.parse_args(argv)
    if not Path(args.data).is_file():
        sys.exit(f"not found: {args.data}")

    t0 = time.time()
    ts, y, origins, sha = load_labeled([args.data])
    texts = np.array([t.scratchpad for t in ts], dtype=object)
    full = FakingClassifier()
    X_full, _ = full.featurize(ts)
    rules = FakingClassifier(use_embeddings=False)
    n_rules = len(rules.feature_names)  # the rules-only features are the leading columns
    assert rules.feature_names == full.feature_names[:n_rules]
    X_rules = Features(X_full.X[:, :n_rules], [np.zeros((0, 0))] * len(y))

    def model(X, **params):
        return lambda tr, te: FakingClassifier(**params).fit_features(X[tr], y[tr]).proba_from_features(X[te])

    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X_pooled = Features(np.hstack([X_full.X, full.embedder.pooled(X_full.units)]), X_full.units)

    def origin_calibrated(tr, te):
        def base():
            return make_pipeline(StandardScaler(), LogisticRegression(C=FakingClassifier().C, max_iter=5000))

        g = origins[tr]
        s = np.zeros(len(tr))
        for o in sorted(set(g)):
            a, b = np.where(g != o)[0], np.where(g == o)[0]
            if len(set(y[tr][a])) < 2:
                s[b] = 0.0
                continue
            s[b] = base().fit(X_full.X[tr][a], y[tr][a]).decision_function(X_full.X[tr][b])
        platt = LogisticRegression(C=1e4).fit(s.reshape(-1, 1), y[tr])
        z = base().fit(X_full.X[tr], y[tr]).decision_function(X_full.X[te]).reshape(-1, 1)
        return platt.predict_proba(z)[:, 1]

    def text_model(factory):
        return lambda tr, te: factory().fit(list(texts[tr]), y[tr]).predict_proba(list(texts[te]))[:, 1]

    methods = {
        "fakingclf (default)": model(X_full),
        "fakingclf, isotonic calibration": model(X_full, calibration="isotonic"),
        "fakingclf, no sentence head": model(X_full, sentence_head=False),
        "fakingclf, rules only": model(X_rules, use_embeddings=False),
        "bag of words": text_model(bag_of_words),
        "keywords": text_model(keyword_model),
        "experiment: + mean/max-pooled embeddings": model(X_pooled),
        "experiment: origin-held-out calibration": origin_calibrated,
    }
    results = {"data": args.data, "sha256": sha, "n": int(len(y)), "protocols": {}}
    for proto, folds in splits(y, origins).items():
        block = {}
        for name, fp in methods.items():
            p = out_of_fold(fp, len(y), folds)
            block[name] = {
                "overall": binary_metrics(y, p),
                "per_origin": {o: binary_metrics(y[origins == o], p[origins == o]) for o in sorted(set(origins))},
            }
        results["protocols"][proto] = block
    results["seconds"] = round(time.time() - t0, 1)

    def f(x):
        return "–" if x is None else f"{x:.3f}"

    out = [f"Data: `{args.data}` (n = {len(y)}, sha256 `{sha[:12]}…`)", ""]
    for proto, block in results["protocols"].items():
        out += [f"### {proto}", "", "| method | AUROC [95% CI] | AP | ECE | acc |", "|---|---|---|---|---|"]
        for name, r in block.items():
            m = r["overall"]
            out.append(
                f"| {name} | {f(m['auroc'])} [{f(m['auroc_ci'][0])}, {f(m['auroc_ci'][1])}] | "
                f"{f(m['average_precision'])} | {f(m['ece'])} | {f(m['accuracy'])} |"
            )
        origins_sorted = sorted(set(origins))
        out += ["", "Per origin (AUROC where the origin has both classes, else accuracy):", "",
                "| method | " + " | ".join(f"`{o}`" for o in origins_sorted) + " |",
                "|---|" + "---|" * len(origins_sorted)]
        for name, r in block.items():
            cells = []
            for o in origins_sorted:
                m = r["per_origin"][o]
                cells.append(f"AUROC {f(m['auroc'])}" if m["auroc"] is not None else f"acc {f(m['accuracy'])}")
            out.append(f"| {name} | " + " | ".join(cells) + " |")
        out.append("")
    out.append(f"({results['seconds']} s on this machine)")
    print("\n".join(out))
    if args.doc:
        from doc_sections import get_section, put_section

        doc = Path(args.doc)
        speed = get_section(doc, "speed")  # written by speed.py: kept as it is
        intro = (Path(__file__).parent / "benchmarks_intro.md").read_text(encoding="utf-8")
        doc.write_text(intro.rstrip() + "\n", encoding="utf-8")
        put_section(doc, "af_reasoning", "\n".join(out))
        if speed:
            doc.write_text(doc.read_text(encoding="utf-8").rstrip() + "\n\n" + speed + "\n", encoding="utf-8")
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
