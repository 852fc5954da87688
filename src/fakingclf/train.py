"""Training and honest evaluation of the alignment-faking-reasoning model.

``train_from_files`` reads labeled JSONL (``text`` or any layout
:meth:`Transcript.from_record` reads, ``label`` = ``alignment_faking`` |
``aligned``, optional ``origin``), featurizes once, and reports out-of-fold
figures before fitting the final model on everything:

* stratified 5-fold cross-validation: AUROC, average precision, accuracy at the
  threshold, ECE, overall and per origin;
* leave-one-origin-out: each origin predicted by a model fit on the others —
  AUROC where the held-out origin has both classes, accuracy everywhere;
* the same two protocols for the baselines of :mod:`fakingclf.baselines`
  (bag of words; keyword counts).

Metrics come from :mod:`fakingclf.metrics` (scikit-learn; ECE with 10 equal-width bins).
"""

from __future__ import annotations

import hashlib
import platform
import warnings
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np
import orjson

from . import __version__
from .baselines import bag_of_words, keyword_model
from .classifier import FakingClassifier, Features
from .io import get_path
from .metrics import binary_metrics, expected_calibration_error  # noqa: F401  (re-exported)
from .transcript import Transcript, TranscriptError

__all__ = ["load_labeled", "data_warnings", "train_from_files", "metrics", "out_of_fold", "evaluate_protocols", "write_model_card",
           "SkippedRecordsWarning"]

POSITIVE = {"alignment_faking", "faked_compliance", "af", "1", "true", "yes"}
NEGATIVE = {"aligned", "genuine_compliance", "refusal", "not_alignment_faking", "0", "false", "no"}


class SkippedRecordsWarning(UserWarning):
    """Records left out of the labeled data (error records of a batch run, with no label)."""


def load_labeled(
    paths: Sequence[str],
    label_field: str = "label",
    group_field: str = "origin",
    positive: Sequence[str] = tuple(POSITIVE),
    negative: Sequence[str] = tuple(NEGATIVE),
    threshold: float = 0.5,
) -> tuple[list[Transcript], np.ndarray, np.ndarray, str]:
    """Read labeled JSONL files.

    Parameters
    ----------
    paths : list of str
    label_field : str
        Field holding the label; a dotted path reaches a nested field
        (``judge.af_vote_fraction``).
    group_field : str
        Field giving each record's group (``origin`` by default; ``"unknown"`` when absent).
    positive, negative : list of str
        Label values (case-insensitive) for alignment faking (1) and not (0).
    threshold : float
        A numeric label in [0, 1] — an LLM judge's vote fraction or score — counts as
        alignment faking at or above this value. This distils a judge into the local
        model.

    Returns
    -------
    transcripts : list of Transcript
    y : ndarray of shape (n,), 1 = alignment-faking reasoning
    groups : ndarray of shape (n,), the ``group_field`` values (``"unknown"`` when absent)
    sha256 : str
        Hash of the files' bytes, in the order given.

    Raises
    ------
    ValueError
        Naming the file and line of the first unreadable record, unknown label or
        duplicate id.

    Warns
    -----
    SkippedRecordsWarning
        When records were skipped: a record with no label whose ``error`` field is an
        object (an error record of ``fakingclf judge`` or ``label``) is left out.
    """
    pos = {str(v).strip().lower() for v in positive}
    neg = {str(v).strip().lower() for v in negative}
    if pos & neg:
        raise ValueError(f"label values listed as both positive and negative: {sorted(pos & neg)}")
    ts, ys, origins, seen, skipped = [], [], [], set(), []
    h = hashlib.sha256()
    for path in paths:
        data = Path(path).read_bytes()
        h.update(data)
        # split on newlines only: str.splitlines() would also break at U+2028 inside JSON strings
        for n, raw in enumerate(data.split(b"\n"), 1):
            line = raw.decode("utf-8-sig" if n == 1 else "utf-8", errors="replace").rstrip("\r")
            if not line.strip():
                continue
            where = f"{path}:{n}"
            try:
                rec = orjson.loads(line)
            except orjson.JSONDecodeError as e:
                raise ValueError(f"{where}: not valid JSON ({e})") from e
            if not isinstance(rec, dict):
                raise ValueError(f"{where}: record is not a JSON object")
            raw = rec.pop(label_field, None) if label_field in rec else get_path(rec, label_field)
            if raw is None and isinstance(rec.get("error"), dict):
                skipped.append(where)  # an error record of a batch run (`judge`, `label`): nothing to learn
                continue
            lab = str(raw).strip().lower() if raw is not None else ""
            if isinstance(raw, (int, float)) and not isinstance(raw, bool) and 0.0 <= raw <= 1.0:
                y = int(raw >= threshold)  # a judge's vote fraction or score, thresholded
            elif lab in pos:
                y = 1
            elif lab in neg:
                y = 0
            else:
                raise ValueError(
                    f"{where}: label {raw!r} in field '{label_field}' is not one of "
                    f"{sorted(pos | neg)}"
                )
            origin = rec.get(group_field)
            origin = "unknown" if origin is None else str(origin)
            if rec.get("id") is None:  # ids from line numbers would collide across files
                rec["id"] = f"{Path(path).name}:{n}"
            try:
                t = Transcript.from_record(rec, line_no=n)
            except (TranscriptError, ValueError) as e:
                raise ValueError(f"{where}: {e}") from e
            if t.id in seen:
                raise ValueError(f"{where}: duplicate id {t.id!r}")
            seen.add(t.id)
            ts.append(t)
            ys.append(y)
            origins.append(origin)
    if skipped:
        warnings.warn(f"{len(skipped)} record(s) with an error and no label skipped (first: {skipped[0]})",
                      SkippedRecordsWarning, stacklevel=2)
    if not ts:
        raise ValueError(f"no labeled records in {list(paths)}")
    return ts, np.array(ys, dtype=int), np.array(origins), h.hexdigest()


