"""The constrained decoder without torch: numpy "language models" over a BPE tokenizer trained on
our own Stan programs. A proposal called valid must pass phi1..phi6 and be a model of the data a
statistician would accept (a likelihood for the target, every parameter used); rollback must
touch only the failing statement; the accounting must add up."""

import subprocess
import sys
from collections import Counter

import llguidance
import numpy as np
import pytest
from decode_fixtures import (DATASETS, BigramLM, GuidedLM, ScriptedLM, acceptance_problems,  # noqa: F401
                             adapter, bpe, counted_lm, guided_scripts, raw_adapter, tasks)

from boxloop.errors import ProposerError
from boxloop.lang import check, parse
from boxloop.lang.printer import to_stan
from boxloop.lang.canonical import blocks
from boxloop.propose.base import Proposer
from boxloop.propose.constrained import DecodingProposer
from boxloop.propose.decode import DecodeConfig, decode, decode_many
from boxloop.propose.target import generation_grammar, make_target

# Small budgets keep a know-nothing model's runs short; the defaults are for real models.
FAST = DecodeConfig(temperature=1.0, top_p=1.0, max_statement_tokens=32, max_tries=6,
                    max_tokens=240, max_total_tokens=900)
GREEDY = DecodeConfig(temperature=0.0)
# Room for the guided scripts' longest statements (a GP's covariance, up to ~80 tokens).
GUIDED = DecodeConfig(temperature=1.0, top_p=1.0, max_statement_tokens=96, max_tries=6, max_tokens=640,
                      max_total_tokens=2400)

PARAMS = "parameters {\n  real mu;\n  real<lower=0> tau;\n  vector[J] theta;\n}\n"
PRIORS = "  mu ~ normal(0, 5);\n  tau ~ cauchy(0, 5);\n  theta ~ normal(mu, tau);\n"


def sweep(proposer, tasks, n, seed=0):
    return {name: proposer.propose(tasks[name], n=n, seed=seed) for name in DATASETS}


def assert_accounting_adds_up(props, decoded=()):
    for p in props:
        acc = p.accounting
        assert acc.tokens_generated >= acc.tokens_discarded >= 0 and acc.tries == 1 and acc.seconds > 0
    for d in decoded:
        assert d.stats.generated - d.stats.discarded == d.stats.kept == len(d.tokens)


@pytest.mark.parametrize("lm_name", ["random", "counted"])
def test_a_model_that_knows_nothing_never_gets_an_unacceptable_program_called_valid(lm_name, adapter,
                                                                                   counted_lm, tasks):
    # Neither model can write a model of the data (measured: none of 60 gives the target a
    # likelihood); the decoder must say so instead of calling an empty `model {}` valid.
    lm = BigramLM(adapter.vocab_size, seed=3) if lm_name == "random" else counted_lm
    constrained = sweep(DecodingProposer("toy", lm, adapter, FAST), tasks, n=12)
    free = sweep(DecodingProposer("toy", lm, adapter, FAST, constrained=False), tasks, n=12)
    for name in DATASETS:
        for p in constrained[name]:
            assert p.text.startswith(tasks[name].data_block())
            if p.valid:
                assert check(p.text).valid and not acceptance_problems(p.text, tasks[name].target), p.text
            else:
                assert any(d["severity"] == "error" for d in p.diagnostics), p.text
    everything = [p for props in constrained.values() for p in props]
    unmodelled = [p for p in everything if any(d["code"] == "propose.no_likelihood" for d in p.diagnostics)]
    assert len(unmodelled) >= len(everything) // 2
    free_rate = np.mean([p.valid for props in free.values() for p in props])
    assert free_rate < 0.1
    assert sum(p.accounting.tokens_discarded for p in everything) > 0  # the checker did real work
    assert_accounting_adds_up(everything)


@pytest.mark.parametrize("lm_name", ["random", "counted"])
def test_a_guided_model_writes_programs_a_statistician_accepts(lm_name, adapter, counted_lm, tasks):
    # The same know-nothing models, steered by scripts that first close the model block before
    # any likelihood, then misspell the likelihood's distribution, then write it right: every
    # proposal ends as the right program, after exactly those two rejections.
    base = BigramLM(adapter.vocab_size, seed=3) if lm_name == "random" else counted_lm
    for name in DATASETS:
        task = tasks[name]
        target = make_target(task.data_block(), observed=task.target)
        scripts = guided_scripts(task, target.prefix)
        proposals = DecodingProposer("toy", GuidedLM(base, adapter, scripts), adapter, GUIDED).propose(task, n=2)
        for p in proposals:
            assert p.valid and check(p.text, data=task.stan_json()).valid, p.diagnostics
            assert not acceptance_problems(p.text, task.target), p.text
            assert p.text == target.prefix + scripts[-1] + "\n"
        d = decode(GuidedLM(base, adapter, scripts), adapter, target, data=task.stan_json(), config=GUIDED)
        assert dict(d.stats.rejected_by) == {"model": 1, "phi2": 1} and d.stats.fallbacks == 0, name
        assert_accounting_adds_up(proposals, [d])


