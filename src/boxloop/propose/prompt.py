"""Prompts for language-model proposers, reading programs back out of replies, repair messages.

Shared by the chat backend (`openai`) and the local one (`hf`). A prompt carries the data summary,
the user's description, the target, the data block the program must keep, the rules of the
subset and a few worked examples written for this package. Chat replies are asked to put the
program between ```stan fences; `extract_program` also finds an unfenced program. Replies to a
block request ("rewrite only the likelihood") are spliced into the fixed context, so whatever
else the model changed is discarded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import ProgramError
from ..lang.library import DISTRIBUTIONS

FENCE = "```"
SYSTEM = ("You are an expert Bayesian statistician. You write probabilistic programs in a subset of "
          "the Stan language. Every program you write is checked by a strict checker and then fitted "
          "with NUTS, so it must be complete, valid and well-behaved.")

RULES = """Rules of the Stan subset:
- Blocks, in this order, each optional: data, transformed data, parameters, transformed parameters,
  model, generated quantities. No functions block, no print/reject, no while loops.
- Keep the data block exactly as given. Declare every other variable before using it.
- Modern array syntax only: `array[N] int y;`, `array[N] real x;`, `array[N] vector[K] z;`
  (never `int y[N];`). Types: int, real, vector[N], row_vector[N], matrix[N, K], simplex[K],
  ordered[K], positive_ordered[K], cholesky_factor_corr[K], cholesky_factor_cov[K], corr_matrix[K],
  cov_matrix[K]; constraints <lower=.., upper=..> or <offset=.., multiplier=..>.
- Statements: declarations, `y ~ dist(args);` (optionally truncated with T[a, b]), `target += ...;`,
  assignments (= += -= *= /=), for loops, if/else, { } blocks. Elementwise operators: .* ./ .^
- Distributions take positional arguments in Stan's order, never keywords (normal(mu, sigma),
  not normal(mu, sd=sigma)); the normal's second argument is the standard deviation, not the variance.
- Every scale must be provably positive: declare scale parameters with <lower=0> and do not
  subtract from them. Probabilities live in (0, 1): declare them <lower=0, upper=1> or use a link
  (inv_logit, Phi) or a *_logit distribution.
- Give every parameter a proper prior, weakly informative on the scale of the data.
- Integer data (counts, 0/1 outcomes, group indices) need integer distributions (poisson,
  neg_binomial_2, binomial, bernoulli, categorical, ordered_logistic and their _log/_logit forms).
- Distributions available: {distributions}."""

EXAMPLES = (
    ("Successes out of trials per site, with a site-level covariate.",
     """data {
  int<lower=0> N;
  array[N] int<lower=0> trials;
  array[N] int<lower=0> successes;
  vector[N] dose;
}
parameters {
  real alpha;
  real beta;
}
model {
  alpha ~ normal(0, 2);
  beta ~ normal(0, 1);
  successes ~ binomial_logit(trials, alpha + beta * dose);
}"""),
    ("Test scores of students in schools (school index 1..J); schools differ.",
     """data {
  int<lower=0> N;
  int<lower=0> J;
  array[N] int<lower=1, upper=J> school;
  vector[N] score;
}
parameters {
  real mu;
  real<lower=0> tau;
  vector[J] z;
  real<lower=0> sigma;
}
transformed parameters {
  vector[J] school_mean = mu + tau * z;
}
model {
  mu ~ normal(70, 20);
  tau ~ normal(0, 10);
  z ~ std_normal();
  sigma ~ exponential(0.1);
  score ~ normal(school_mean[school], sigma);
}"""),
    ("Daily counts of events, overdispersed, trending with the day.",
     """data {
  int<lower=0> T;
  vector[T] day;
  array[T] int<lower=0> events;
}
transformed data {
  vector[T] day_std = (day - mean(day)) / sd(day);
}
parameters {
  real alpha;
  real beta;
  real<lower=0> phi;
}
model {
  alpha ~ normal(2, 1.5);
  beta ~ normal(0, 1);
  phi ~ gamma(2, 0.1);
  events ~ neg_binomial_2_log(alpha + beta * day_std, phi);
}"""),
)


@dataclass(frozen=True)
class Prompt:
    """A prompt as chat messages (`system`, `user`) or as one completion text."""

    system: str
    user: str

    def messages(self) -> list[dict]:
        return [{"role": "system", "content": self.system}, {"role": "user", "content": self.user}]

    def text(self) -> str:
        """One string for base (non-chat) models, ending where the program should begin."""
        return f"{self.system}\n\n{self.user}\n\n{FENCE}stan\n"


def build_prompt(task, *, context: str | None = None, block: str = "program", fenced: bool = True) -> Prompt:
    """The prompt for `task`. `block` "prior"/"likelihood" asks for a rewrite of that part of
    `context`; `fenced` asks for the program between ```stan fences (off when a grammar already
    forces the reply to be the bare program)."""
    parts = [RULES.replace("{distributions}", ", ".join(sorted(DISTRIBUTIONS))), _examples(),
             "Now the task.", _task_text(task)]
    parts.append(_request(task, context, block))
    parts.append(f"Answer with the whole program between {FENCE}stan and {FENCE}, nothing else."
                 if fenced else "Answer with the whole program and nothing else.")
    return Prompt(SYSTEM, "\n\n".join(parts))


def _examples() -> str:
    shown = [f"Example {i}: {about}\n{FENCE}stan\n{program}\n{FENCE}" for i, (about, program) in
             enumerate(EXAMPLES, 1)]
    return "\n\n".join(shown)


def _task_text(task) -> str:
    lines = []
    if task.description:
        lines.append(f"Description from the user: {task.description.strip()}")
    lines.append(f"Variables (kind, shape, summary):\n{task.summary()}")
    lines.append(f"Model the variable `{task.target}` (the target) given the others.")
    return "\n".join(lines)


def _request(task, context: str | None, block: str) -> str:
    if block == "likelihood" and context:
        return (f"Current program:\n{FENCE}stan\n{context.strip()}\n{FENCE}\n"
                "Rewrite only the likelihood: the statements that model the observed data (for example "
                "another observation family or link). Keep the data, parameters, transformed parameters and "
                "priors exactly as they are, and use only parameters already declared.")
    if block == "prior" and context:
        return (f"Current program:\n{FENCE}stan\n{context.strip()}\n{FENCE}\n"
                "Rewrite only the parameters and their priors (other priors, scales or parameterisations, "
                "for example non-centred). Keep the data block and the likelihood statements exactly as they are.")
    start = context.strip() if context else task.data_block()
    return f"Write a program that starts with these lines, unchanged:\n{FENCE}stan\n{start}\n{FENCE}"


# ---- replies ------------------------------------------------------------------------------------

_THINK = re.compile(r"<think>.*?(?:</think>|\Z)", re.DOTALL)
_FENCED = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[ \t]*\n(.*?)(?:```|\Z)", re.DOTALL)
_BLOCK_START = re.compile(r"\b(?:data|transformed\s+data|parameters|transformed\s+parameters|model|"
                          r"generated\s+quantities)\s*\{")