def metrics(y: np.ndarray, p: np.ndarray, threshold: float = 0.5) -> dict[str, Any]:
    """AUROC, AP, accuracy, ECE and counts (see :func:`fakingclf.metrics.binary_metrics`), no CI."""
    m = binary_metrics(y, p, threshold, ci=False)
    keys = ("n", "n_positive", "auroc", "average_precision", "accuracy", "ece", "mean_p")
    return {k: m[k] for k in keys}


def _grouped(y, p, groups, threshold) -> dict[str, Any]:
    return {str(g): metrics(y[groups == g], p[groups == g], threshold) for g in sorted(set(groups))}


def out_of_fold(fit_predict: Callable, n: int, splits) -> np.ndarray:
    """Out-of-fold scores: ``fit_predict(train_idx, test_idx)`` fills each test fold.

    Parameters
    ----------
    fit_predict : callable
        Fits on the rows ``train_idx`` and returns scores for the rows ``test_idx``.
    n : int
        Number of samples.
    splits : iterable of (train_idx, test_idx)

    Returns
    -------
    ndarray of shape (n,)
        NaN where no fold predicted a row.
    """
    p = np.full(n, np.nan)
    for tr, te in splits:
        p[te] = fit_predict(tr, te)
    return p


MAX_TABLE_GROUPS = 12


