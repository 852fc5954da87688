"""Evaluation metrics for ``p_alignment_faking`` against labels (scikit-learn and SciPy).

* AUROC, average precision, accuracy, precision, recall, F1 and the confusion
  matrix: ``sklearn.metrics``.
* Bootstrap 95 % CI of the AUROC: ``scipy.stats.bootstrap`` over the positive and
  the negative scores as two independent samples (a stratified bootstrap: every
  resample keeps both classes), BCa intervals (Efron 1987). The AUROC is computed as
  the Mann–Whitney U statistic divided by ``n_pos * n_neg`` (ties count one half).
* Expected calibration error (Naeini et al. 2015): 10 equal-width bins, the
  ``sklearn.calibration.calibration_curve`` bins, each gap weighted by its bin's
  share of the samples.
* Reliability diagram: ``sklearn.calibration.CalibrationDisplay``.
"""

from __future__ import annotations

import os
from typing import Any, Optional

import numpy as np

__all__ = [
    "expected_calibration_error",
    "auroc_ci",
    "binary_metrics",
    "reliability_diagram",
]


def expected_calibration_error(y, p, n_bins: int = 10) -> float:
    """Expected calibration error with ``n_bins`` equal-width bins.

    Parameters
    ----------
    y : array-like of shape (n,)
        0/1 labels.
    p : array-like of shape (n,)
        Predicted probabilities of class 1, in [0, 1].

    Returns
    -------
    float in [0, 1]
        ``sum_b (n_b / n) * |mean(y in b) - mean(p in b)|`` over non-empty bins.
    """
    from sklearn.calibration import calibration_curve

    y, p = np.asarray(y), np.asarray(p, dtype=float)
    frac, mean_p = calibration_curve(y, p, n_bins=n_bins, strategy="uniform")
    # the same bin ids as calibration_curve(strategy="uniform"), which drops empty bins
    bins = np.searchsorted(np.linspace(0.0, 1.0, n_bins + 1)[1:-1], p)
    weights = np.bincount(bins, minlength=n_bins)
    weights = weights[weights > 0] / len(p)
    return float(np.sum(weights * np.abs(frac - mean_p)))


def _auc_two_sample(pos, neg, axis=-1):
    # P(score_pos > score_neg) + 0.5 P(tie), vectorised over leading axes.
    pos = np.asarray(pos)[..., :, None]
    neg = np.asarray(neg)[..., None, :]
    gt = (pos > neg).mean(axis=(-2, -1))
    eq = (pos == neg).mean(axis=(-2, -1))
    return gt + 0.5 * eq


