"""Experimental fine-tuned window head on all-MiniLM-L6-v2 (not used by the shipped models).

A scratchpad is tokenized with the MiniLM tokenizer and cut into overlapping windows
of at most ``max_len`` word pieces (``[CLS]`` and ``[SEP]`` included) that together
cover the whole text. Every window goes once through the frozen encoder; what is
trained is the feed-forward half of the top ``BertLayer`` (its ``intermediate`` and
``output`` blocks, LayerNorm included) and a linear window score:

    window tokens --frozen layers 1..5 and layer 6's self-attention (run once, cached)-->
    A (n_tokens, 384) --trainable FFN of layer 6--> H (n_tokens, 384)
    --mean over the window's tokens--> (n_windows, 384) --linear--> window logits (n_windows,)
    --log-mean-exp over the windows--> transcript logit ()

The feed-forward block acts token by token, so the cache holds one vector per token
(the attention output of the top layer, fp16) and training needs no attention masks
and no padding. Training minimises the class-balanced binary cross-entropy of the
transcript logit against the transcript label (multiple-instance: no window labels).
Everything is seeded; the trained parameters are saved and loaded with safetensors
only (about 4.7 MB in float32).

Classes
-------
* :class:`WindowEncoder` — tokenizer, windows, and the frozen forward pass (cached).
* :class:`FineTunedHead` — the trainable part: ``fit``, ``decision_function``,
  ``save`` / ``load``.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence, Union

import numpy as np

__all__ = ["CachedText", "WindowEncoder", "FineTunedHead", "window_spans"]

FORMAT = "fakingclf-finetune/1"


def window_spans(n_tokens: int, body: int, overlap: int) -> list[tuple[int, int]]:
    """Start/end offsets of the windows over ``n_tokens`` word pieces.

    Parameters
    ----------
    n_tokens : int
        Word pieces in the text (without special tokens), >= 0.
    body : int
        Word pieces per window, without ``[CLS]``/``[SEP]`` (> ``overlap``).
    overlap : int
        Word pieces shared by consecutive windows (>= 0).

    Returns
    -------
    list of (start, end)
        Half-open spans in text order; their union is ``[0, n_tokens)``; one empty
        span ``(0, 0)`` for an empty text.

    Raises
    ------
    ValueError
        If ``body <= overlap`` or ``overlap < 0``.
    """
    if overlap < 0 or body <= overlap:
        raise ValueError(f"need 0 <= overlap < body, got body={body}, overlap={overlap}")
    if n_tokens <= body:
        return [(0, n_tokens)]
    step = body - overlap
    spans = []
    start = 0
    while True:
        end = min(start + body, n_tokens)
        spans.append((start, end))
        if end == n_tokens:
            return spans
        start += step


@dataclass
class CachedText:
    """Frozen-encoder output of one text.

    Attributes
    ----------
    tokens : torch.Tensor of shape (n_tokens, hidden), float16
        Attention output of the top layer for every token of every window (special
        tokens included), windows concatenated in text order.
    window : torch.Tensor of shape (n_tokens,), int64
        Window index of each token, in ``[0, n_windows)``.
    n_windows : int
        Number of windows (>= 1).
    """

    tokens: "object"
    window: "object"
    n_windows: int


def _torch():
    import torch

    return torch


class WindowEncoder:
    """The frozen part: MiniLM tokenizer, windows and forward pass up to the top layer's FFN.

    Parameters
    ----------
    model_path : str, optional
        Local all-MiniLM-L6-v2 directory (the bundled one when omitted).
    max_len : int
        Word pieces per window including ``[CLS]`` and ``[SEP]`` (<= 512; 256 is the
        sentence-transformers limit of this model).
    overlap : int
        Word pieces shared by consecutive windows.
    batch_size : int
        Windows per frozen forward pass.

    Encoded texts are kept in memory (``self.cache``, keyed by text), so several
    heads fit on overlapping row sets share one frozen pass.
    """

    def __init__(self, model_path: Optional[str] = None, max_len: int = 256, overlap: int = 32, batch_size: int = 16):
        from .embed import default_model_path

        self.model_path = model_path or default_model_path()
        self.max_len = max_len
        self.overlap = overlap
        self.batch_size = batch_size
        self.cache: dict[str, CachedText] = {}
        self._model = None
        self._tok = None

    @property
    def tokenizer(self):
        """The MiniLM word-piece tokenizer (loaded from ``model_path``, offline)."""
        if self._tok is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            from transformers import AutoTokenizer

            self._tok = AutoTokenizer.from_pretrained(self.model_path, local_files_only=True)
        return self._tok

    @property
    def model(self):
        """The frozen ``BertModel`` in eval mode (loaded once, CPU)."""
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            from transformers import AutoModel
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()
            self._model = AutoModel.from_pretrained(self.model_path, local_files_only=True).eval()
            for p in self._model.parameters():
                p.requires_grad_(False)
        return self._model

    def windows(self, text: str) -> list[list[int]]:
        """Word-piece ids of each window of ``text``, each ``[CLS] ... [SEP]``, at most ``max_len`` long."""
        tok = self.tokenizer
        ids = tok(text, add_special_tokens=False, verbose=False)["input_ids"]
        spans = window_spans(len(ids), self.max_len - 2, self.overlap)
        return [[tok.cls_token_id] + ids[a:b] + [tok.sep_token_id] for a, b in spans]

    def encode(self, texts: Sequence[str], progress: bool = False) -> list[CachedText]:
        """Frozen forward pass of every window of every text (texts seen before come from the cache).

        Returns
        -------
        list of CachedText, one per text, in order.
        """
        torch = _torch()
        todo = list(dict.fromkeys(t for t in texts if t not in self.cache))
        if todo:
            jobs = [(ti, w) for ti, t in enumerate(todo) for w in self.windows(t)]
            order = sorted(range(len(jobs)), key=lambda j: len(jobs[j][1]))  # little padding per batch
            captured = {}
            layer = self.model.encoder.layer[-1]
            hook = layer.intermediate.register_forward_hook(lambda m, inp, out: captured.__setitem__("a", inp[0]))
            per_window: list = [None] * len(jobs)
            t0 = time.time()
            try:
                with torch.no_grad():
                    for b in range(0, len(order), self.batch_size):
                        idx = order[b:b + self.batch_size]
                        L = max(len(jobs[j][1]) for j in idx)
                        ids = torch.zeros((len(idx), L), dtype=torch.long)
                        mask = torch.zeros((len(idx), L), dtype=torch.long)
                        for r, j in enumerate(idx):
                            w = jobs[j][1]
                            ids[r, :len(w)] = torch.tensor(w)
                            mask[r, :len(w)] = 1
                        self.model(input_ids=ids, attention_mask=mask)
                        A = captured.pop("a")
                        for r, j in enumerate(idx):
                            per_window[j] = A[r, :len(jobs[j][1])].to(torch.float16).clone()
                        if progress and (b // self.batch_size) % 20 == 0:
                            print(f"  frozen pass: {b + len(idx)}/{len(jobs)} windows, {time.time() - t0:.0f} s",
                                  flush=True)
            finally:
                hook.remove()
            groups: dict[int, list] = {}
            for (ti, _), a in zip(jobs, per_window):
                groups.setdefault(ti, []).append(a)
            for ti, t in enumerate(todo):
                ws = groups[ti]
                self.cache[t] = CachedText(
                    tokens=torch.cat(ws),
                    window=torch.cat([torch.full((len(a),), k, dtype=torch.long) for k, a in enumerate(ws)]),
                    n_windows=len(ws))
        return [self.cache[t] for t in texts]


class FineTunedHead:
    """Trainable top-layer FFN + linear window score, pooled over windows.

    Parameters
    ----------
    encoder : WindowEncoder, optional
        Frozen part (a new one with default settings when omitted).
    pool : {"lme", "max"}
        Window pooling: log-mean-exp (a smooth maximum that does not grow with the
        number of windows) or the maximum.
    epochs : int
        Passes over the training texts.
    batch_texts : int
        Texts per optimiser step.
    lr, head_lr : float
        AdamW learning rates of the FFN and of the linear window score.
    weight_decay : float
        AdamW weight decay (FFN and score weights).
    seed : int
        Seeds the initialisation, the shuffling and dropout.
    """

    def __init__(self, encoder: Optional[WindowEncoder] = None, pool: str = "lme", epochs: int = 1,
                 batch_texts: int = 8, lr: float = 1e-4, head_lr: float = 2e-3, weight_decay: float = 0.01,
                 seed: int = 0):
        if pool not in ("lme", "max"):
            raise ValueError(f"pool must be 'lme' or 'max', got {pool!r}")
        self.encoder = encoder or WindowEncoder()
        self.pool = pool
        self.epochs = epochs
        self.batch_texts = batch_texts
        self.lr = lr
        self.head_lr = head_lr
        self.weight_decay = weight_decay
        self.seed = seed
        self.net_ = None
        self.info_: dict = {}

    # ------------------------------------------------------------- network
    def _build(self):
        import copy

        torch = _torch()
        nn = torch.nn
        top = self.encoder.model.encoder.layer[-1]
        torch.manual_seed(self.seed)

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.intermediate = copy.deepcopy(top.intermediate)
                self.output = copy.deepcopy(top.output)
                self.score = nn.Linear(top.output.dense.out_features, 1)
                nn.init.normal_(self.score.weight, std=0.02)
                nn.init.zeros_(self.score.bias)

        net = Net()
        for p in net.parameters():
            p.requires_grad_(True)
        return net

    def _window_logits(self, net, c: CachedText):
        """Window logits of one text: tensor of shape (n_windows,)."""
        torch = _torch()
        A = c.tokens.float()
        H = net.output(net.intermediate(A), A)  # (n_tokens, hidden)
        sums = torch.zeros((c.n_windows, H.shape[1]), dtype=H.dtype).index_add_(0, c.window, H)
        counts = torch.bincount(c.window, minlength=c.n_windows).clamp(min=1).to(H.dtype)
        return net.score(sums / counts[:, None]).squeeze(1)

    def _pool(self, w):
        torch = _torch()
        if self.pool == "max":
            return w.max()
        return torch.logsumexp(w, 0) - float(np.log(len(w)))

    # ----------------------------------------------------------------- fit
    def fit(self, data: Union[Sequence[str], Sequence[CachedText]], y: Sequence[int]) -> "FineTunedHead":
        """Train on texts (or their :class:`CachedText`) with transcript labels.

        Parameters
        ----------
        data : sequence of str or CachedText, length n
        y : array-like of shape (n,)
            1 = alignment-faking reasoning, 0 = none.

        Raises
        ------
        ValueError
            If lengths differ or ``y`` holds one class only.
        """
        torch = _torch()
        data = list(data)
        y = np.asarray(y, dtype=int)
        if len(data) != len(y):
            raise ValueError(f"{len(data)} texts but {len(y)} labels")
        if len(set(y.tolist())) < 2:
            raise ValueError("fine-tuning needs both classes")
        cached = self._cached(data)
        t0 = time.time()
        net = self._build()
        net.train()
        decay = [net.intermediate.dense.weight, net.output.dense.weight]
        rest = [p for n, p in net.named_parameters() if not n.startswith("score") and p.dim() == 1]
        opt = torch.optim.AdamW([
            {"params": decay, "lr": self.lr, "weight_decay": self.weight_decay},
            {"params": rest, "lr": self.lr, "weight_decay": 0.0},
            {"params": [net.score.weight], "lr": self.head_lr, "weight_decay": self.weight_decay},
            {"params": [net.score.bias], "lr": self.head_lr, "weight_decay": 0.0},
        ])
        pos_weight = torch.tensor(float((y == 0).sum()) / float((y == 1).sum()))
        loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=pos_weight)
        rng = np.random.default_rng(self.seed)
        steps, losses = 0, []
        for _ in range(self.epochs):
            perm = rng.permutation(len(y))
            for b in range(0, len(perm), self.batch_texts):
                idx = perm[b:b + self.batch_texts]
                logits = torch.stack([self._pool(self._window_logits(net, cached[i])) for i in idx])
                loss = loss_fn(logits, torch.tensor(y[idx], dtype=torch.float32))
                opt.zero_grad()
                loss.backward()
                opt.step()
                steps += 1
                losses.append(float(loss.detach()))
        net.eval()
        self.net_ = net
        self.info_ = {"steps": steps, "seconds": round(time.time() - t0, 1), "n_texts": int(len(y)),
                      "n_windows": int(sum(c.n_windows for c in cached)),
                      "final_loss_mean10": float(np.mean(losses[-10:]))}
        return self

    def _cached(self, data) -> list[CachedText]:
        data = list(data)
        if data and isinstance(data[0], str):
            return self.encoder.encode(data)
        return data

    # ------------------------------------------------------------- predict
    def window_scores(self, data: Union[Sequence[str], Sequence[CachedText]]) -> list[np.ndarray]:
        """Window logits of each text: list of arrays of shape (n_windows,).

        Raises
        ------
        RuntimeError
            If the head is not fitted or loaded.
        """
        torch = _torch()
        if self.net_ is None:
            raise RuntimeError("FineTunedHead is not fitted: call fit() or load()")
        with torch.no_grad():
            return [self._window_logits(self.net_, c).numpy().astype(np.float64) for c in self._cached(data)]

    def decision_function(self, data: Union[Sequence[str], Sequence[CachedText]]) -> np.ndarray:
        """Transcript logits (pooled window logits), shape (n,), real-valued; higher = more alignment faking."""
        torch = _torch()
        return np.array([float(self._pool(torch.from_numpy(w))) for w in self.window_scores(data)])

    # ------------------------------------------------------------ save/load
    def save(self, path: Union[str, Path]) -> Path:
        """Write the trained parameters (float32) and the settings to one ``.safetensors`` file.

        Returns
        -------
        Path of the written file.
        """
        from safetensors.torch import save_file

        if self.net_ is None:
            raise RuntimeError("FineTunedHead is not fitted: nothing to save")
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        from .cache import model_fingerprint

        meta = {"format": FORMAT, "base_model": model_fingerprint(self.encoder.model_path),
                "settings": {"pool": self.pool, "epochs": self.epochs, "batch_texts": self.batch_texts,
                             "lr": self.lr, "head_lr": self.head_lr, "weight_decay": self.weight_decay,
                             "seed": self.seed, "max_len": self.encoder.max_len, "overlap": self.encoder.overlap},
                "info": self.info_}
        tensors = {k: v.detach().contiguous() for k, v in self.net_.state_dict().items()}
        save_file(tensors, str(path), metadata={"fakingclf": json.dumps(meta)})
        return path

    @classmethod
    def load(cls, path: Union[str, Path], encoder: Optional[WindowEncoder] = None) -> "FineTunedHead":
        """Read a head written by :meth:`save`.

        Raises
        ------
        ValueError
            If the file is not a head of this format, was trained on another base
            model, or its tensors do not match the network.
        """
        from safetensors import safe_open
        from safetensors.torch import load_file

        from .cache import model_fingerprint

        path = Path(path)
        with safe_open(str(path), framework="pt") as f:
            raw = (f.metadata() or {}).get("fakingclf")
        if raw is None:
            raise ValueError(f"{path}: not a fakingclf fine-tuned head (no metadata)")
        meta = json.loads(raw)
        if meta.get("format") != FORMAT:
            raise ValueError(f"{path}: format {meta.get('format')!r}, expected {FORMAT!r}")
        s = meta["settings"]
        enc = encoder or WindowEncoder(max_len=s["max_len"], overlap=s["overlap"])
        if (enc.max_len, enc.overlap) != (s["max_len"], s["overlap"]):
            raise ValueError(f"{path}: trained with windows {s['max_len']}/{s['overlap']}, "
                             f"encoder has {enc.max_len}/{enc.overlap}")
        if model_fingerprint(enc.model_path) != meta["base_model"]:
            raise ValueError(f"{path}: trained on another base model ({meta['base_model']})")
        head = cls(encoder=enc, **{k: s[k] for k in ("pool", "epochs", "batch_texts", "lr", "head_lr",
                                                      "weight_decay", "seed")})
        net = head._build()
        net.load_state_dict(load_file(str(path)), strict=True)
        net.eval()
        head.net_ = net
        head.info_ = meta.get("info", {})
        return head