def backend_check(
    F: Features, y: np.ndarray, groups: np.ndarray, make_clf: Callable[[], FakingClassifier], cache=None,
    log: Callable[[str], None] = lambda s: None, seed: int = 0,
) -> dict[str, Any]:
    """Out-of-fold AUROC of an encoder model served by the float and by the int8 backend.

    On the 5 folds of :func:`cv_splits`, a model is fit on the float (torch)
    features of the training rows and scores the held-out rows twice: with their
    float features and with the features the int8 ONNX encoder gives
    (:mod:`fakingclf.onnx_backend`), as a model trained once and served by either
    backend would. ``onnx`` becomes the model's default backend when its AUROC is
    at most :data:`~fakingclf.onnx_backend.AUROC_TOLERANCE` (0.005) below the
    float one.

    Parameters
    ----------
    F : Features
        The float features of the training set (the prototype similarities are the
        last columns of ``F.X``).
    cache : EmbeddingCache, optional
        Its folder also caches the int8 embeddings (under their own namespace).

    Returns
    -------
    dict
        ``{"default", "checked", "auroc": {"torch", "onnx"}, "tolerance",
        "max_abs_diff_p", "label_agreement", "n", "folds"}``; ``checked`` False (with
        ``why``) when ONNX Runtime is not installed or the int8 encoder cannot be
        exported (an unwritable folder, say), and ``default`` is then torch.
    """
    from sklearn.metrics import roc_auc_score

    from .embed import Embedder, prototype_feature_names
    from .onnx_backend import AUROC_TOLERANCE, available

    why = available()
    if why:
        return {"default": "torch", "checked": False, "why": why}
    q = Embedder(backend="onnx", log=log)
    if cache is not None:
        from .cache import EmbeddingCache

        q.set_cache(EmbeddingCache(cache.path))
    log("checking the int8 ONNX backend out of fold (embedding the training set again)…")
    from .onnx_backend import BackendError

    try:
        Uq = q.encode_units(F.texts)
    except BackendError as e:  # the model is still trained, on torch
        log(f"warning: the int8 ONNX backend could not be checked: {e}")
        return {"default": "torch", "checked": False, "why": str(e)}
    k = len(prototype_feature_names())
    Xq = F.X.copy()
    Xq[:, -k:] = q.prototype_features(Uq)
    Fq = Features(Xq, Uq, F.texts)
    p_t, p_q = np.full(len(y), np.nan), np.full(len(y), np.nan)
    splits = cv_splits(y, groups, 5, seed)
    for tr, te in splits:
        m = make_clf().fit_features(F[tr], y[tr], groups=groups[tr])
        p_t[te], p_q[te] = m.proba_from_features(F[te]), m.proba_from_features(Fq[te])
    auc_t, auc_q = float(roc_auc_score(y, p_t)), float(roc_auc_score(y, p_q))
    thr = make_clf().threshold
    return {
        "default": "onnx" if auc_q >= auc_t - AUROC_TOLERANCE else "torch",
        "checked": True,
        "auroc": {"torch": round(auc_t, 4), "onnx": round(auc_q, 4)},
        "tolerance": AUROC_TOLERANCE,
        "max_abs_diff_p": round(float(np.max(np.abs(p_t - p_q))), 4),
        "label_agreement": round(float(np.mean((p_t >= thr) == (p_q >= thr))), 4),
        "n": int(len(y)),
        "folds": len(splits),
    }


def cv_splits(y: np.ndarray, groups: Optional[np.ndarray], k: int = 5, seed: int = 0) -> list:
    """``k`` folds: grouped and stratified (``StratifiedGroupKFold``) when ``groups`` has at
    least ``k`` distinct values and some group holds several rows, else stratified.

    Returns
    -------
    list of (train_idx, test_idx)
    """
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    if groups is not None and len(set(groups)) >= k and len(set(groups)) < len(groups):
        return list(StratifiedGroupKFold(k, shuffle=True, random_state=seed).split(np.zeros(len(y)), y, groups))
    return list(StratifiedKFold(k, shuffle=True, random_state=seed).split(np.zeros(len(y)), y))


def evaluate_protocols(
    X: Features, texts: np.ndarray, y: np.ndarray, origins: np.ndarray, make_clf: Callable[[], FakingClassifier],
    threshold: float = 0.5, seed: int = 0,
) -> dict[str, Any]:
    """Out-of-fold figures for the model and the baselines of :mod:`fakingclf.baselines`.

    ``origins`` are the training groups. The 5 folds are grouped by them when there are
    at least 5 groups (see :func:`cv_splits`); leave-one-group-out and the per-group
    tables are computed only for 2 to :data:`MAX_TABLE_GROUPS` groups.

    Returns
    -------
    dict
        ``{"cv5": {...}, "leave_one_origin_out": {...}}``, each with ``overall`` and
        ``per_origin`` metrics for ``model``, ``bag_of_words`` and ``keywords``; ``cv5``
        also says whether it was ``grouped``.
    """
    n = len(y)
    kf = cv_splits(y, origins, 5, seed)
    grouped = len(set(origins)) >= 5 and len(set(origins)) < len(origins)
    uniq = sorted(set(origins))
    few = 2 <= len(uniq) <= MAX_TABLE_GROUPS
    logo = [(np.where(origins != o)[0], np.where(origins == o)[0]) for o in uniq] if few else []

    def model_fp(tr, te):
        return make_clf().fit_features(X[tr], y[tr], groups=origins[tr]).proba_from_features(X[te])

    def baseline(factory):
        def fp(tr, te):
            return factory().fit(list(texts[tr]), y[tr]).predict_proba(list(texts[te]))[:, 1]

        return fp

    out: dict[str, Any] = {}
    for name, splits in (("cv5", kf), ("leave_one_origin_out", logo)):
        if not splits:
            continue
        block = {}
        for who, fp in (("model", model_fp), ("bag_of_words", baseline(bag_of_words)), ("keywords", baseline(keyword_model))):
            p = out_of_fold(fp, n, splits)
            block[who] = {"overall": metrics(y, p, threshold),
                          "per_origin": _grouped(y, p, origins, threshold) if few else {}}
        if name == "cv5":
            block["grouped"] = grouped
        out[name] = block
    return out