def auroc_ci(y, p, confidence: float = 0.95, n_resamples: int = 2000, seed: int = 0) -> tuple[float, float]:
    """Bootstrap confidence interval of the AUROC (stratified, BCa).

    Returns
    -------
    (low, high) : floats in [0, 1]; ``(nan, nan)`` when ``y`` has fewer than 2
    positives or fewer than 2 negatives (a bootstrap resamples each class, and a
    class of one score gives no interval).
    """
    import warnings

    from scipy.stats import DegenerateDataWarning

    y, p = np.asarray(y), np.asarray(p, dtype=float)
    pos, neg = p[y == 1], p[y == 0]
    if len(pos) < 2 or len(neg) < 2:
        return float("nan"), float("nan")
    with warnings.catch_warnings():  # a degenerate BCa interval falls back to the percentile one
        warnings.simplefilter("ignore", DegenerateDataWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        return _bootstrap_ci(pos, neg, confidence, n_resamples, seed)


def _bootstrap_ci(pos, neg, confidence: float, n_resamples: int, seed: int) -> tuple[float, float]:
    from scipy.stats import bootstrap

    if len(pos) * len(neg) * n_resamples > 5e8:  # keep memory bounded on large sets
        n_resamples = max(200, int(5e8 // (len(pos) * len(neg))))
    res = bootstrap(
        (pos, neg),
        lambda a, b, axis=-1: _auc_two_sample(a, b),
        paired=False,
        vectorized=True,
        batch=max(1, int(2e7 // (len(pos) * len(neg)))),
        n_resamples=n_resamples,
        confidence_level=confidence,
        method="BCa",
        random_state=seed,
    )
    lo, hi = res.confidence_interval
    if not (np.isfinite(lo) and np.isfinite(hi)):  # BCa undefined (e.g. perfect separation)
        res = bootstrap(
            (pos, neg), lambda a, b, axis=-1: _auc_two_sample(a, b), paired=False, vectorized=True,
            batch=max(1, int(2e7 // (len(pos) * len(neg)))), n_resamples=n_resamples,
            confidence_level=confidence, method="percentile", random_state=seed,
        )
        lo, hi = res.confidence_interval
    return float(lo), float(hi)


def binary_metrics(y, p, threshold: float = 0.5, ci: bool = True, n_resamples: int = 2000) -> dict[str, Any]:
    """All the figures of ``fakingclf evaluate`` for one set of labels and scores.

    Parameters
    ----------
    y : array-like of shape (n,), 0/1
    p : array-like of shape (n,), probabilities in [0, 1]
    threshold : float
        Scores at or above it count as positive for accuracy, precision, recall, F1
        and the confusion matrix.
    ci : bool
        Compute the bootstrap CI of the AUROC.

    Returns
    -------
    dict
        ``n``, ``n_positive``, ``auroc``, ``auroc_ci`` ([low, high]), ``average_precision``,
        ``accuracy``, ``precision``, ``recall``, ``f1``, ``confusion_matrix``
        (``[[tn, fp], [fn, tp]]``), ``ece``, ``mean_p``, ``threshold``. Figures that
        need both classes are None when ``y`` has one; ``auroc_ci`` is ``[None, None]``
        when a class has a single member (no bootstrap interval exists).
    """
    from sklearn.metrics import (
        accuracy_score,
        average_precision_score,
        confusion_matrix,
        precision_recall_fscore_support,
        roc_auc_score,
    )

    y, p = np.asarray(y).astype(int), np.asarray(p, dtype=float)
    pred = (p >= threshold).astype(int)
    two = len(np.unique(y)) == 2
    # undefined precision (nothing predicted positive) or recall (no positives) is None, not 0
    prec, rec, f1, _ = precision_recall_fscore_support(y, pred, average="binary", zero_division=np.nan)

    def r(x: Optional[float]) -> Optional[float]:
        return None if x is None or not np.isfinite(x) else round(float(x), 4)

    lo, hi = auroc_ci(y, p, n_resamples=n_resamples) if (two and ci) else (None, None)
    return {
        "n": int(len(y)),
        "n_positive": int(y.sum()),
        "threshold": threshold,
        "auroc": r(roc_auc_score(y, p)) if two else None,
        "auroc_ci": [r(lo), r(hi)] if (two and ci) else None,
        "average_precision": r(average_precision_score(y, p)) if two else None,
        "accuracy": r(accuracy_score(y, pred)),
        "precision": r(prec),
        "recall": r(rec),
        "f1": r(f1),
        "confusion_matrix": confusion_matrix(y, pred, labels=[0, 1]).tolist(),
        "ece": r(expected_calibration_error(y, p)) if two else None,
        "mean_p": r(p.mean()),
    }


def reliability_diagram(y, p, path: str, title: str = "Reliability of p_alignment_faking", n_bins: int = 10) -> str:
    """Save a reliability diagram (observed frequency vs mean predicted probability), as PNG
    unless ``path``'s extension names another format matplotlib writes.

    Written by :func:`fakingclf.io.open_output` (a regular file appears whole; a symlink's
    target is replaced; a FIFO or device is written in place).

    Returns
    -------
    str
        The path written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.calibration import CalibrationDisplay

    fig, ax = plt.subplots(figsize=(5, 5))
    CalibrationDisplay.from_predictions(np.asarray(y), np.asarray(p), n_bins=n_bins, ax=ax, name="fakingclf")
    ece = expected_calibration_error(y, p, n_bins)
    import textwrap

    ax.set_title(textwrap.fill(title, 48) + f"\nECE ({n_bins} bins) = {ece:.3f}, n = {len(p)}", fontsize=10)
    fig.tight_layout()
    from .io import open_output

    fmt = os.path.splitext(str(path))[1][1:].lower() or None  # by extension, as savefig(path) would choose
    try:
        with open_output(path) as f:  # a regular file appears whole; a symlink or FIFO is written through
            fig.savefig(f, format=fmt, dpi=120)
    finally:
        plt.close(fig)
    return path
