"""The fitted linear parts in plain numbers, for a start-up without scikit-learn.

Importing scikit-learn (scipy.stats, pandas) and ``skops.io`` (which scans every
scikit-learn estimator at import and, through its array-API layer, imports torch)
takes several seconds: more than labeling one transcript. A model whose parts are all
linear — the rules-only model: a ``StandardScaler`` + ``LogisticRegression`` combiner
and a Platt (``LogisticRegression``) or isotonic calibrator, no text or sentence head
and no learned compliance head — is also saved as :data:`LIGHT_FILE`, the same fitted
numbers as JSON (floats written with ``repr``, so they read back bit for bit), and
loaded from it with numpy alone. ``tests/test_light.py`` checks that the light parts
give scikit-learn's outputs on the shipped model.

The file names the SHA-256 of the ``model.skops`` written with it, and is used only
when that file still has that hash: a light file never outlives its model.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["LIGHT_FILE", "LightScaler", "LightLogistic", "LightPipeline", "LightIsotonic", "export", "save", "load"]

LIGHT_FILE = "light.json"
LIGHT_FORMAT = "fakingclf-light/1"


class LightScaler:
    """``StandardScaler.transform`` (``(X - mean_) / scale_``) from its fitted arrays."""

    def __init__(self, mean: Any, scale: Any):
        self.mean_ = np.asarray(mean, dtype=np.float64)
        self.scale_ = np.asarray(scale, dtype=np.float64)
        self.n_features_in_ = len(self.mean_)

    def transform(self, X) -> np.ndarray:
        """X of shape (n_samples, n_features) -> standardized, same shape."""
        return (np.asarray(X, dtype=np.float64) - self.mean_) / self.scale_


class LightLogistic:
    """A binary ``LogisticRegression``'s ``decision_function`` and ``predict_proba``."""

    def __init__(self, coef: Any, intercept: Any, classes: Any):
        self.coef_ = np.asarray(coef, dtype=np.float64).reshape(1, -1)
        self.intercept_ = np.asarray(intercept, dtype=np.float64).reshape(1)
        self.classes_ = np.asarray(classes)
        self.n_features_in_ = self.coef_.shape[1]

    def decision_function(self, X) -> np.ndarray:
        """Log-odds of class ``classes_[1]``, shape (n_samples,)."""
        return np.asarray(X, dtype=np.float64) @ self.coef_[0] + self.intercept_[0]

    def predict_proba(self, X) -> np.ndarray:
        """Shape (n_samples, 2): the probabilities of ``classes_[0]`` and ``classes_[1]``."""
        p = 1.0 / (1.0 + np.exp(-self.decision_function(X)))
        return np.column_stack([1.0 - p, p])


class LightPipeline:
    """The combiner: a scaler then a logistic regression, indexable like a scikit-learn ``Pipeline``."""

    def __init__(self, scaler: LightScaler, lr: LightLogistic):
        self.steps = [("standardscaler", scaler), ("logisticregression", lr)]
        self.n_features_in_ = scaler.n_features_in_

    def __getitem__(self, i: int):
        return self.steps[i][1]

    def decision_function(self, X) -> np.ndarray:
        """Log-odds, shape (n_samples,)."""
        return self[-1].decision_function(self[0].transform(X))


class LightIsotonic:
    """``IsotonicRegression.predict`` with ``out_of_bounds="clip"``: linear between the fitted thresholds."""

    def __init__(self, x: Any, y: Any):
        self.X_thresholds_ = np.asarray(x, dtype=np.float64)
        self.y_thresholds_ = np.asarray(y, dtype=np.float64)
        if len(self.X_thresholds_) != len(self.y_thresholds_) or not len(self.X_thresholds_):
            raise ValueError("isotonic thresholds must be two non-empty lists of one length")

    def predict(self, s) -> np.ndarray:
        """Calibrated values of the scores ``s`` (shape (n,)), each in the fitted range."""
        s = np.clip(np.asarray(s, dtype=np.float64).reshape(-1), self.X_thresholds_[0], self.X_thresholds_[-1])
        if len(self.X_thresholds_) == 1:
            return np.full(len(s), self.y_thresholds_[0])
        return np.interp(s, self.X_thresholds_, self.y_thresholds_)