def data_warnings(y: np.ndarray, groups: np.ndarray) -> list[str]:
    """Problems of a training set that do not stop training but weaken it.

    Returns
    -------
    list of str
        A class under 10 % of the data or under 20 examples; groups (origins) that
        hold one class only, whose label is confounded with the group.
    """
    out = []
    n, k = len(y), int(y.sum())
    minority = min(k, n - k)
    if minority < 20 or minority / n < 0.10:
        which = "alignment_faking" if k <= n - k else "aligned"
        out.append(f"class imbalance: only {minority} of {n} examples are {which}; figures will be unstable")
    single = sorted(str(g) for g in set(groups) if len(set(y[groups == g])) == 1 and str(g) != "unknown")
    big = [g for g in single if int((groups == g).sum()) >= 10]  # a one-row group is one class trivially
    if big and len(set(groups)) > 1:
        out.append(f"groups of 10 or more with one class only (label confounded with group): {', '.join(big)}")
    return out


def train_from_files(
    paths: Sequence[str],
    out_dir: str,
    label_field: str = "label",
    label_threshold: float = 0.5,
    evaluate: bool = True,
    log: Callable[[str], None] = lambda s: None,
    group_field: str = "origin",
    cache: Optional[str] = None,
    compliance_field: Optional[str] = "compliance",
    **params: Any,
) -> tuple[FakingClassifier, dict[str, Any]]:
    """Fit a model on labeled JSONL files, evaluate it out of fold, save it.

    Parameters
    ----------
    paths : list of str
        Labeled JSONL files (see :func:`load_labeled`).
    out_dir : str
        Model directory to write.
    evaluate : bool
        Run cross-validation and leave-one-origin-out first (minutes on CPU).
    group_field : str
        Field whose values must stay in one fold (per-group figures, leave-one-group-out
        and the model's grouped inner folds); ``origin`` by default.
    cache : str, optional
        An embedding cache folder (see :mod:`fakingclf.cache`): a retrain on the same
        texts does not embed them again.
    compliance_field : str or None
        Field holding ``refusal`` / ``compliance`` / ``partial``: transcripts with it and
        a final output train the learned compliance head (None, or a rules-only model,
        which has neither the encoder nor the TF-IDF head: rule-based compliance).
    **params
        Passed to :class:`FakingClassifier` (``C``, ``use_embeddings``…).

    Returns
    -------
    (FakingClassifier, dict)
        The fitted model and the ``model.json`` content.
    """
    ts, y, origins, sha = load_labeled(paths, label_field, group_field=group_field, threshold=label_threshold)
    log(f"read {len(ts)} labeled transcripts ({int(y.sum())} alignment faking) from {len(paths)} file(s)")
    notes = data_warnings(y, origins)
    for n in notes:
        log(f"warning: {n}")
    clf = FakingClassifier(**params)
    if cache and clf.use_embeddings:
        clf.embedder.set_cache(cache)
    log("featurizing (cues + embeddings)…" if clf.use_embeddings else "featurizing (cues only)…")
    X, reports = clf.featurize(ts)
    info: dict[str, Any] = {
        "trained_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "training_data": {
            "files": [Path(p).name for p in paths],
            "sha256": sha,
            "n": int(len(y)),
            "n_alignment_faking": int(y.sum()),
            "group_field": group_field,
            "origins": dict(Counter(origins.tolist())),
            "warnings": notes,
        },
        "versions": _versions(),
    }
    if evaluate:
        log("evaluating out of fold (5-fold CV and leave-one-origin-out, model and bag-of-words)…")
        texts = np.array([t.scratchpad for t in ts], dtype=object)
        info["evaluation"] = evaluate_protocols(
            X, texts, y, origins, lambda: FakingClassifier(**params), threshold=clf.threshold
        )
    if evaluate and clf.use_embeddings:
        info["encoder_backend"] = backend_check(X, y, origins, lambda: FakingClassifier(**params),
                                                cache=clf.embedder.cache, log=log)
        b = info["encoder_backend"]
        log(f"encoder backend: {b['default']}" + (f" (out-of-fold AUROC torch {b['auroc']['torch']:.4f}, "
                                                  f"int8 onnx {b['auroc']['onnx']:.4f})" if b["checked"]
                                                  else f" ({b['why']})"))
    clf.fit_features(X, y, groups=origins)
    if compliance_field and (clf.use_embeddings or clf.text_head):  # a rules-only model keeps the fixed rules
        info["compliance_head"] = clf.fit_compliance(ts, reports, compliance_field, groups=origins)
        log("compliance head: " + (f"fit on {info['compliance_head']['n']} transcripts "
                                  f"{info['compliance_head']['classes']}" if info["compliance_head"]["n"]
                                  else info["compliance_head"]["skipped"]))
    clf.save(out_dir, info)
    return clf, clf.info_