def extract_program(reply: str) -> str | None:
    """The program in a model's reply: the longest fenced block that holds a Stan block, else the
    longest run of Stan blocks in the bare text (from the first `data {` / `model {` ... to the
    brace that closes the last one). None when the reply holds no program."""
    reply = _THINK.sub("", reply or "")
    fenced = [body for _, body in _FENCED.findall(reply) if _BLOCK_START.search(body)]
    if fenced:
        return max(fenced, key=len).strip() + "\n"
    runs = [_block_run(reply, m.start()) for m in _BLOCK_START.finditer(reply)]
    runs = [r for r in runs if r]
    return max(runs, key=len).strip() + "\n" if runs else None


def _block_run(text: str, start: int) -> str | None:
    """Consecutive Stan blocks from `start`, up to the last brace that closes one; None if the
    first block never closes."""
    end, i = None, start
    while (m := _BLOCK_START.match(text, i)) is not None:
        close = _matching_brace(text, m.end() - 1)
        if close is None:
            break
        end = close + 1
        i = end + len(text[end:]) - len(text[end:].lstrip())
    return text[start:end] if end else None


def _matching_brace(text: str, open_at: int) -> int | None:
    depth = 0
    for j in range(open_at, len(text)):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0:
            return j
    return None


def repair_message(diagnostics, limit: int = 8) -> str:
    """The checker's errors as a short request to fix them (for the repair round)."""
    errors = [_as_dict(d) for d in diagnostics]
    errors = [d for d in errors if d.get("severity", "error") == "error"]
    lines = [f"- {_where(d)}{d.get('message', '')} [{d.get('code', '?')}]" for d in errors[:limit]]
    if len(errors) > limit:
        lines.append(f"- ... and {len(errors) - limit} more")
    if not lines:
        lines = ["- the reply did not contain a Stan program"]
    return ("The checker rejected the program:\n" + "\n".join(lines) +
            f"\nFix these problems and answer with the whole corrected program between {FENCE}stan and {FENCE}.")


def _as_dict(d) -> dict:
    return d if isinstance(d, dict) else d.to_dict()


def _where(d: dict) -> str:
    return f"line {d['line']}, column {d.get('column', 0)}: " if d.get("line") else ""


def splice(context: str | None, block: str, program: str) -> str:
    """The reply `program` fitted into `context`: for a "prior" or "likelihood" request only that
    piece of the reply is kept and the rest comes from the context. A reply that does not parse is
    returned as it is, so the checker can report why."""
    if block == "program" or not context:
        return program
    from ..lang import parse
    from ..lang.canonical import blocks, with_block
    from ..lang.printer import to_stan

    try:
        piece = blocks(parse(program))
        return to_stan(with_block(parse(context), block, getattr(piece, block) or "model {\n}\n"))
    except ProgramError:
        return program


_COMPLETION_ASK = {
    "program": "Write a Stan program for these data: parameters, priors, and a likelihood for '{target}'.",
    "prior": "Write the parameters and their priors (parameters and model blocks) for these data.",
    "likelihood": "Write the likelihood of '{target}' given the data and parameters below.",
}


def completion_prompt(task, block: str = "program") -> str:
    """A short plain-text prompt for completion models (no chat, small context), written as Stan
    line comments so the program can follow directly. Chat servers get `build_prompt` instead."""
    lines = ["Bayesian model discovery. The data:", *task.summary().splitlines()]
    if task.description:
        lines += ["Description:", *task.description.splitlines()]
    lines.append(_COMPLETION_ASK[block].format(target=task.target))
    return "".join(f"// {line}\n" for line in lines)