def _floats(a) -> list:
    return [float(v) for v in np.asarray(a, dtype=np.float64).reshape(-1)]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def export(combiner, calibrator, skops_path: Path) -> dict | None:
    """The light form of a fitted combiner and calibrator, or None when they are not both linear.

    Parameters
    ----------
    combiner : sklearn Pipeline
        ``StandardScaler`` then binary ``LogisticRegression``.
    calibrator : LogisticRegression or IsotonicRegression
        Platt scaling on one score, or isotonic with ``out_of_bounds="clip"``.
    skops_path : Path
        The ``model.skops`` just written; its hash goes in the file.
    """
    from sklearn.isotonic import IsotonicRegression
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    if not (isinstance(combiner, Pipeline) and len(combiner.steps) == 2):
        return None
    scaler, lr = combiner[0], combiner[-1]
    if type(scaler) is not StandardScaler or type(lr) is not LogisticRegression or len(lr.classes_) != 2:
        return None
    if not (scaler.with_mean and scaler.with_std):
        return None
    out: dict = {
        "format": LIGHT_FORMAT,
        "model_skops_sha256": _sha256(skops_path),
        "combiner": {"mean": _floats(scaler.mean_), "scale": _floats(scaler.scale_), "coef": _floats(lr.coef_),
                     "intercept": float(lr.intercept_[0]), "classes": [int(c) for c in lr.classes_]},
    }
    if type(calibrator) is LogisticRegression and len(calibrator.classes_) == 2 and calibrator.coef_.size == 1:
        out["calibrator"] = {"kind": "sigmoid", "coef": _floats(calibrator.coef_),
                             "intercept": float(calibrator.intercept_[0]),
                             "classes": [int(c) for c in calibrator.classes_]}
    elif type(calibrator) is IsotonicRegression and calibrator.out_of_bounds == "clip":
        out["calibrator"] = {"kind": "isotonic", "x": _floats(calibrator.X_thresholds_),
                             "y": _floats(calibrator.y_thresholds_)}
    else:
        return None
    return out


def _vector(value: Any, name: str, n: int | None = None) -> np.ndarray:
    """A flat list of finite numbers (of length ``n`` when given) as a float array; ValueError otherwise."""
    if not isinstance(value, list) or not value or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        raise ValueError(f"{name} must be a non-empty list of numbers")
    a = np.asarray(value, dtype=np.float64)
    if not np.isfinite(a).all():
        raise ValueError(f"{name} holds a value that is not finite")
    if n is not None and len(a) != n:
        raise ValueError(f"{name} has {len(a)} values, not {n}")
    return a


def _classes(part: dict) -> list:
    if part["classes"] != [0, 1]:
        raise ValueError(f"classes must be [0, 1], got {part['classes']!r}")
    return [0, 1]


def save(directory: Path, data: dict) -> str:
    """Write ``data`` (from :func:`export`) as ``directory``'s :data:`LIGHT_FILE`; return the file's SHA-256.

    ``model.json`` records that hash, and :func:`load` uses only the file that has it.
    """
    raw = (json.dumps(data) + "\n").encode("utf-8")
    (Path(directory) / LIGHT_FILE).write_bytes(raw)
    return hashlib.sha256(raw).hexdigest()


def load(directory: Path, expected_sha256: str | None = None) -> tuple[LightPipeline, Any] | None:
    """(combiner, calibrator) from ``directory``'s :data:`LIGHT_FILE`, or None to load ``model.skops`` instead.

    None when the file is absent, was written for another ``model.skops`` than the
    one beside it, or its own SHA-256 is not ``expected_sha256`` (the hash
    ``model.json`` records: an edited light file is not used). A file that is there
    and matches but cannot be read is an error.

    Raises
    ------
    ValueError
        If the file is not a light model of this format.
    """
    path = Path(directory) / LIGHT_FILE
    if not path.is_file():
        return None
    try:
        raw = path.read_bytes()
        if expected_sha256 is not None and hashlib.sha256(raw).hexdigest() != expected_sha256:
            return None  # not the file model.json was written with: model.skops decides
        data = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError, OSError) as e:  # (JSONDecodeError and UnicodeDecodeError are ValueErrors)
        raise ValueError(f"{path}: not valid JSON ({type(e).__name__}: {e})") from e
    if not isinstance(data, dict) or data.get("format") != LIGHT_FORMAT:
        raise ValueError(f"{path}: not a {LIGHT_FORMAT} file")
    skops_path = Path(directory) / "model.skops"
    if not skops_path.is_file() or data.get("model_skops_sha256") != _sha256(skops_path):
        return None  # written for another model.skops: that file decides
    try:
        c, k = data["combiner"], data["calibrator"]
        mean = _vector(c["mean"], "combiner mean")
        scale = _vector(c["scale"], "combiner scale", len(mean))
        if (scale <= 0).any():
            raise ValueError("combiner scale must be positive")
        combiner = LightPipeline(LightScaler(mean, scale),
                                 LightLogistic(_vector(c["coef"], "combiner coef", len(mean)),
                                               _vector([c["intercept"]], "combiner intercept"), _classes(c)))
        if k["kind"] == "sigmoid":
            calibrator = LightLogistic(_vector(k["coef"], "calibrator coef", 1),
                                       _vector([k["intercept"]], "calibrator intercept"), _classes(k))
        elif k["kind"] == "isotonic":
            x = _vector(k["x"], "isotonic x")
            y = _vector(k["y"], "isotonic y", len(x))
            if (np.diff(x) < 0).any() or (np.diff(y) < 0).any() or (y < 0).any() or (y > 1).any():
                raise ValueError("isotonic thresholds must be non-decreasing, with values in [0, 1]")
            calibrator = LightIsotonic(x, y)
        else:
            raise ValueError(f"unknown calibrator kind {k['kind']!r}")
    except (KeyError, TypeError, ValueError, OverflowError) as e:
        raise ValueError(f"{path}: damaged light model ({type(e).__name__}: {e})") from e
    return combiner, calibrator