def test_semantic_rejections_are_real_predicates(adapter, counted_lm, tasks):
    rejected, runs = Counter(), []
    for name in DATASETS:
        target = make_target(tasks[name].data_block())
        for i in range(6):
            d = decode(counted_lm, adapter, target, data=tasks[name].stan_json(), config=FAST,
                       rng=np.random.default_rng([1, i]))
            rejected.update(dict(d.stats.rejected_by))
            runs.append(d)
            assert d.valid or any(x.is_error for x in d.diagnostics)
            assert d.text == target.prefix + adapter.decode(d.tokens) + "\n"
    assert set(rejected) & {"phi2", "phi3", "phi4", "phi5", "phi6"}, rejected
    assert_accounting_adds_up([], runs)


def test_straddling_tokens_are_cut_and_respelled(raw_adapter, tasks):
    """With tokens that hold the end of one statement and the start of the next, every result is
    still valid and the kept tokens still spell the text."""
    lm = BigramLM(raw_adapter.vocab_size, seed=5, scale=3.0)
    for name in DATASETS[:3]:
        target = make_target(tasks[name].data_block())
        for i in range(5):
            d = decode(lm, raw_adapter, target, data=tasks[name].stan_json(), config=FAST,
                       rng=np.random.default_rng([2, i]))
            assert d.valid and check(d.text).valid
            spelled = target.prefix + raw_adapter.decode(d.tokens)
            assert d.text == spelled + ("" if spelled.endswith("\n") else "\n")
            assert d.stats.generated - d.stats.discarded == d.stats.kept


# ---- scripted models: exactly what rollback does ---------------------------------------------------


def scripted_run(adapter, task, scripts, block="program", context=None, config=GREEDY, gq=False):
    lm = ScriptedLM(adapter, scripts)
    target = make_target(context or task.data_block(), block, generated_quantities=gq, observed=task.target)
    return lm, target, decode(lm, adapter, target, data=task.stan_json(), config=config)


@pytest.mark.parametrize("adapter_name", ["adapter", "raw_adapter"])
def test_only_the_failing_statement_is_rolled_back(adapter_name, request, tasks):
    adapter = request.getfixturevalue(adapter_name)
    head = "\n" + PARAMS + "model {\n" + PRIORS
    bad = head + "  y ~ gaussian(theta, sigma);\n}"
    good = head + "  y ~ normal(theta, sigma);\n}"
    lm, target, d = scripted_run(adapter, tasks["eight_schools"], [bad, good])
    assert d.valid and d.text == target.prefix + good + "\n"
    assert dict(d.stats.rejected_by) == {"phi2": 1} and d.stats.fallbacks == 0
    # One rollback, and it never reached back into the accepted priors.
    kept_before = len(adapter.encode(target.prefix)) + len(adapter.exact(head)) - 2
    assert len(lm.crops) == 1 and lm.crops[0][1] >= kept_before
    assert 0 < d.stats.discarded <= len(adapter.encode("  y ~ gaussian(theta, sigma);\n}")) + 1
    if adapter_name == "raw_adapter":
        # `);\n  y` held the end of the accepted prior and the start of the rejected statement:
        # it was dropped and its first part re-spelled.
        assert d.stats.forced >= 1


def test_a_statement_that_keeps_failing_closes_its_block(adapter, tasks):
    bad = "\n" + PARAMS + "model {\n" + PRIORS + "  y ~ normal(theta, sigma - 100);\n}"
    config = DecodeConfig(temperature=0.0, max_tries=3)
    lm, target, d = scripted_run(adapter, tasks["eight_schools"], [bad], config=config)
    assert "sigma - 100" not in d.text and PRIORS in d.text
    assert dict(d.stats.rejected_by) == {"phi5": 3} and d.stats.fallbacks == 1
    # what was accepted is kept, but a program whose likelihood never got written is no proposal
    errors = [x.code for x in d.diagnostics if x.is_error]
    assert not d.valid and errors == ["propose.no_likelihood"] + ["propose.unused_parameter"] * 3


