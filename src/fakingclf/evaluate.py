"""``fakingclf evaluate``: score ``p_alignment_faking`` against labeled transcripts.

Two questions, two modes:

* **the shipped (or a given) model** on a labeled file: every figure of
  :func:`fakingclf.metrics.binary_metrics`, overall and per group;
* **the training method** (``cv`` or ``leave_one_group_out``): out-of-fold
  predictions from models fit on the other folds — stratified K-fold, or one fold
  per value of a field (e.g. ``origin``) — so the figures say how the method
  generalizes, not how well a model remembers its own training data.

When the labels are numbers (an LLM judge's vote fraction, e.g. ``judge.af_fraction``
written by ``fakingclf judge``), they are thresholded at ``label_threshold`` and every
metrics block also gets Cohen's kappa between the model's decisions at its threshold
and the thresholded labels (``sklearn.metrics.cohen_kappa_score``): the model's
agreement with the judge, beside the AUROC against the same labels.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

import numpy as np
import orjson

from .classifier import FakingClassifier
from .io import get_path
from .metrics import binary_metrics, reliability_diagram
from .train import NEGATIVE, POSITIVE, load_labeled, out_of_fold

__all__ = ["evaluate_files"]


def evaluate_files(
    paths: Sequence[str],
    model: Optional[str] = None,
    label_field: str = "label",
    positive: Sequence[str] = tuple(POSITIVE),
    negative: Sequence[str] = tuple(NEGATIVE),
    group_by: Optional[str] = None,
    cv: Optional[int] = None,
    leave_one_group_out: Optional[str] = None,
    threshold: Optional[float] = None,
    plot: Optional[str] = None,
    n_resamples: int = 2000,
    seed: int = 0,
    label_threshold: float = 0.5,
    log: Optional[Callable[[str], None]] = None,
    backend: str = "auto",
) -> dict[str, Any]:
    """Evaluate on labeled JSONL files.

    Parameters
    ----------
    paths : list of str
        Labeled JSONL files (any transcript layout; a label field).
    model : str, optional
        Model directory; the shipped default when omitted. In ``cv`` /
        ``leave_one_group_out`` modes its parameters define the training method.
    label_field : str
        Field holding the label.
    positive, negative : list of str
        Label values (case-insensitive) meaning alignment faking / not.
    group_by : str, optional
        Field for per-group figures (e.g. ``origin``, ``model``).
    cv : int, optional
        Evaluate the training method by stratified ``cv``-fold cross-validation.
    leave_one_group_out : str, optional
        Evaluate the training method holding out one value of this field at a time
        (also reported per held-out group).
    threshold : float, optional
        Decision threshold; the model's own (0.5 by default) when omitted.
    plot : str, optional
        Write a reliability diagram PNG here.
    label_threshold : float in [0, 1]
        A numeric label (a judge's vote fraction) at or above this counts as
        alignment faking.
    log : callable, optional
        Called with ``"loading model…"`` just before the model loads (after the data
        has been read), for a command line to show.

    Returns
    -------
    dict
        ``{"mode", "n", "overall": metrics, "groups": {value: metrics}, ...}``. With
        numeric labels, also ``label_threshold``, and ``cohen_kappa`` (in [-1, 1];
        None when undefined, e.g. both sides constant) in every metrics block. A block
        whose labels have a single class has ``auroc``, ``auroc_ci``, ``average_precision``
        and ``ece`` None; with fewer than 2 positives or 2 negatives, ``auroc_ci`` is
        ``[None, None]`` (no bootstrap interval), the other figures are given.

    Raises
    ------
    ValueError
        Unreadable records, unknown labels, fewer than 2 groups for
        ``leave_one_group_out``, or both ``cv`` and ``leave_one_group_out``.
    """
    if cv and leave_one_group_out:
        raise ValueError("use either --cv or --leave-one-group-out, not both")
    group_field = leave_one_group_out or group_by
    ts, y, groups, sha = load_labeled(
        paths, label_field, group_field=group_field or "origin", positive=positive, negative=negative,
        threshold=label_threshold,
    )
    if log is not None:
        log("loading model…")
    base = FakingClassifier.load(model, backend=backend, log=log)
    used = base.backend if base.use_embeddings else None  # a model without the encoder uses no backend
    thr = base.threshold if threshold is None else threshold
    if cv or leave_one_group_out:
        params = dict(base.info_.get("params", {}))
        X, _ = base.featurize(ts)
        fit_groups = groups if group_by else None
        if cv:
            from .train import cv_splits

            splits = cv_splits(y, fit_groups, cv, seed)
            mode = f"training method, {cv}-fold CV" + (f" grouped by '{group_by}'" if group_by else ", stratified")
        else:
            values = sorted(set(groups))
            if len(values) < 2:
                raise ValueError(f"--leave-one-group-out {leave_one_group_out}: need at least 2 groups, got {values}")
            splits = [(np.where(groups != v)[0], np.where(groups == v)[0]) for v in values]
            mode = f"training method, leave one '{leave_one_group_out}' out"
        p = out_of_fold(
            lambda tr, te: FakingClassifier(**params).fit_features(
                X[tr], y[tr], groups=None if fit_groups is None else fit_groups[tr]).proba_from_features(X[te]),
            len(y), splits,
        )
    else:
        p = base.predict_proba(ts)
        mode = f"model {base.version}"
    result: dict[str, Any] = {
        "mode": mode,
        "files": list(paths),
        "data_sha256": sha,
        "label_field": label_field,
        "threshold": thr,
        "backend": used,
        "overall": binary_metrics(y, p, thr, n_resamples=n_resamples),
    }
    if group_field:
        result["group_field"] = group_field
        result["groups"] = {
            str(v): binary_metrics(y[groups == v], p[groups == v], thr, n_resamples=n_resamples)
            for v in sorted(set(groups))
        }
    if _numeric_labels(paths, label_field):
        result["label_threshold"] = label_threshold
        blocks = [(result["overall"], np.ones(len(y), dtype=bool))]
        blocks += [(m, groups == v) for v, m in zip(sorted(set(groups)), result.get("groups", {}).values())]
        for m, rows in blocks:
            m["cohen_kappa"] = _kappa(y[rows], p[rows] >= thr)
    if plot:
        result["reliability_diagram"] = reliability_diagram(y, p, plot, title=f"p_alignment_faking — {mode}")
    return result


def _numeric_labels(paths: Sequence[str], label_field: str) -> bool:
    """True when some record of ``paths`` has a number (not a boolean) as its label."""
    for path in paths:
        with open(path, "rb") as f:
            for line in f:
                try:
                    rec = orjson.loads(line)
                except orjson.JSONDecodeError:
                    continue
                if isinstance(rec, dict):
                    v = rec[label_field] if label_field in rec else get_path(rec, label_field)
                    if isinstance(v, (int, float)) and not isinstance(v, bool):
                        return True
    return False


def _kappa(y: np.ndarray, decision: np.ndarray) -> Optional[float]:
    """Cohen's kappa of two 0/1 ratings; None when undefined (both constant and equal)."""
    from sklearn.metrics import cohen_kappa_score

    if len(y) == 0 or (len(set(y.tolist())) == 1 and set(y.tolist()) == set(decision.astype(int).tolist())):
        return None
    k = float(cohen_kappa_score(y, decision.astype(int)))
    return None if np.isnan(k) else k
