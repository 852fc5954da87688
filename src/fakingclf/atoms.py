"""Atom matching engine: every atom of ``patterns/atoms.jsonl`` found in one pass per text.

The atoms are spaCy patterns kept as data (see :mod:`fakingclf.cues`). spaCy's
``SpanRuler`` runs them through its token ``Matcher``, which evaluates the set and
wildcard predicates (``IN``, ``NOT_IN``, ``REGEX``) as Python calls at every token for
every pattern: about 80 % of the cue detector's time. This engine gives the same
answer — the set of atom labels in each sentence — with the work done once per text:

* **phrase atoms** (a string pattern, matched on lower-cased tokens) go through spaCy's
  ``PhraseMatcher``, unchanged;
* **token atoms** (a list of token specifications) are compiled to regular expressions
  over a per-text encoding of its tokens, one expression per label. Each token is
  written ``\\x1e<lower>\\x1f<lemma>\\x1f<flags>`` (flags: ``S`` sentence start, ``P``
  punctuation, one letter per ``REGEX`` predicate) and each sentence starts with
  ``\\x1d``, which no token expression crosses, so a match never joins two sentences —
  the same rule the ``SpanRuler`` path applies afterwards.

Tokenization, sentence starts and lemmas are exactly the reference pipeline's (spaCy's
tokenizer, its ``sentencizer``, the new-line rule, the lemma lookup table), and
``tests/test_atoms.py`` checks both engines against each other, sentence for sentence
and label for label, on the development, synthetic and continuation sets.

Supported token attributes: ``LOWER``, ``LEMMA`` (a string, or ``IN`` / ``NOT_IN``
lists, or ``REGEX``), ``IS_PUNCT``, ``IS_SENT_START`` (true/false), and ``OP`` in
``?``, ``*``, ``+``, ``{n}``, ``{n,m}``, ``{,m}``, ``{n,}``. Anything else is a
:class:`ValueError` naming the line, at start-up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

import numpy as np

__all__ = ["AtomEngine", "Sentence"]

_SENT = "\x1d"  # before the first token of every sentence
_TOK = "\x1e"  # before every token
_FIELD = "\x1f"  # between a token's fields
_ANY_FIELD = "[^\x1d\x1e\x1f]*"
_RESERVED = re.compile("[\x1c-\x1f]")
_OP = re.compile(r"^\{(\d*)(,?)(\d*)\}$")
_FIELDS = {"LOWER": 0, "LEMMA": 1}


@dataclass
class Sentence:
    """One sentence of a text: character span (``end`` exclusive), trimmed text, atom labels."""

    start: int
    end: int
    text: str
    labels: set


def _check_literal(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{where}: expected a string, got {value!r}")
    if _RESERVED.search(value):
        raise ValueError(f"{where}: control characters \\x1c-\\x1f cannot appear in a pattern")
    return value


def _alternation(values: Sequence[str]) -> str:
    return "(?:" + "|".join(re.escape(v) for v in sorted(set(values), key=lambda v: (-len(v), v))) + ")"


_TABLE_ROWS = 500_000  # vocabulary entries the engine keeps encoded
_NEW_LINE, _PUNCT_CHAR, _PUNCT, _SHORT_NUMBER, _DOT = 1, 2, 4, 8, 16  # per-token property bits


def _sentencizer_starts(punct_char: np.ndarray, punct: np.ndarray) -> np.ndarray:
    """spaCy's ``Sentencizer`` on arrays: 1 where a sentence starts, -1 elsewhere.

    A sentence starts at the first token, and at every token that is neither
    punctuation nor one of the sentencizer's ``punct_chars`` when one of those
    characters came after the previous such token (spaCy 3's
    ``Sentencizer.predict``, written without its per-token loop). ``punct`` must
    include ``punct_char``.
    """
    n = len(punct)
    starts = np.full(n, -1, dtype=np.int64)
    starts[0] = 1
    words = np.flatnonzero(~punct)
    if len(words):
        seen = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(punct_char, out=seen[1:])  # seen[i]: punct chars among tokens 0..i-1
        before = seen[words]
        since = np.zeros_like(before)
        since[1:] = seen[words[:-1] + 1]  # ... among tokens 0..previous word
        starts[words[before > since]] = 1
    return starts


def _line_starts(new_line: np.ndarray, dot: np.ndarray, number: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """The reference pipeline's sentence rule on arrays (one entry per token).

    A token after a white-space token holding a new line starts a sentence; the token
    after a list number ("3." or "2)" of at most two characters at a line's or a
    sentence's start) does not, so "3. Therefore" stays one sentence. ``starts`` is the
    ``SENT_START`` array (1 start, -1 not) and is returned changed.
    """
    n = len(starts)
    if n > 1:
        starts[1:][new_line[:-1]] = 1
    if n > 2:
        cand = np.flatnonzero(~new_line[1:-1] & dot[1:-1] & number[:-2]) + 2  # i with dot at i-1, number at i-2
        for i in cand.tolist():
            if i == 2 or new_line[i - 3] or starts[i - 2] == 1:
                starts[i] = -1
    return starts


class _Compiler:
    """Turns token patterns into regular expressions over the token encoding."""

    def __init__(self) -> None:
        self.regex_flags: dict[tuple[int, str], str] = {}  # (field, pattern) -> flag letter

    def _flag_for_regex(self, field: int, pattern: str, where: str) -> str:
        key = (field, pattern)
        if key not in self.regex_flags:
            try:
                re.compile(pattern)
            except re.error as e:
                raise ValueError(f"{where}: bad REGEX {pattern!r}: {e}") from e
            letters = "abcdefghijklmnoqrtuvwxyz"  # not S or P
            if len(self.regex_flags) >= len(letters):
                raise ValueError(f"{where}: more than {len(letters)} distinct REGEX predicates")
            self.regex_flags[key] = letters[len(self.regex_flags)]
        return self.regex_flags[key]

    def _field(self, field: int, spec: Any, where: str) -> tuple[str, list[str]]:
        """(expression for the field, flag lookaheads) for one LOWER/LEMMA constraint."""
        if isinstance(spec, str):
            return re.escape(_check_literal(spec, where)), []
        if not isinstance(spec, dict) or not spec:
            raise ValueError(f"{where}: expected a string or a dict of IN / NOT_IN / REGEX, got {spec!r}")
        heads, flags = [], []
        for op, value in spec.items():
            if op in ("IN", "NOT_IN"):
                if not isinstance(value, list) or not value:
                    raise ValueError(f"{where}: {op} needs a non-empty list")
                alt = _alternation([_check_literal(v, where) for v in value])
                heads.append(("(?=" if op == "IN" else "(?!") + alt + _FIELD + ")")
            elif op == "REGEX":
                letter = self._flag_for_regex(field, _check_literal(value, where), where)
                flags.append(f"(?={_ANY_FIELD}{letter})")
            else:
                raise ValueError(f"{where}: unsupported operator {op!r} (IN, NOT_IN, REGEX)")
        if len(heads) == 1 and heads[0].startswith("(?=") and not flags:
            return heads[0][3 : -len(_FIELD) - 1], []  # a plain IN: the alternation itself
        return "".join(heads) + _ANY_FIELD, flags

    def token(self, spec: dict, where: str) -> tuple[str, int, Optional[int]]:
        """(expression of one token without its ``\\x1e``, least and most repetitions; most None = no bound)."""
        if not isinstance(spec, dict):
            raise ValueError(f"{where}: a token specification must be a dict, got {spec!r}")
        fields = [_ANY_FIELD, _ANY_FIELD]
        flags: list[str] = []
        op = None
        for key, value in spec.items():
            if key in _FIELDS:
                expr, more = self._field(_FIELDS[key], value, f"{where} {key}")
                fields[_FIELDS[key]] = expr
                flags += more
            elif key in ("IS_PUNCT", "IS_SENT_START"):
                if not isinstance(value, bool):
                    raise ValueError(f"{where}: {key} must be true or false")
                letter = "P" if key == "IS_PUNCT" else "S"
                flags.append(("(?=" if value else "(?!") + f"{_ANY_FIELD}{letter})")
            elif key == "OP":
                op = value
            else:
                raise ValueError(
                    f"{where}: unsupported attribute {key!r} (the atom engine reads LOWER, LEMMA, IS_PUNCT, "
                    "IS_SENT_START and OP)"
                )
        body = f"{fields[0]}{_FIELD}{fields[1]}{_FIELD}{''.join(flags)}{_ANY_FIELD}"
        if op is None:
            return body, 1, 1
        if op in ("?", "*", "+"):
            return body, 1 if op == "+" else 0, 1 if op == "?" else None
        m = _OP.match(op) if isinstance(op, str) else None
        if not m or (not m.group(1) and not m.group(3)):
            raise ValueError(f"{where}: unsupported OP {op!r} (?, *, +, {{n}}, {{n,m}}, {{,m}}, {{n,}})")
        lo = int(m.group(1) or 0)
        hi = lo if not m.group(2) else (int(m.group(3)) if m.group(3) else None)
        if hi is not None and hi < lo:
            raise ValueError(f"{where}: OP {op!r} has its maximum below its minimum")
        return body, lo, hi

    def pattern(self, tokens: list, where: str) -> tuple[str, str]:
        """One token pattern as an expression that starts at a token's ``\\x1e``.

        Only whether a pattern matches inside a sentence matters (not its span), so the
        optional tokens at either end are dropped and the end tokens' repetitions cut
        to their minimum: a sentence holds a match of the pattern exactly when it holds
        a match of what remains. The expression is written without its first
        ``\\x1e``, which :class:`AtomEngine` puts once before all of a label's patterns.

        Returns
        -------
        (str, str)
            The expression, and the expression of its first token alone (which
            :class:`AtomEngine` tests once per vocabulary entry to find where a match
            can start).
        """
        if not isinstance(tokens, list) or not tokens:
            raise ValueError(f"{where}: a token pattern must be a non-empty list")
        parts = [self.token(t, f"{where} token {i}") for i, t in enumerate(tokens)]
        while parts and parts[0][1] == 0:
            parts.pop(0)
        while parts and parts[-1][1] == 0:
            parts.pop()
        if not parts:
            raise ValueError(f"{where}: every token is optional, so the pattern can match no token")
        parts[0] = (parts[0][0], parts[0][1], parts[0][1])
        parts[-1] = (parts[-1][0], parts[-1][1], parts[-1][1])
        out = []
        for i, (body, lo, hi) in enumerate(parts):
            if i == 0:
                out.append(body + (f"(?:{_TOK}{body}){{{lo - 1}}}" if lo > 1 else ""))
                continue
            rep = "" if (lo, hi) == (1, 1) else "{%d,%s}" % (lo, "" if hi is None else hi)
            out.append(f"(?:{_TOK}{body}){rep}" if rep else f"{_TOK}{body}")
        return "".join(out), parts[0][0]


class AtomEngine:
    """Atom labels per sentence, the reference pipeline's answer at a fraction of its cost.

    Parameters
    ----------
    nlp : spacy.Language
        A blank English pipeline with a ``sentencizer`` (:func:`fakingclf.cues._blank`):
        its tokenizer and vocabulary are used, and the sentencizer's ``punct_chars``.
    patterns : list of dict
        The atoms, ``{"label": str, "pattern": str | list}`` each, in file order.
    lemma : callable
        Lower-cased token text -> lemma (the lookup table the reference pipeline uses).

    Raises
    ------
    ValueError
        If a pattern uses an attribute or operator the engine does not read (named with
        its line number, counted from 1).
    """

    def __init__(
        self,
        nlp,
        patterns: Sequence[dict],
        lemma: Callable[[str], str],
    ):
        from spacy.matcher import PhraseMatcher

        from spacy.attrs import IDX, LENGTH, ORTH

        self.nlp = nlp
        self.vocab = nlp.vocab
        self.lemma = lemma
        self._attrs = [ORTH, IDX, LENGTH]
        self.phrases = PhraseMatcher(nlp.vocab, attr="LOWER")
        compiler = _Compiler()
        by_label: dict[str, list[tuple[str, str]]] = {}
        phrase_docs: dict[str, list] = {}
        for n, p in enumerate(patterns, 1):
            where = f"patterns/atoms.jsonl line {n}"
            label, pat = p.get("label"), p.get("pattern")
            if not isinstance(label, str) or not label:
                raise ValueError(f"{where}: needs a 'label'")
            if isinstance(pat, str):
                phrase_docs.setdefault(label, []).append(nlp.make_doc(pat))
            else:
                by_label.setdefault(label, []).append(compiler.pattern(pat, where))
        for label, docs in phrase_docs.items():
            self.phrases.add(label, docs)
        self.labels_of_phrase = {self.vocab.strings[label]: label for label in phrase_docs}
        if len(by_label) > 62:
            raise ValueError(f"patterns/atoms.jsonl: {len(by_label)} labels have token patterns; the engine takes 62")
        # one expression per label, tried only where a token can start one of its patterns
        self.token_regexes = [
            (label, re.compile(_TOK + "(?:" + "|".join(e for e, _ in exprs) + ")")) for label, exprs in by_label.items()
        ]
        self.first_tokens = [re.compile("(?:" + "|".join(f for _, f in exprs) + ")") for exprs in by_label.values()]
        self._label_bits = np.arange(len(self.token_regexes), dtype=np.int64)
        self.regex_flags = [(field, re.compile(p), letter) for (field, p), letter in compiler.regex_flags.items()]
        self.punct_chars = set(nlp.get_pipe("sentencizer").punct_chars)
        self._reset_table()

    def _reset_table(self, capacity: int = 4096) -> None:
        self._id_of: dict[int, int] = {}  # orth hash -> row of the tables below
        self._enc = np.empty(capacity, dtype=object)  # the token's encoding
        self._enc_start = np.empty(capacity, dtype=object)  # ... when it starts a sentence
        self._size = np.zeros(capacity, dtype=np.int64)  # len(self._enc[row])
        self._bits = np.zeros(capacity, dtype=np.int64)  # property bits
        self._mask = np.zeros(capacity, dtype=np.int64)  # labels whose patterns it can start

    def _add(self, orth: int) -> int:
        """Table row of a vocabulary entry, computed on its first sight.

        Bit ``j`` of its start mask is set when the entry can be the first token of a
        pattern of the ``j``-th token label (tested with and without the sentence-start
        flag, so the mask over-approximates; the label's expression decides).
        """
        row = len(self._id_of)
        if row >= len(self._enc):
            grow = len(self._enc)
            for name in ("_enc", "_enc_start", "_size", "_bits", "_mask"):
                old = getattr(self, name)
                setattr(self, name, np.concatenate([old, np.zeros(grow, dtype=old.dtype) if old.dtype != object
                                                    else np.empty(grow, dtype=object)]))
        lex = self.vocab[orth]
        lower, text = lex.lower_, lex.orth_
        fields = [lower, self.lemma(lower)]
        flags = "P" if lex.is_punct else ""
        for field, rx, letter in self.regex_flags:
            if rx.search(fields[field]):
                flags += letter
        enc = _TOK + _RESERVED.sub("\x1c", fields[0]) + _FIELD + _RESERVED.sub("\x1c", fields[1]) + _FIELD + flags
        in_punct_chars = text in self.punct_chars
        self._bits[row] = (
            (_NEW_LINE if lex.is_space and "\n" in text else 0)
            | (_PUNCT_CHAR if in_punct_chars else 0)
            | (_PUNCT if lex.is_punct or in_punct_chars else 0)
            | (_SHORT_NUMBER if lex.like_num and len(text) <= 2 else 0)
            | (_DOT if text in (".", ")") else 0)
        )
        mask = 0
        for j, rx in enumerate(self.first_tokens):
            if rx.fullmatch(enc, 1) or rx.fullmatch(enc + "S", 1):
                mask |= 1 << j
        self._mask[row] = mask
        self._enc[row], self._enc_start[row], self._size[row] = enc, _SENT + enc + "S", len(enc)
        self._id_of[orth] = row
        return row

    def sentences(self, text: str) -> list[Sentence]:
        """Sentences of ``text`` (whitespace-only ones dropped) with the atom labels in each.

        Returns
        -------
        list of Sentence
            In text order; ``start``/``end`` are character offsets in ``text`` of the
            trimmed sentence, ``labels`` the labels of every atom lying inside it.
        """
        doc = self.nlp.make_doc(text)
        if not len(doc):
            return []
        arr = doc.to_array(self._attrs)
        n = len(arr)
        distinct, where = np.unique(arr[:, 0], return_inverse=True)
        if len(self._id_of) + len(distinct) > _TABLE_ROWS:  # bounded: after many unique tokens, start afresh
            self._reset_table()
        id_of = self._id_of
        keys = distinct.tolist()
        rows = [id_of.get(o, -1) for o in keys]
        if -1 in rows:
            rows = [r if r >= 0 else self._add(o) for r, o in zip(rows, keys)]
        ids = np.asarray(rows, dtype=np.int64)[where.reshape(-1)]
        bits = self._bits[ids]
        starts = _sentencizer_starts(bits & _PUNCT_CHAR > 0, bits & _PUNCT > 0)
        starts = _line_starts(bits & _NEW_LINE > 0, bits & _DOT > 0, bits & _SHORT_NUMBER > 0, starts)
        is_start = starts == 1
        encoding = "".join(np.where(is_start, self._enc_start[ids], self._enc[ids]).tolist())
        sizes = self._size[ids] + 2 * is_start
        token_at = (np.cumsum(sizes) - sizes + is_start).tolist()  # offset of each token's \x1e in the encoding
        masks = self._mask[ids]
        first = np.flatnonzero(is_start)
        last = np.append(first[1:], n)
        sent_of_token = np.cumsum(is_start) - 1
        labels: dict[int, set] = {}  # sentence -> labels (few sentences have any: no set for the others)
        can_start = np.flatnonzero(masks)
        if len(can_start):
            # (label, token) pairs where a pattern of the label can start, by label then token
            label_of, pick = np.nonzero((masks[can_start] >> self._label_bits[:, None]) & 1)
            tokens = can_start[pick]
            found = set()  # (label, sentence) pairs already found: one match per sentence is enough
            for j, t, k in zip(label_of.tolist(), tokens.tolist(), sent_of_token[tokens].tolist()):
                if (j, k) not in found and self.token_regexes[j][1].match(encoding, token_at[t]):
                    found.add((j, k))
                    labels.setdefault(k, set()).add(self.token_regexes[j][0])
        for match_id, a, b in self.phrases(doc):
            k = int(sent_of_token[a])
            if sent_of_token[b - 1] == k:
                labels.setdefault(k, set()).add(self.labels_of_phrase[match_id])
        out = []
        idx = arr[:, 1].astype(np.int64)
        end = idx + arr[:, 2].astype(np.int64)
        for k, (a, b) in enumerate(zip(first.tolist(), last.tolist())):
            lo, hi = int(idx[a]), int(end[b - 1])
            raw = text[lo:hi]
            trimmed = raw.strip()
            if not trimmed:
                continue
            lead = len(raw) - len(raw.lstrip())
            out.append(Sentence(lo + lead, lo + lead + len(trimmed), trimmed, labels.get(k) or set()))
        return out
