"""On-disk embedding cache, keyed by content hash (used by the embedding stage).

Embedding dominates the cost of labeling, and eval sweeps re-label the same
transcripts (a new threshold, a new report, a resumed run). The cache stores, per
scratchpad text, its sentence-unit embeddings (float32, shape (n_units, dim)),
keyed by the SHA-256 of the embedding model's identity, the unit length and the
text. A cached text gives bit-identical embeddings, hence identical predictions.

Storage is one SQLite file in WAL mode: several processes (``--workers``, parallel
runs, Dask workers on one machine) can read and write it at once; writes are
``INSERT OR IGNORE``, so a race on one key keeps either of two identical values.
A network file system may not honour SQLite's locks: keep the cache on local disk.

Size: about ``4 * 384 * n_units`` bytes per scratchpad plus SQLite overhead (≈ 22 KB
for the development set's scratchpads, about 15 units each: ≈ 1.1 GB for 50,000).
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path
from typing import Iterable, Optional, Union

import numpy as np

__all__ = ["EmbeddingCache", "model_fingerprint"]

_SCHEMA = "CREATE TABLE IF NOT EXISTS units (key BLOB PRIMARY KEY, dim INTEGER NOT NULL, data BLOB NOT NULL)"


def model_fingerprint(model_path: Union[str, Path]) -> str:
    """A short identity of a sentence-transformers model directory.

    SHA-256 (first 16 hex digits) of its ``config.json`` and ``modules.json`` plus the
    name and size of every weights file, so another model, or other weights, never
    share cache entries. Files that are missing are skipped.
    """
    d = Path(model_path)
    h = hashlib.sha256()
    for name in ("config.json", "modules.json", "sentence_bert_config.json"):
        p = d / name
        if p.is_file():
            h.update(name.encode() + b"\0" + p.read_bytes())
    for p in sorted(d.glob("*.safetensors")) + sorted(d.glob("*.bin")):
        h.update(f"{p.name}:{p.stat().st_size}".encode())
    return h.hexdigest()[:16]


class EmbeddingCache:
    """Content-addressed store of sentence-unit embeddings in a SQLite file.

    Parameters
    ----------
    path : str or Path
        A directory (the file ``embeddings.sqlite`` is created in it) or a file path
        ending in ``.sqlite``/``.db``. Parent folders are created.
    namespace : str
        Part of every key: the model fingerprint and unit length
        (see :meth:`~fakingclf.embed.Embedder.cache_namespace`).

    Raises
    ------
    ValueError
        If ``path`` is an existing file that does not end in ``.sqlite``/``.db``.
    OSError
        If the folder cannot be created.
    sqlite3.DatabaseError
        If the file exists but is not a SQLite database.

    Notes
    -----
    The object pickles as its path and namespace (the connection is reopened in
    the receiving process), so it travels to joblib and Dask workers.
    """

    def __init__(self, path: Union[str, Path], namespace: str = ""):
        p = Path(path)
        if p.suffix not in (".sqlite", ".db"):
            if p.is_file():
                raise ValueError(f"{p} is a file: give a folder, or a path ending in .sqlite or .db")
            p = p / "embeddings.sqlite"
        p.parent.mkdir(parents=True, exist_ok=True)
        self.path = p
        self.namespace = namespace
        self.hits = 0
        self.misses = 0
        self._conn: Optional[sqlite3.Connection] = None
        self._pid = None
        self._connect()

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None or self._pid != os.getpid():
            conn = sqlite3.connect(self.path, timeout=120, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA busy_timeout = 120000")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute(_SCHEMA)
            self._conn, self._pid = conn, os.getpid()
        return self._conn

    def __getstate__(self) -> dict:
        return {"path": self.path, "namespace": self.namespace}

    def __setstate__(self, state: dict) -> None:
        self.path, self.namespace = state["path"], state["namespace"]
        self.hits = self.misses = 0
        self._conn, self._pid = None, None

    def key(self, text: str) -> bytes:
        """SHA-256 digest (32 bytes) of the namespace and ``text``."""
        return hashlib.sha256(self.namespace.encode() + b"\0" + text.encode("utf-8", "surrogatepass")).digest()

    def get_many(self, texts: Iterable[str], count: bool = True) -> list[Optional[np.ndarray]]:
        """Cached unit embeddings of each text, or None where absent.

        ``count`` adds the lookups to :attr:`hits`/:attr:`misses`.

        Returns
        -------
        list of (ndarray of shape (n_units, dim), float32) or None, one per text
        """
        texts = list(texts)
        keys = [self.key(t) for t in texts]
        found: dict[bytes, np.ndarray] = {}
        conn = self._connect()
        unique = list(dict.fromkeys(keys))
        for i in range(0, len(unique), 500):  # SQLite's bound-parameter limit
            chunk = unique[i:i + 500]
            rows = conn.execute(
                f"SELECT key, dim, data FROM units WHERE key IN ({','.join('?' * len(chunk))})", chunk
            ).fetchall()
            for k, dim, data in rows:
                found[bytes(k)] = np.frombuffer(data, dtype=np.float32).reshape(-1, dim).copy()
        out = [found.get(k) for k in keys]
        if count:
            n_hit = sum(v is not None for v in out)
            self.hits += n_hit
            self.misses += len(out) - n_hit
        return out

    def put_many(self, texts: Iterable[str], arrays: Iterable[np.ndarray]) -> None:
        """Store unit embeddings (float32, shape (n_units, dim)) for each text; existing keys are kept."""
        rows = []
        for t, a in zip(texts, arrays):
            a = np.ascontiguousarray(a, dtype=np.float32)
            if a.ndim != 2 or a.shape[1] == 0:
                raise ValueError(f"unit embeddings must have shape (n_units, dim), got {a.shape}")
            rows.append((self.key(t), int(a.shape[1]), a.tobytes()))
        if rows:
            conn = self._connect()
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany("INSERT OR IGNORE INTO units (key, dim, data) VALUES (?, ?, ?)", rows)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def __len__(self) -> int:
        return int(self._connect().execute("SELECT COUNT(*) FROM units").fetchone()[0])

    def close(self) -> None:
        """Close the connection (it reopens on next use)."""
        if self._conn is not None and self._pid == os.getpid():
            self._conn.close()
        self._conn = None
