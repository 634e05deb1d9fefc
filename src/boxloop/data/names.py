"""Column names as legal Stan identifiers that clash with no reserved word.

`Solar.R` -> `Solar_R`, `model` -> `model_`, `lower` -> `lower_`, `2019` -> `v_2019`,
`Größe` -> `Grosse`; two names that become the same identifier get `_2`, `_3`, ... in table
order. The mapping is kept (original -> Stan name) so every message can name both.
"""

from __future__ import annotations

import re
import unicodedata

# Words a Stan program cannot use as a variable name: keywords, type names and the contextual
# words of declarations (a data variable called `lower` breaks `real<lower=0>`). Kept equal to
# the checker's list (lang.library.is_reserved; a test holds them together).
STAN_RESERVED = frozenset(
    """for in while repeat until if then else true false target functions model data parameters
    quantities transformed generated profile return break continue print reject fatal_error
    int real complex vector simplex unit_vector ordered positive_ordered row_vector matrix
    cholesky_factor_corr cholesky_factor_cov corr_matrix cov_matrix array tuple void
    complex_vector complex_row_vector complex_matrix sum_to_zero_vector sum_to_zero_matrix
    column_stochastic_matrix row_stochastic_matrix lower upper offset multiplier jacobian
    struct typedef export auto extern var static""".split()
)
IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
_TRANSLIT = {"ß": "ss", "æ": "ae", "Æ": "AE", "ø": "o", "Ø": "O", "ł": "l", "Ł": "L", "đ": "d", "þ": "th"}


def is_legal(name: str) -> bool:
    return bool(IDENTIFIER.match(name)) and not name.endswith("__") and name not in STAN_RESERVED


def stan_identifier(name: str) -> str:
    """The nearest legal Stan identifier to `name` (itself when it is one)."""
    if is_legal(name):
        return name
    ascii_text = "".join(_TRANSLIT.get(ch, ch) for ch in unicodedata.normalize("NFKD", str(name)))
    ascii_text = "".join(ch for ch in ascii_text if not unicodedata.combining(ch))
    cleaned = re.sub(r"[^A-Za-z0-9_]+", "_", ascii_text).strip("_")
    cleaned = re.sub(r"__+", "_", cleaned) or "x"
    if not cleaned[0].isalpha():
        cleaned = "v_" + cleaned
    return cleaned + "_" if cleaned in STAN_RESERVED else cleaned


def unique_name(base: str, taken: set[str]) -> str:
    """`base`, else `base_2`, `base_3`, ...: the first not in `taken` (which it joins)."""
    name, k = base, 2
    while name in taken:
        name, k = f"{base}_{k}", k + 1
    taken.add(name)
    return name


def stan_names(names, reserved=()) -> list[str]:
    """One legal, distinct identifier per name, in order; `reserved` names are never given out.
    A name that is already legal keeps it; the renamed ones give way (`Solar_R` stays,
    `Solar.R` beside it becomes `Solar_R_2`)."""
    names = [str(n) for n in names]
    taken = set(reserved)
    out: list[str | None] = [None] * len(names)
    for i, name in enumerate(names):
        if is_legal(name) and name not in taken:
            out[i] = name
            taken.add(name)
    for i, name in enumerate(names):
        if out[i] is None:
            base = stan_identifier(name)
            out[i] = unique_name(base + "_" if base in reserved else base, taken)
    return out


def natural_key(text: str):
    """Sort key comparing the numbers inside text as numbers: A2 before A10, 5-9 before 10-14."""
    return [(0, float(part), "") if part[:1].isdigit() else (1, 0.0, part.lower())
            for part in re.findall(r"\d+(?:\.\d+)?|\D+", text)]