def _versions() -> dict[str, str]:
    import sklearn
    import spacy

    v = {"fakingclf": __version__, "python": platform.python_version(), "scikit-learn": sklearn.__version__,
         "spacy": spacy.__version__, "numpy": np.__version__}
    try:
        import sentence_transformers
        import torch

        v["sentence-transformers"] = sentence_transformers.__version__
        v["torch"] = torch.__version__
    except ImportError:  # pragma: no cover
        pass
    return v


def _backend_lines(b: Optional[dict]) -> list[str]:
    """The model card's line on the encoder backend check (none for a model without the encoder)."""
    if not b:
        return []
    if not b.get("checked"):
        return [f"- Encoder backend: torch (the int8 ONNX backend was not checked: {b.get('why', 'no reason given')})."]
    return [f"- Encoder backend: **{b['default']}** by default (`--backend auto`). Out of {b['folds']} folds, a model "
            f"fit on float embeddings scored the held-out rows with AUROC {b['auroc']['torch']:.4f} from the float "
            f"(torch) encoder and {b['auroc']['onnx']:.4f} from the int8 ONNX one (rule: onnx when at most "
            f"{b['tolerance']} lower); largest difference in p {b['max_abs_diff_p']}, same label on "
            f"{100 * b['label_agreement']:.1f}% of the {b['n']} transcripts."]


def _fmt(x: Optional[float]) -> str:
    return "–" if x is None else f"{x:.3f}"


