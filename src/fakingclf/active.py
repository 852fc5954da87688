"""Annotation helpers: what to annotate next, and which annotations look wrong.

* :func:`suggest` ranks unlabeled transcripts for annotation by uncertainty
  sampling (``p_alignment_faking`` near the threshold) mixed with diversity: a
  greedy farthest-first walk over the scratchpads' mean sentence embeddings
  (k-center greedy; Sener & Savarese 2018, "Active learning for convolutional
  neural networks: a core-set approach"), so the batch does not repeat one kind of
  transcript.
* :func:`label_issues` flags annotations that disagree with out-of-fold
  predictions of the training method (the confident-learning idea of Northcutt et
  al. 2021, "Confident learning: estimating uncertainty in dataset labels", reduced to
  its simplest form: out-of-fold probability of the given label below 0.5, ranked).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .classifier import FakingClassifier, Features
from .transcript import Transcript

__all__ = ["suggest", "label_issues"]


def suggest(
    clf: FakingClassifier, transcripts: Sequence[Transcript], n: int = 50, diversity: float = 0.5
) -> list[dict[str, Any]]:
    """Pick up to ``n`` transcripts most worth annotating next.

    Parameters
    ----------
    clf : FakingClassifier
        A fitted model.
    transcripts : list of Transcript
    n : int
        How many to pick.
    diversity : float in [0, 1]
        Weight of distance to the transcripts already picked; 0 = pure uncertainty.

    Returns
    -------
    list of dict
        In pick order: ``{"id", "rank", "p_alignment_faking", "uncertainty", "distance"}``;
        ``uncertainty`` = 1 − 2·|p − threshold| clipped to [0, 1]; ``distance`` in [0, 1]
        = cosine distance to the nearest earlier pick (1 for the first). A transcript
        whose scratchpad is empty, or whose representation is a zero vector (nothing to
        compare), has distance 0, and so has one whose scratchpad (whitespace aside)
        equals an earlier pick's: they get no credit for diversity, only for uncertainty.

    Raises
    ------
    ValueError
        If ``n < 1`` or ``diversity`` lies outside [0, 1].
    """
    if n < 1:
        raise ValueError("n must be at least 1")
    if not 0.0 <= diversity <= 1.0:
        raise ValueError("diversity must lie in [0, 1]")
    if not transcripts:
        return []
    F, _ = clf.featurize(transcripts)
    p = clf.proba_from_features(F)
    u = np.clip(1.0 - 2.0 * np.abs(p - clf.threshold), 0.0, 1.0)
    R = _representation(F)
    texts = [" ".join(t.scratchpad.split()) for t in transcripts]
    # nothing to tell apart: an empty scratchpad, or a representation of zeros
    dist = np.array([1.0 if text and np.any(r) else 0.0 for text, r in zip(texts, R)])
    picked: list[int] = []
    out = []
    for rank in range(1, min(n, len(p)) + 1):
        score = (1 - diversity) * u + diversity * dist
        score[picked] = -np.inf
        i = int(np.argmax(score))
        out.append({"id": transcripts[i].id, "rank": rank, "p_alignment_faking": round(float(p[i]), 6),
                    "uncertainty": round(float(u[i]), 6), "distance": round(float(dist[i]), 6)})
        picked.append(i)
        dist = np.minimum(dist, np.clip(1.0 - R @ R[i], 0.0, 1.0))
        dist[[j for j, text in enumerate(texts) if text == texts[i]]] = 0.0  # duplicates of this pick
    return out


def _representation(F: Features) -> np.ndarray:
    """Unit-length vectors: mean sentence embedding, or standardized features when there is none."""
    rows = [U.mean(axis=0) if len(U) else None for U in F.units]
    if all(r is None for r in rows):
        X = F.X - F.X.mean(axis=0)
        X = X / (X.std(axis=0) + 1e-9)
    else:
        dim = next(len(r) for r in rows if r is not None)
        X = np.array([r if r is not None else np.zeros(dim) for r in rows])
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    return X / np.where(norms == 0, 1.0, norms)


def label_issues(
    transcripts: Sequence[Transcript], y: np.ndarray, params: dict[str, Any], cv: int = 5, seed: int = 0
) -> list[dict[str, Any]]:
    """Annotations that the training method, fit without them, contradicts.

    Parameters
    ----------
    transcripts : list of Transcript
    y : ndarray of shape (n,), 0/1 annotations
    params : dict
        :class:`FakingClassifier` parameters of the training method.
    cv : int
        Stratified folds.

    Returns
    -------
    list of dict
        ``{"id", "label", "p_alignment_faking", "p_given_label"}`` for every record
        whose out-of-fold probability of its own label is below 0.5, most doubtful
        first.
    """
    from sklearn.model_selection import StratifiedKFold

    from .train import out_of_fold

    y = np.asarray(y, dtype=int)
    make = FakingClassifier(**params)
    F, _ = make.featurize(transcripts)
    splits = StratifiedKFold(cv, shuffle=True, random_state=seed).split(np.zeros(len(y)), y)
    p = out_of_fold(
        lambda tr, te: FakingClassifier(**params).fit_features(F[tr], y[tr]).proba_from_features(F[te]), len(y), splits
    )
    p_given = np.where(y == 1, p, 1.0 - p)
    order = np.argsort(p_given)
    return [
        {"id": transcripts[i].id, "label": "alignment_faking" if y[i] else "aligned",
         "p_alignment_faking": round(float(p[i]), 6), "p_given_label": round(float(p_given[i]), 6)}
        for i in order if p_given[i] < 0.5
    ]
