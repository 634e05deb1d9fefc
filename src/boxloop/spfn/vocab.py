"""The SPFN's program tokens: grammar-level words, data names by role and position, quantised
constants, and every byte as a fallback (so any text, a real task's data block included, encodes).

Data variables are tokens by role: the outcome is the `y` slot, covariates `x1`..`x6` in the
task's order, grouping factors `g1`, `g2` with their level counts `J1`, `J2`, the size `N`, trials
`trials`, anything else `v1`..`v4`. Training data use these names directly; for a real task
`role_names` maps its variables onto the slots, and `task_tokenizer` writes an llguidance
tokenizer whose slot tokens spell the task's own names, so the constrained decoder sees real
Stan text while the model sees roles.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

SPECIALS = ("<eos>", "<bos>")
EOS, BOS = 0, 1
SLOTS = ("N", "y", "x1", "x2", "x3", "x4", "x5", "x6", "g1", "g2", "J1", "J2", "trials",
         "v1", "v2", "v3", "v4")
SLOT_ROLES = {"N": "size", "y": "outcome", "trials": "trials", **{f"x{j}": "covariate" for j in range(1, 7)},
              **{f"g{k}": "group" for k in (1, 2)}, **{f"J{k}": "levels" for k in (1, 2)},
              **{f"v{k}": "other" for k in range(1, 5)}}
ROLE_KINDS = ("size", "outcome", "covariate", "group", "levels", "trials", "other")
_KEYWORDS = """data transformed parameters model generated quantities int real vector row_vector matrix
array ordered positive_ordered simplex lower upper offset multiplier for in if else while target
cov_matrix corr_matrix cholesky_factor_corr cholesky_factor_cov unit_vector""".split()
_LIBRARY = """normal std_normal student_t cauchy double_exponential logistic lognormal gamma inv_gamma
exponential weibull beta uniform chi_square bernoulli bernoulli_logit binomial binomial_logit
beta_binomial poisson poisson_log neg_binomial_2 neg_binomial_2_log categorical categorical_logit
ordered_logistic dirichlet multi_normal multi_normal_cholesky lkj_corr_cholesky normal_lpdf
poisson_log_lpmf poisson_lpmf log_mix log_sum_exp log1m log exp inv_logit logit log_inv_logit
linspaced_vector rep_vector to_vector sqrt square pow fabs abs mean sd sum cumulative_sum Phi
append_row diag_pre_multiply cholesky_decompose gp_exp_quad_cov add_diag to_array_1d fmin fmax
inv log1p expm1 step""".split()
_CANONICAL = ([f"p{k}" for k in range(1, 41)] + [f"tp{k}" for k in range(1, 11)] +
              [f"td{k}" for k in range(1, 6)] + [f"m{k}" for k in range(1, 6)] + ["i1", "i2", "i3"])
_NUMBERS = "0 1 2 3 4 5 6 7 8 9 10 20 50 100 1000 0.1 0.5 2.5 1e-6".split()
# Layout and punctuation pieces of the canonical printer's text (no identifier characters, so an
# identifier always starts a fresh token).
_PUNCT = [" {\n", "\n}\n", "}\n", "\n  ", "\n    ", "\n      ", "\n", "  ", " ", ";", " ~ ", " = ", " += ",
          "(", ")", "[", "]", "<", ">", "=", ", ", ",", " + ", " - ", " * ", " / ", " .* ", " ./ ", "-", ":",
          " | ", " == ", " < ", " > ", "'", "{", "}", " } else {", ");", "];", "] ", "[i1]", "<lower=",
          "<lower=0>", "<lower=0, upper=1>", "<lower=1>", "<lower=-1, upper=1>", "<lower=1, upper="]
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|[0-9]+(?:\.[0-9]+)?(?:e-?[0-9]+)?")


def _byte_unicode() -> dict[int, str]:
    """The byte -> printable character map of byte-level BPE vocabularies (what tokenizer.json
    files spell their tokens in, and what llguidance reads)."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    table, extra = {b: chr(b) for b in keep}, 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + extra)
            extra += 1
    return table


_BYTES = _byte_unicode()