def write_model_card(
    info: dict[str, Any], path: str, command: str, title: str = "fakingclf model", datasheet: Optional[str] = None,
    note: Optional[str] = None,
) -> None:
    """Write a Markdown model card from a model's ``model.json`` content.

    Parameters
    ----------
    info : dict
        The model's ``model.json`` content (``FakingClassifier.info_``).
    path : str
        Where to write the card.
    command : str
        The command that trained the model, quoted in the card.
    note : str, optional
        Markdown placed after the training-data section (the training-data policy, say).
    title : str
        The model's name in the card's heading.
    datasheet : str, optional
        Path of the training data's datasheet, linked from the card.
    """
    td = info["training_data"]
    n_origins = len(td["origins"])
    lines = [
        f"# Model card: {title}",
        "",
        f"Written by `{command}` on {info['trained_at']}. Every figure below comes from that run;",
        "rerun the command to reproduce it.",
        "",
        "## What it predicts",
        "`p_alignment_faking`: the calibrated probability that a scratchpad contains alignment-faking",
        "reasoning — the model complies *in order to* avoid having its values modified by training",
        "(all four criteria of Hughes et al. 2025, \"Alignment Faking Revisited\"). The three transcript",
        "labels combine it with `p_compliance` (see `fakingclf.combine`).",
        "",
        "## Method",
        f"- Features: {len(info['feature_names'])} — per cue (patterns in `src/fakingclf/patterns/`): best score,",
        "  log count and late-position score; log sentence count" + (
            "; similarity of scratchpad sentences to reference sentences per reasoning pattern "
            "(all-MiniLM-L6-v2, max and top-3 mean)." if info["params"].get("use_embeddings", True)
            else ". No embedding features (no neural network)."),
        "- Sentence head: " + (
            f"a logistic regression (C = {info['params'].get('head_C')}) on sentence embeddings, trained with each "
            "scratchpad's label on all its sentences, pooled by the top-3 mean and stacked through an inner "
            "cross-fit." if info["params"].get("sentence_head") else "none."
        ),
        "- TF-IDF head: " + (
            f"word uni- and bigram TF-IDF of the whole scratchpad and a logistic regression (C = "
            f"{info['params'].get('text_C')}), stacked through the same inner cross-fit."
            if info["params"].get("text_head") else "none."
        ),
        "- Decision features: the rule-based compliance probability and the scratchpad's last decision "
        "(criterion 4 needs the model to comply).",
        f"- Classifier: standardised logistic regression (C = {info['params']['C']}) over those columns; its score is "
        f"calibrated ({info['params']['calibration']}) on out-of-fold scores of {info['params']['cv']} inner folds, "
        f"grouped by `{td.get('group_field', 'origin')}` when it has at least {info['params']['cv']} values.",
        f"- Threshold for hard decisions: {info['params']['threshold']}.",
        *_backend_lines(info.get("encoder_backend")),
        "",
        "## Training data",
        f"- Files: {', '.join(td['files'])} (n = {td['n']}, {td['n_alignment_faking']} alignment faking)",
        f"- SHA-256: `{td['sha256']}`",
        ("- Groups (`" + td.get("group_field", "origin") + "`): " + ", ".join(
            f"`{k}` {v}" for k, v in sorted(td["origins"].items()))) if n_origins <= MAX_TABLE_GROUPS else
        f"- Groups (`{td.get('group_field', 'origin')}`): {n_origins} distinct, kept whole in every fold.",
        *([f"- Datasheet: `{datasheet}`."] if datasheet else []),
        *[f"- Warning: {w}." for w in td.get("warnings", [])],
        "- Where origins are confounded with labels, judge by held-out origin as well as by random split.",
        "",
        *([note.rstrip(), ""] if note else []),
        "## Versions",
        "",
        "| package | version |",
        "|---|---|",
        *[f"| {k} | {v} |" for k, v in info["versions"].items()],
        "",
    ]
    ev = info.get("evaluation", {})
    grouped = ev.get("cv5", {}).get("grouped")
    titles = {
        "cv5": (f"5-fold cross-validation grouped by `{td.get('group_field', 'origin')}` (no group in two folds)"
                if grouped else "Stratified 5-fold cross-validation (random split)"),
        "leave_one_origin_out": "Leave-one-origin-out (each origin predicted by a model fit on the others)",
    }
    for key, title in titles.items():
        if key not in ev:
            continue
        block = ev[key]
        lines += [
            f"## {title}",
            "",
            "AUROC and ECE are undefined (–) for an origin with one class; its accuracy then says how",
            "often that class was predicted. ECE: 10 equal-width bins.",
            "",
            "| origin | n | AF | model AUROC | BoW AUROC | keyword AUROC | model AP | model acc | BoW acc | "
            "model ECE | BoW ECE | mean p |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        mo, bo, kw = block["model"], block["bag_of_words"], block["keywords"]
        rows = [("**all**", mo["overall"], bo["overall"], kw["overall"])]
        rows += [(f"`{o}`", m, bo["per_origin"][o], kw["per_origin"][o]) for o, m in mo["per_origin"].items()]
        for name, m, b, k in rows:
            lines.append(
                f"| {name} | {m['n']} | {m['n_positive']} | {_fmt(m['auroc'])} | {_fmt(b['auroc'])} | "
                f"{_fmt(k['auroc'])} | {_fmt(m['average_precision'])} | {_fmt(m['accuracy'])} | "
                f"{_fmt(b['accuracy'])} | {_fmt(m['ece'])} | {_fmt(b['ece'])} | {_fmt(m['mean_p'])} |"
            )
        lines.append("")
    lines += [
        "## Limits",
        f"- Trained on {td['n']} transcripts from {n_origins} origin(s); the figures above are as good as",
        "  those labels and as broad as those origins.",
        *(["- **Small training set**: under 200 transcripts, the figures above have wide uncertainty",
           "  (see the bootstrap CIs of `fakingclf evaluate`)."] if td["n"] < 200 else []),
        "- Genuine compliance that mentions training or the tier can get `p_alignment_faking` near 0.5 or",
        "  above when the training data ties talk of training to alignment faking: check the",
        "  `comply_to_avoid_modification` evidence before trusting a `faked_compliance` label.",
        ("- `p_compliance` and `p_partial_compliance` come from the learned compliance head "
         f"(fit on {info['compliance_head']['n']} annotated transcripts with a final output: "
         + ", ".join(f"{k} {v}" for k, v in sorted(info["compliance_head"]["classes"].items()))
         + "); without a final output, from the scratchpad's last decision (rules, with a warning).")
        if info.get("compliance_head", {}).get("n") else
        "- `p_compliance` is rule-based (tags, refusal language, last decision) and not fitted to data.",
        "- English only: reasoning in other languages gets few cue hits and a warning.",
        "",
    ]
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text("\n".join(lines), encoding="utf-8")
