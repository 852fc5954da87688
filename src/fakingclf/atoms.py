"""Atom matching engine: every atom of ``patterns/atoms.jsonl`` found in one pass per text.

The atoms are spaCy patterns kept as data (see :mod:`fakingclf.cues`). spaCy's
``SpanRuler`` runs them through its token ``Matcher``, which evaluates the set and
wildcard predicates (``IN``, ``NOT_IN``, ``REGEX``) as Python calls at every token for
every pattern: about 80 % of the cue detector's time. This engine gives the same
answer — the set of atom labels in each sentence — with the work done once per text:

* **tokens**: spaCy's tokenizer, run once per distinct piece of text between white
  space and reused afterwards (:meth:`AtomEngine.tokens`); every token's properties
  are computed once per vocabulary entry and kept in numpy tables;
* **phrase atoms** (a string pattern, matched on lower-cased tokens as spaCy's
  ``PhraseMatcher(attr="LOWER")`` does) are looked up by their first two tokens and
  then compared whole;
* **token atoms** (a list of token specifications) are compiled to regular
  expressions over a per-text encoding of its tokens, one expression per label,
  tried only where a token can start one of the label's patterns and the next token
  can continue it. Each token is written ``\\x1e<lower>\\x1f<lemma>\\x1f<flags>``
  (flags: ``S`` sentence start, ``P`` punctuation, one letter per ``REGEX``
  predicate) and each sentence starts with ``\\x1d``, which no token expression
  crosses, so a match never joins two sentences — the same rule the ``SpanRuler``
  path applies afterwards.

Tokenization, sentence starts and lemmas are exactly the reference pipeline's (spaCy's
tokenizer, its ``sentencizer``, the new-line rule, the lemma lookup table), and
``tests/test_atoms.py`` checks both engines against each other, sentence for sentence
and label for label, on the development, synthetic and continuation sets, and the
tokens against spaCy's.

Supported token attributes: ``LOWER``, ``LEMMA`` (a string, or ``IN`` / ``NOT_IN``
lists, or ``REGEX``), ``IS_PUNCT``, ``IS_SENT_START`` (true/false), and ``OP`` in
``?``, ``*``, ``+``, ``{n}``, ``{n,m}``, ``{,m}``, ``{n,}``. Anything else is a
:class:`ValueError` naming the line, at start-up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from bisect import bisect_right
from itertools import accumulate
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


_TABLE_ROWS = 100_000  # vocabulary entries the engine keeps encoded (then it starts afresh, spaCy's too)
_CHUNK_ENTRIES = 100_000  # pieces of text whose tokens it keeps
_BATCH_CHARS = 100_000  # characters of new pieces tokenized in one spaCy call
_RUNS = re.compile(r"(\s+)")  # \s is exactly str.isspace, spaCy's test for white space
_NEW_LINE, _PUNCT_CHAR, _PUNCT, _SHORT_NUMBER, _DOT = 1, 2, 4, 8, 16  # per-token property bits
_SEPARATOR = -1  # the key of the separator's table row (spaCy's orth hashes are never negative)


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


def _special_cases(tokenizer) -> tuple[dict, Optional[re.Pattern], tuple]:
    """What :meth:`AtomEngine.tokens` needs to know of spaCy's special cases.

    spaCy's last tokenizer pass matches the special cases' affix tokenizations
    (``":)"`` is ``[":", ")"]``) over the whole text, so a match may join the end of
    one white-space-free run to the start of the next. Returns

    * the consecutive token pairs (left, right) of those tokenizations, keyed by
      (left's last character, right's first character);
    * an expression finding a single space between two such characters (None when
      there is no pair);
    * every special case without white space (the strings that pass may retokenize).
    """
    from spacy.tokenizer import Tokenizer

    plain = Tokenizer(
        tokenizer.vocab, rules={}, prefix_search=tokenizer.prefix_search, suffix_search=tokenizer.suffix_search,
        infix_finditer=tokenizer.infix_finditer, token_match=tokenizer.token_match, url_match=tokenizer.url_match,
    )
    rules = tokenizer.rules or {}
    pairs: dict[tuple[str, str], set] = {}
    for special in rules:
        pieces = [t.text for t in plain(special)]
        for left, right in zip(pieces, pieces[1:]):
            if left and right:
                pairs.setdefault((left[-1], right[0]), set()).add((left, right))
    specials = tuple(sorted(s for s in rules if s and not any(c.isspace() for c in s)))
    if not pairs:
        return {}, None, specials
    groups: dict[bool, tuple[set, set]] = {}  # two classes of left characters keep the expression short and exact enough
    for a, b in pairs:
        lefts, rights = groups.setdefault(a.isalnum(), (set(), set()))
        lefts.add(a)
        rights.add(b)
    screen = re.compile(" (?:" + "|".join(
        "(?<=[" + re.escape("".join(sorted(ls))) + "] )(?=[" + re.escape("".join(sorted(rs))) + "])"
        for ls, rs in groups.values()) + ")")
    return {k: sorted(v) for k, v in pairs.items()}, screen, specials


def _keys(parts: list[str]) -> list:
    """The keys of :attr:`AtomEngine._chunks` for the items of ``_RUNS.split(text)``: the items themselves.

    A white-space run's entry holds the tokens spaCy makes of it after a word: the
    word keeps the run's first space as its trailing space, so that space is no token
    (the entry's offsets still count it). A text's leading white space has no word
    before it: its key is the run in a 1-tuple, whose entry holds the whole run's tokens.
    """
    if len(parts) > 1 and not parts[0]:
        parts = parts[:]
        parts[1] = (parts[1],)
    return parts


def _piece_of(key) -> tuple[str, int]:
    """(text spaCy tokenizes, its offset in the key) for a key of :func:`_keys`."""
    if isinstance(key, tuple):
        return key[0], 0
    if key[:1] == " ":
        return key[1:], 1
    return key, 0


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

    def pattern(self, tokens: list, where: str) -> tuple[str, str, Optional[str]]:
        """One token pattern as an expression that starts at a token's ``\\x1e``.

        Only whether a pattern matches inside a sentence matters (not its span), so the
        optional tokens at either end are dropped and the end tokens' repetitions cut
        to their minimum: a sentence holds a match of the pattern exactly when it holds
        a match of what remains. The expression is written without its first
        ``\\x1e``, which :class:`AtomEngine` puts once before all of a label's patterns.

        Returns
        -------
        (str, str, str or None)
            The expression; the expression of its first token alone; and of what its
            second token can be (None when a single token is a match). :class:`AtomEngine`
            tests the last two once per vocabulary entry to find where a match can start.
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
        if parts[0][1] > 1:
            second: Optional[list[str]] = [parts[0][0]]
        elif len(parts) == 1:
            second = None
        else:
            second = []
            for body, lo, _hi in parts[1:]:  # the next token, or after optional ones the one they precede
                second.append(body)
                if lo >= 1:
                    break
        return "".join(out), parts[0][0], None if second is None else "(?:" + "|".join(second) + ")"


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
    make_nlp : callable, optional
        Builds a pipeline like ``nlp``. When the engine's tables are full it starts
        afresh, and with ``make_nlp`` spaCy's vocabulary does too (a new pipeline), so
        memory stays bounded over any number of texts; without it spaCy's vocabulary
        keeps every string it has seen.

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
        make_nlp: Optional[Callable[[], Any]] = None,
    ):
        from spacy.attrs import IDX, LENGTH, ORTH

        self._make_nlp = make_nlp
        self.nlp = nlp
        self.vocab = nlp.vocab
        self.lemma = lemma
        self._attrs = [ORTH, IDX, LENGTH]
        compiler = _Compiler()
        by_label: dict[str, list[tuple[str, str, Optional[str]]]] = {}
        self._lower_id: dict[str, int] = {}  # lower-cased token text in some phrase -> its id, from 0
        self._phrases: dict[tuple, set] = {}  # ids of a phrase's tokens -> its labels
        for n, p in enumerate(patterns, 1):
            where = f"patterns/atoms.jsonl line {n}"
            label, pat = p.get("label"), p.get("pattern")
            if not isinstance(label, str) or not label:
                raise ValueError(f"{where}: needs a 'label'")
            if isinstance(pat, str):  # a phrase: its tokens' lower-cased texts, as spaCy's PhraseMatcher(attr="LOWER")
                lowers = [t.lower_ for t in nlp.make_doc(_check_literal(pat, where))]
                if lowers:
                    key = tuple(self._lower_id.setdefault(w, len(self._lower_id)) for w in lowers)
                    self._phrases.setdefault(key, set()).add(label)
            else:
                by_label.setdefault(label, []).append(compiler.pattern(pat, where))
        if len(by_label) > 62:
            raise ValueError(f"patterns/atoms.jsonl: {len(by_label)} labels have token patterns; the engine takes 62")
        # phrases are found from their first two tokens: a one-token phrase by its token, a longer one by a pair
        v = len(self._lower_id)
        if v > 20_000:
            raise ValueError(f"patterns/atoms.jsonl: the phrases have {v:,} distinct words; the engine takes 20,000")
        self._pair_base = v + 1
        self._single = np.zeros(v + 1, dtype=bool)  # indexed by id; the last entry, for -1 (in no phrase), False
        self._pair = np.zeros(self._pair_base ** 2, dtype=bool)  # id pairs that start a phrase of 2+ tokens
        for k in self._phrases:
            if len(k) > 1:
                self._pair[k[0] * self._pair_base + k[1]] = True
        self._lengths_from: dict[int, list[int]] = {}
        for k in self._phrases:
            if len(k) == 1:
                self._single[k[0]] = True
            self._lengths_from.setdefault(k[0], []).append(len(k))
        self._lengths_from = {i: sorted(set(ls)) for i, ls in self._lengths_from.items()}
        # one expression per label, tried only where a token can start one of its patterns
        self.token_regexes = [
            (label, re.compile(_TOK + "(?:" + "|".join(e for e, _, _ in exprs) + ")")) for label, exprs in by_label.items()
        ]
        self._matchers = [rx.match for _, rx in self.token_regexes]
        self._label_names = [label for label, _ in self.token_regexes]
        self.first_tokens = [re.compile("(?:" + "|".join(f for _, f, _ in exprs) + ")") for exprs in by_label.values()]
        # what a label's second token can be: None when one of its patterns is matched by one token
        self.second_tokens = [None if any(x is None for _, _, x in exprs) else
                              re.compile("(?:" + "|".join(x for _, _, x in exprs) + ")") for exprs in by_label.values()]
        self._single_token_labels = sum(1 << j for j, rx in enumerate(self.second_tokens) if rx is None)
        self._any_first = re.compile("|".join(f"(?:{rx.pattern})" for rx in self.first_tokens) or "(?!)")
        self._any_second = re.compile("|".join(f"(?:{rx.pattern})" for rx in self.second_tokens if rx) or "(?!)")
        self._label_bits = np.arange(len(self.token_regexes), dtype=np.int64)
        self.regex_flags = [(field, re.compile(p), letter) for (field, p), letter in compiler.regex_flags.items()]
        self.punct_chars = set(nlp.get_pipe("sentencizer").punct_chars)
        self._special_pairs, self._pair_screen, self._specials = _special_cases(nlp.tokenizer)
        self._reset_table()

    def _full(self) -> bool:
        return len(self._id_of) > _TABLE_ROWS or len(self._chunks) > _CHUNK_ENTRIES

    def _reset_table(self, capacity: int = 4096) -> None:
        if hasattr(self, "_id_of") and self._make_nlp is not None:  # starting afresh: spaCy's strings too
            self.nlp = self._make_nlp()
            self.vocab = self.nlp.vocab
        self._split: dict[str, list[str]] = {}  # text -> _RUNS.split(text), kept by prepare() for tokens()
        self._id_of: dict[int, int] = {_SEPARATOR: 0}  # orth hash -> row of the tables below
        self._chunks: dict = {"": b""}  # key of a piece of text (see _keys) -> its tokens (see _fill)
        self._edges: dict = {"": (0, 0)}  # the same key -> (first token's length, last token's offset)
        self._enc = np.empty(capacity, dtype=object)  # the token's encoding
        self._enc_start = np.empty(capacity, dtype=object)  # ... when it starts a sentence
        self._size = np.zeros(capacity, dtype=np.int64)  # len(self._enc[row])
        self._len = np.zeros(capacity, dtype=np.int64)  # the token's length in characters
        self._bits = np.zeros(capacity, dtype=np.int64)  # property bits
        self._mask = np.zeros(capacity, dtype=np.int64)  # labels whose patterns it can start
        self._mask2 = np.zeros(capacity, dtype=np.int64)  # labels whose patterns it can continue as second token
        self._lid = np.full(capacity, -1, dtype=np.int64)  # the id of its lower-cased text in the phrases, or -1
        # row 0: the separator :meth:`sentences_many` puts before each text. It ends a line (the next token
        # starts a sentence, and a list number after it is at a line's start), it is a word to the
        # sentencizer (so no punctuation before it counts after it), it starts a sentence of its own
        # that is dropped, its encoding is the sentence mark alone, and no pattern starts on it.
        self._enc[0], self._enc_start[0], self._size[0], self._bits[0] = "", _SENT, -1, _NEW_LINE
        self._mask2[0] = self._single_token_labels  # (the token before it ends a text)

    def _add(self, orths: list[int]) -> None:
        """Give table rows to vocabulary entries seen for the first time (``orths``: distinct, none in the table).

        Bit ``j`` of an entry's start mask is set when it can be the first token of a
        pattern of the ``j``-th label, and of its second mask when it can be the second
        token of one (or a single token matches one of them). Both are tested with and
        without the sentence-start flag, so they over-approximate: a match is tried
        where the first mask holds and the next token's second mask does, and the
        label's expression decides.
        """
        start = len(self._id_of)
        need = start + len(orths)
        if need > len(self._enc):
            grow = max(len(self._enc), need - len(self._enc))
            for name in ("_enc", "_enc_start", "_size", "_len", "_bits", "_mask", "_mask2", "_lid"):
                old = getattr(self, name)
                setattr(self, name, np.concatenate([old, np.zeros(grow, dtype=old.dtype) if old.dtype != object
                                                    else np.empty(grow, dtype=object)]))
            self._lid[start:] = -1
        encs, bits, masks, masks2, lens, lids = [], [], [], [], [], []
        vocab, lemma, lower_id = self.vocab, self.lemma, self._lower_id
        any_first, any_second = self._any_first, self._any_second
        for orth in orths:
            lex = vocab[orth]
            lower, text = lex.lower_, lex.orth_
            fields = [lower, lemma(lower)]
            flags = "P" if lex.is_punct else ""
            for field, rx, letter in self.regex_flags:
                if rx.search(fields[field]):
                    flags += letter
            enc = _TOK + _RESERVED.sub("\x1c", fields[0]) + _FIELD + _RESERVED.sub("\x1c", fields[1]) + _FIELD + flags
            in_punct_chars = text in self.punct_chars
            bits.append(
                (_NEW_LINE if lex.is_space and "\n" in text else 0)
                | (_PUNCT_CHAR if in_punct_chars else 0)
                | (_PUNCT if lex.is_punct or in_punct_chars else 0)
                | (_SHORT_NUMBER if lex.like_num and len(text) <= 2 else 0)
                | (_DOT if text in (".", ")") else 0)
            )
            mask, mask2 = 0, self._single_token_labels
            if any_first.fullmatch(enc, 1) or any_first.fullmatch(enc + "S", 1):
                for j, rx in enumerate(self.first_tokens):
                    if rx.fullmatch(enc, 1) or rx.fullmatch(enc + "S", 1):
                        mask |= 1 << j
            if any_second.fullmatch(enc, 1) or any_second.fullmatch(enc + "S", 1):
                for j, rx in enumerate(self.second_tokens):
                    if rx is not None and (rx.fullmatch(enc, 1) or rx.fullmatch(enc + "S", 1)):
                        mask2 |= 1 << j
            encs.append(enc)
            masks.append(mask)
            masks2.append(mask2)
            lens.append(len(text))
            lids.append(lower_id.get(lower, -1))
        end = start + len(orths)
        self._enc[start:end] = encs
        self._enc_start[start:end] = [_SENT + e + "S" for e in encs]
        self._size[start:end] = [len(e) for e in encs]
        self._len[start:end] = lens
        self._bits[start:end] = bits
        self._mask[start:end] = masks
        self._mask2[start:end] = masks2
        self._lid[start:end] = lids
        self._id_of.update(zip(orths, range(start, end)))

    def _edge(self, key) -> tuple[int, int]:
        """(first token's length, last token's offset) of one piece of text (a key of :func:`_keys`)."""
        self._fill([key])
        return self._edges[key]

    def _fill(self, keys: list) -> None:
        """Tokenize the pieces not yet seen, a few spaCy calls for all of them.

        A piece's entry in ``_chunks`` is its tokens as int32 pairs (table row,
        character offset in the key), in one bytes object.

        Pieces with no white space at either end are tokenized together, joined by new
        lines: a new line is a token of its own, which spaCy's special cases never
        cross, so every piece gets exactly the tokens it gets alone.
        """
        chunks = self._chunks
        todo = list(dict.fromkeys(x for x in keys if x not in chunks))
        joinable, singles = [], []  # pieces with no white space at either end; the others, alone
        for x in todo:
            (joinable if isinstance(x, str) and x and not x[0].isspace() and not x[-1].isspace() else singles).append(x)
        batches, batch, size = [], [], 0
        for x in joinable:
            if batch and size + len(x) > _BATCH_CHARS:
                batches.append(batch)
                batch, size = [], 0
            batch.append(x)
            size += len(x) + 1
        if batch:
            batches.append(batch)
        groups = [(group, group, 0) for group in batches]
        for x in singles:
            piece, shift = _piece_of(x)
            if piece:
                groups.append(([x], [piece], shift))
            else:
                chunks[x], self._edges[x] = b"", (0, 0)
        id_of = self._id_of
        for group, pieces, shift in groups:
            arr = self.nlp.make_doc("\n".join(pieces)).to_array(self._attrs)
            orths = arr[:, 0].tolist()
            new = [o for o in dict.fromkeys(orths) if o not in id_of]
            if new:
                self._add(new)
            rows = np.fromiter(map(id_of.__getitem__, orths), dtype=np.int32, count=len(orths))
            idx = arr[:, 1].astype(np.int64)
            lens = np.fromiter(map(len, pieces), dtype=np.int64, count=len(pieces))
            begin = np.cumsum(lens + 1) - lens - 1
            lo, hi = np.searchsorted(idx, np.stack([begin, begin + lens])).tolist()  # each piece's tokens
            offsets = idx - np.repeat(begin, np.diff(np.append(lo, len(idx)))) + shift  # separators: past their piece's end
            pairs = np.stack([rows, offsets.astype(np.int32)], axis=1).tobytes()
            first_len, offsets = arr[:, 2].tolist(), offsets.tolist()
            edges = self._edges
            for x, a, b in zip(group, lo, hi):
                chunks[x] = pairs[8 * a:8 * b]
                edges[x] = (first_len[a], offsets[b - 1])

    def prepare(self, texts: Sequence[str]) -> None:
        """Tokenize the pieces of ``texts`` not seen yet, in as few spaCy calls as possible.

        Optional: :meth:`sentences` does the same for one text; calling this first for
        a batch only saves the per-call costs. Results are unchanged.
        """
        if self._full():  # bounded memory
            self._reset_table()
        chunks = self._chunks
        new: set = set()
        self._split = {}
        for text in texts:
            if text and len(text) <= self.nlp.max_length:  # a longer one is refused by sentences(), by itself
                parts = _RUNS.split(text)
                self._split[text] = parts  # for tokens(), which takes each text once
                new.update(_keys(parts))
        new.difference_update(chunks.keys())
        if new:
            self._fill(list(new))

    def tokens(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """spaCy's tokenization of ``text`` as (table rows, character offsets), each of shape (n_tokens,).

        spaCy's tokenizer cuts a text at white space and tokenizes every run of
        white-space or other characters on its own (a single space after a word is
        that word's trailing space, not a token), so the tokens of a run are computed
        once, by spaCy, and reused. (spaCy keeps such a cache too, but stops filling it
        for the rest of a text once a special case such as "don't" has been seen.)
        Runs meet in one place: spaCy's last pass matches the special cases over the
        whole text, and a match may span two runs joined by one space (``": )"``). Runs
        joined where the end of one and the start of the next could be consecutive
        tokens of a special case are tokenized together, by spaCy, as one piece.
        ``tests/test_atoms.py`` checks the tokens against spaCy's.
        """
        if self._full():  # bounded memory
            self._reset_table()
        return self._tokens(text)

    def _tokens(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`tokens` without starting afresh (the rows stay valid for the caller's batch)."""
        parts = self._split.pop(text, None) or _RUNS.split(text)  # white runs at odd positions, the others between
        joins = self._joins(text, parts) if self._pair_screen is not None else ()
        if joins:
            return self._tokens_joined(text, parts, joins)
        keys = _keys(parts)
        chunks = self._chunks
        entries = list(map(chunks.get, keys))
        if None in entries:
            self._fill(keys)
            entries = list(map(chunks.__getitem__, keys))
        return self._assemble(entries, parts)

    @staticmethod
    def _assemble(entries: list, parts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(rows, offsets) of a text from its pieces' entries, ``parts`` being the texts of the pieces."""
        pairs = np.frombuffer(b"".join(entries), dtype=np.int32).reshape(-1, 2)
        if not len(pairs):
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        counts = np.fromiter(map(len, entries), dtype=np.int64, count=len(entries)) >> 3
        lens = np.fromiter(map(len, parts), dtype=np.int64, count=len(parts))
        starts = np.cumsum(lens) - lens
        return pairs[:, 0].astype(np.int64), pairs[:, 1] + np.repeat(starts, counts)

    def _tokens_joined(self, text: str, parts: list[str], joins: set) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`tokens` for a text where some runs must be tokenized together (the single spaces ``joins``)."""
        keys = _keys(parts)
        merged: list = []  # keys, a joined piece being its runs' texts together
        texts: list[str] = []  # the text each key covers
        i = 0
        while i < len(parts):
            if i + 1 in joins:  # parts[i] and parts[i + 2] (maybe more) are one piece
                j = i
                while j + 1 in joins:
                    j += 2
                piece = "".join(parts[i:j + 1])
                merged.append(piece)
                texts.append(piece)
                i = j + 1
            else:
                merged.append(keys[i])
                texts.append(parts[i])
                i += 1
        self._fill(merged)
        return self._assemble(list(map(self._chunks.__getitem__, merged)), texts)

    def _joins(self, text: str, parts: list[str]) -> set:
        """Indices in ``parts`` of the single spaces where a special case of spaCy's could join two runs.

        A run's first token before spaCy's last pass is its first token after it,
        unless that pass retokenized the run's start, which only a run starting with a
        special case allows (and likewise for a run's last token): so a space is
        joined when the run before it can end with the left token of a pair and the
        run after it start with the right one.
        """
        joins = set()
        ends = None
        edges = self._edges
        for m in self._pair_screen.finditer(text):
            at = m.start()  # the space
            pairs = [(a, b) for a, b in self._special_pairs.get((text[at - 1], text[at + 1]), ())
                     if text.endswith(a, 0, at) and text.startswith(b, at + 1)]
            if not pairs:
                continue
            if ends is None:
                ends = list(accumulate(map(len, parts)))
            i = bisect_right(ends, at)  # the part holding the space, between runs ``before`` and ``after``
            before, after = parts[i - 1], parts[i + 1]
            last = before[(edges.get(before) or self._edge(before))[1]:]
            first = after[: (edges.get(after) or self._edge(after))[0]]
            if any((last == a or before.endswith(self._specials)) and (first == b or after.startswith(self._specials))
                   for a, b in pairs):
                joins.add(i)
        return joins

    def sentences(self, text: str) -> list[Sentence]:
        """Sentences of ``text`` (whitespace-only ones dropped) with the atom labels in each.

        Returns
        -------
        list of Sentence
            In text order; ``start``/``end`` are character offsets in ``text`` of the
            trimmed sentence, ``labels`` the labels of every atom lying inside it.
        """
        return self.sentences_many([text])[0]

    def sentences_many(self, texts: Sequence[str]) -> list[list[Sentence]]:
        """:meth:`sentences` of each of ``texts``, computed together.

        The texts' tokens are put end to end, a separator before each (table row 0),
        and the sentence starts, the token encoding and the atom candidates are computed
        once for all of them; the separator makes every text's answer the one it gets
        alone (``tests/test_atoms.py`` compares both). A batch pays numpy's per-call
        costs once instead of once per text.

        Returns
        -------
        list of list of Sentence
            One list per text, in order.
        """
        if self._full():  # bounded memory: only here, so that every row of the batch is of the same tables
            self._reset_table()
        pieces, where = [], []  # token rows with a separator before each text; (text, offsets) of those rows
        sep = np.zeros(1, dtype=np.int64)
        for i, text in enumerate(texts):
            ids, idx = self._tokens(text) if text else (sep[:0], sep[:0])
            if len(ids):
                pieces += [sep, ids]
                where.append((i, idx, len(ids)))
        out: list[list[Sentence]] = [[] for _ in texts]
        if not pieces:
            return out
        ids = np.concatenate(pieces)
        n = len(ids)
        bits = self._bits[ids]
        starts = _sentencizer_starts(bits & _PUNCT_CHAR > 0, bits & _PUNCT > 0)
        is_sep = ids == 0
        starts[is_sep] = 1
        starts = _line_starts(bits & _NEW_LINE > 0, bits & _DOT > 0, bits & _SHORT_NUMBER > 0, starts)
        starts[is_sep] = 1  # (again: a text ending in "3." would join its separator to that sentence)
        is_start = starts == 1
        encoding = "".join(np.where(is_start, self._enc_start[ids], self._enc[ids]).tolist())
        sizes = self._size[ids] + 2 * is_start
        token_at = (np.cumsum(sizes) - sizes + is_start).tolist()  # offset of each token's \x1e in the encoding
        masks = self._mask[ids]
        masks[:-1] &= self._mask2[ids[1:]]  # the next token must be able to continue the pattern
        masks[-1] &= self._single_token_labels
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
            match, names = self._matchers, self._label_names
            for j, t, k in zip(label_of.tolist(), tokens.tolist(), sent_of_token[tokens].tolist()):
                if (j, k) not in found and match[j](encoding, token_at[t]):
                    found.add((j, k))
                    labels.setdefault(k, set()).add(names[j])
        if self._phrases:
            self._find_phrases(ids, sent_of_token, labels)
        # character offsets: each text's own, the separators' 0 (their sentences are dropped)
        offsets = np.concatenate([x for _, idx, _ in where for x in (sep, idx)])
        owner = np.repeat(np.fromiter((i for i, _, _ in where), dtype=np.int64, count=len(where)),
                          np.fromiter((m + 1 for _, _, m in where), dtype=np.int64, count=len(where)))
        real = ~is_sep[first]
        first, last = first[real], last[real]
        his = (offsets[last - 1] + self._len[ids[last - 1]]).tolist()
        for k, i, lo, hi in zip(np.flatnonzero(real).tolist(), owner[first].tolist(), offsets[first].tolist(), his):
            raw = texts[i][lo:hi]
            trimmed = raw.strip()
            if not trimmed:
                continue
            lead = len(raw) - len(raw.lstrip())
            out[i].append(Sentence(lo + lead, lo + lead + len(trimmed), trimmed, labels.get(k) or set()))
        return out

    def _find_phrases(self, ids: np.ndarray, sent_of_token: np.ndarray, labels: dict) -> None:
        """Add the labels of the phrases found inside one sentence to ``labels`` (sentence -> set)."""
        lids = self._lid[ids]
        n = len(lids)
        hit = self._single[lids]  # -1 indexes the table's last entry: False
        if n > 1:
            pairs = lids[:-1] * self._pair_base + lids[1:]
            pairs[(lids[:-1] < 0) | (lids[1:] < 0)] = -1  # the last entry: False
            hit[:-1] |= self._pair[pairs]
        starts = np.flatnonzero(hit)
        if not len(starts):
            return
        seq = lids.tolist()
        sent = sent_of_token.tolist()
        phrases, lengths_from = self._phrases, self._lengths_from
        for t in starts.tolist():
            k = sent[t]
            for length in lengths_from[seq[t]]:
                if t + length > n or sent[t + length - 1] != k:
                    break
                found = phrases.get(tuple(seq[t:t + length]))
                if found:
                    labels.setdefault(k, set()).update(found)