def test_a_second_distribution_for_the_data_is_named_and_dropped_by_one_likelihood(adapter, tasks):
    """A network that writes its priors first sometimes puts `y ~ normal(0, 1);` among them before
    the likelihood: legal Stan, but the data are modelled twice (its elpd is nonsense). The
    decoder does not fight the close over it (more statements cannot undo it); the verdict names
    it, and `one_likelihood` keeps the likelihood."""
    from boxloop.propose.target import model_problems, one_likelihood

    stray = "  y ~ normal(0, 1);\n"
    body = "\n" + PARAMS + "model {\n" + PRIORS + stray + "  y ~ normal(theta, sigma);\n}"
    lm, target, d = scripted_run(adapter, tasks["eight_schools"], [body])
    assert "modelled" not in dict(d.stats.rejected_by) and d.stats.fallbacks == 0
    assert [x.code for x in d.diagnostics if x.is_error] == ["propose.modelled_twice"] and not d.valid
    kept = one_likelihood(target, parse(d.text))
    assert model_problems(target, kept) == [] and "normal(0, 1)" not in to_stan(kept)
    assert check(to_stan(kept), data=tasks["eight_schools"].stan_json()).valid
    # where dropping it would leave a parameter without a likelihood, nothing is dropped
    only = parse(d.text.replace("y ~ normal(theta, sigma);", "y ~ normal(0, sigma);"))
    assert one_likelihood(target, only) is only


def test_if_else_is_one_statement(adapter, tasks):
    branch = "  if (J > 4) y ~ normal(theta, sigma); else y ~ student_t(4, theta, sigma);\n}"
    body = "\n" + PARAMS + "model {\n" + PRIORS + branch
    lm, target, d = scripted_run(adapter, tasks["eight_schools"], [body])
    assert d.valid and d.stats.statements == 7 and "else y ~ student_t" in d.text


def test_prior_block_may_not_score_data(adapter, tasks):
    script = "\n" + PARAMS + "model {\n" + PRIORS + "  y ~ normal(theta, sigma);\n}"
    lm, target, d = scripted_run(adapter, tasks["eight_schools"], [script], block="prior",
                                 config=DecodeConfig(temperature=0.0, max_tries=2))
    assert d.valid and dict(d.stats.rejected_by) == {"role": 2}
    split = blocks(parse(d.text))
    assert split.likelihood == "" and "theta ~ normal(mu, tau)" in split.prior


def test_likelihood_is_written_inside_the_priors_model_block(adapter, tasks):
    task = tasks["eight_schools"]
    context = task.data_block() + "\n" + PARAMS + "model {\n" + PRIORS + "}\n"
    scripts = ["  mu ~ normal(0, 1);\n}", "  y ~ normal(theta, sigma);\n}"]
    lm, target, d = scripted_run(adapter, task, scripts, block="likelihood", context=context)
    assert d.valid and dict(d.stats.rejected_by) == {"role": 1}
    split = blocks(parse(d.text))
    assert "y ~ normal(theta, sigma)" in split.likelihood and "mu ~ normal(0, 1)" not in d.text
    assert "theta ~ normal(mu, tau)" in split.prior


# ---- budgets, seeds, errors -------------------------------------------------------------------------


def test_budgets_bound_every_program(adapter, tasks):
    lm = BigramLM(adapter.vocab_size, seed=9)
    config = DecodeConfig(temperature=1.0, top_p=1.0, max_tokens=60, max_statement_tokens=16,
                          max_tries=2, max_total_tokens=120)
    target = make_target(tasks["dugongs_data"].data_block())
    for i in range(8):
        d = decode(lm, adapter, target, config=config, rng=np.random.default_rng(i))
        assert d.valid and d.stats.kept <= config.max_tokens
        assert d.stats.generated <= config.max_total_tokens + config.max_statement_tokens + 20


def test_same_seed_same_proposals(adapter, counted_lm, tasks):
    proposer = DecodingProposer("toy", counted_lm, adapter, FAST)
    assert isinstance(proposer, Proposer)
    first = proposer.propose(tasks["surgical_data"], n=3, seed=7)
    again = proposer.propose(tasks["surgical_data"], n=3, seed=7)
    other = proposer.propose(tasks["surgical_data"], n=3, seed=8)
    assert [p.text for p in first] == [p.text for p in again]
    assert [p.text for p in first] != [p.text for p in other]