@dataclass(frozen=True)
class Vocabulary:
    """Token strings by id: specials, the 256 bytes, then words (slots, keywords, library names,
    canonical variable names, numbers) and punctuation."""

    @cached_property
    def tokens(self) -> tuple[str, ...]:
        words = [*SLOTS, *_KEYWORDS, *_LIBRARY, *_CANONICAL, *_NUMBERS]
        seen, out = set(), [*SPECIALS, *(bytes([b]).decode("latin-1") for b in range(256))]
        for t in [*words, *(p for p in _PUNCT if len(p) > 1)]:
            if t not in seen:
                seen.add(t)
                out.append(t)
        return tuple(out)

    @cached_property
    def word_ids(self) -> dict[str, int]:
        return {t: i for i, t in enumerate(self.tokens) if i >= 258 and _WORD.fullmatch(t)}

    @cached_property
    def punct_ids(self) -> dict[str, int]:
        return {t: i for i, t in enumerate(self.tokens) if i >= 258 and not _WORD.fullmatch(t)}

    @cached_property
    def slot_ids(self) -> dict[str, int]:
        return {s: self.word_ids[s] for s in SLOTS}

    @property
    def size(self) -> int:
        return len(self.tokens)

    def encode(self, text: str, names: dict[str, str] | None = None) -> list[int]:
        """Token ids of `text`; `names` maps a task's data names to slots (None: the training
        names are the slots themselves). Unknown words and characters are spelled in bytes."""
        words = dict(self.word_ids)
        if names is not None:
            words = {w: i for w, i in words.items() if w not in self.slot_ids and w not in names}
            words.update({name: self.slot_ids[slot] for name, slot in names.items()})
        longest = max(len(p) for p in self.punct_ids)
        ids, i = [], 0
        while i < len(text):
            m = _WORD.match(text, i)
            if m:
                word = m.group(0)
                ids += [words[word]] if word in words else _bytes(word)
                i = m.end()
                continue
            for k in range(min(longest, len(text) - i), 0, -1):
                piece = text[i:i + k]
                if k > 1 and piece in self.punct_ids:
                    ids.append(self.punct_ids[piece])
                    i += k
                    break
            else:
                ids += _bytes(text[i])
                i += 1
        return ids

    def decode(self, ids, names: dict[str, str] | None = None) -> str:
        """The text of `ids` (specials dropped); with `names`, slots spell the task's names."""
        spell = {self.slot_ids[slot]: name for name, slot in (names or {}).items()}
        return "".join(spell.get(i, self.tokens[i]) for i in ids if i >= len(SPECIALS))

    def token_bytes(self, names: dict[str, str] | None = None) -> list[bytes]:
        """Each token's bytes as the constrained decoder must see them: with `names`, slots spell
        the task's names, and slots or words the task cannot use spell a control byte that no
        Stan text contains (so the grammar never allows them)."""
        out = [b"" if i < len(SPECIALS) else t.encode("latin-1" if i < 258 else "utf-8")
               for i, t in enumerate(self.tokens)]
        if names is None:
            return out
        used = {self.slot_ids[slot]: name for name, slot in names.items()}
        for i in self.word_ids.values():
            if i in used:
                out[i] = used[i].encode()
            elif self.tokens[i] in names or i in self.slot_ids.values():
                out[i] = b"\x01"
        return out

    def ll_tokenizer(self, names: dict[str, str] | None = None):
        """The llguidance tokenizer of this vocabulary for a task (see `token_bytes`)."""
        import llguidance

        return llguidance.LLTokenizer(llguidance.TokenizerWrapper(_Spelled(self, names)),
                                      n_vocab=self.size)


class _Spelled:
    """What llguidance's TokenizerWrapper reads: the token bytes, the specials, an encoder."""

    def __init__(self, vocab: Vocabulary, names):
        self.vocab, self.names = vocab, names
        self.tokens = vocab.token_bytes(names)
        self.eos_token_id, self.bos_token_id = EOS, BOS
        self.special_token_ids = [EOS, BOS]

    def __call__(self, text):
        return self.vocab.encode(text.decode("utf-8") if isinstance(text, bytes) else text, self.names)


def _bytes(text: str) -> list[int]:
    return [len(SPECIALS) + b for b in text.encode("utf-8")]


VOCAB = Vocabulary()


def role_names(task) -> dict[str, str]:
    """The task's data names -> slots, by role and position (see the module docstring)."""
    from ..propose.grammar_parts import analyse

    roles, names = analyse(task), {}

    def give(name, slot):
        if name and name not in names and slot not in names.values() and re.fullmatch(r"[A-Za-z]\w*", name):
            names[name] = slot

    give(roles.target, "y")
    if roles.dims:
        give(roles.dims[0], "N")
    for j, cov in enumerate(roles.covariates[:6], 1):
        give(cov.name, f"x{j}")
    for k, g in enumerate((*roles.groups, *roles.factors)[:2], 1):
        give(g.name, f"g{k}")
        give(g.levels, f"J{k}")
    if roles.trials:
        give(roles.trials[0], "trials")
    others = [v.name for v in task.variables if v.name not in names]
    for k, name in enumerate(others[:4], 1):
        give(name, f"v{k}")
    return names