class _Batching:
    """A model that serves several sequences per call, recording how many each call served."""

    def __init__(self, lm):
        self.lm, self.vocab_size, self.max_length, self.batches = lm, lm.vocab_size, lm.max_length, []

    def __getattr__(self, name):
        return getattr(self.lm, name)

    def logits_many(self, states):
        self.batches.append(len(states))
        return [self.lm.logits(s) for s in states]


def test_programs_written_side_by_side_are_those_written_alone(adapter, counted_lm, tasks):
    target = make_target(tasks["surgical_data"].data_block())
    alone = [decode(counted_lm, adapter, target, config=FAST, rng=np.random.default_rng(i)) for i in range(5)]
    batching = _Batching(counted_lm)
    together = decode_many(batching, adapter, target, config=FAST, rngs=[np.random.default_rng(i) for i in range(5)])
    assert [d.text for d in together] == [d.text for d in alone]
    assert [d.valid for d in together] == [d.valid for d in alone]
    assert [d.stats.kept for d in together] == [d.stats.kept for d in alone]
    assert max(batching.batches) == 5 and len(batching.batches) < sum(d.stats.sampled for d in alone)


def test_generation_grammars_are_valid_and_comment_free(adapter):
    for operation in ("program", "prior", "likelihood"):
        for gq in (False, True):
            grammar = llguidance.LLMatcher.grammar_from_lark(generation_grammar(operation, gq))
            assert llguidance.LLMatcher.validate_grammar_with_warnings(grammar, adapter.ll) == (False, [])
    matcher = llguidance.LLMatcher(adapter.ll, make_target("data { int N; }").grammar)
    commented = adapter.encode("data { int N; } // note")
    assert matcher.validate_tokens(commented) < len(commented)


@pytest.mark.parametrize("context, block, code", [
    ("data { int N; ", "program", "propose.bad_context"),
    ("data { int N; } parameters { real mu; }", "program", "propose.bad_context"),
    ("data { int N; }", "likelihood", "propose.bad_context"),
    ("data { int N; }", "posterior", "propose.bad_block"),
])
def test_bad_requests_say_what_to_pass(context, block, code):
    with pytest.raises(ProposerError) as info:
        make_target(context, block)
    assert info.value.code == code and "pass" in str(info.value)


def test_a_context_with_a_semantic_error_is_refused(adapter):
    target = make_target("data { int N; vector[M] y; }")
    with pytest.raises(ProposerError, match="context has an error"):
        decode(BigramLM(adapter.vocab_size), adapter, target)


def test_vocabulary_mismatch_is_refused(adapter):
    with pytest.raises(ProposerError) as info:
        decode(BigramLM(adapter.vocab_size + 3), adapter, make_target("data { int N; }"))
    assert info.value.code == "propose.vocab_mismatch"


def test_propose_imports_without_torch():
    code = ("import sys; sys.modules['torch'] = None; sys.modules['transformers'] = None\n"
            "import boxloop.propose, boxloop.propose.decode, boxloop.propose.hf\n"
            "from boxloop.errors import ProposerError\n"
            "try:\n    boxloop.propose.hf.HFProposer('hf:/')\n"
            "except ProposerError as e:\n    print(e.code, e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "propose.hf_unavailable" in out.stdout and "pip install 'boxloop[hf]'" in out.stdout


def test_generated_quantities_are_optional_and_checked(adapter, tasks):
    model = "\n" + PARAMS + "model {\n" + PRIORS + "  y ~ normal(theta, sigma);\n}"
    lm, target, ended = scripted_run(adapter, tasks["eight_schools"], [model], gq=True)
    assert ended.valid and ended.text.rstrip().endswith("}") and "generated" not in ended.text
    gq = model + "\ngenerated quantities {\n  real mu_rep = normal_rng(mu, tau);\n}"
    lm, target, with_gq = scripted_run(adapter, tasks["eight_schools"], [gq], gq=True)
    assert with_gq.valid and with_gq.text == target.prefix + gq + "\n"


def test_prompt_is_trimmed_to_the_model_window(adapter, tasks):
    lm = BigramLM(adapter.vocab_size, seed=4)
    target = make_target(tasks["eight_schools"].data_block())
    lm.max_length = 400
    d = decode(lm, adapter, target, prompt_ids=[5] * 1000, config=FAST)
    assert d.valid
    lm.max_length = 100
    with pytest.raises(ProposerError) as info:
        decode(lm, adapter, target, prompt_ids=[5] * 10, config=FAST)
    assert info.value.code == "propose.window"
