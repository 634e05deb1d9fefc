"""Prompts for LM proposers, reading programs out of replies, and repair messages."""

from __future__ import annotations


from shared_data import shared

from boxloop.data import make_task
from boxloop.lang import check, parse
from boxloop.lang.canonical import blocks
from boxloop.propose.prompt import EXAMPLES, build_prompt, extract_program, repair_message, splice

PROGRAM = """data {
  int<lower=0> N;
  vector[N] y;
}
parameters {
  real mu;
  real<lower=0> sigma;
}
model {
  mu ~ normal(0, 10);
  sigma ~ exponential(1);
  y ~ normal(mu, sigma);
}
"""
DATA = shared("benchmarks", "posteriordb", "data")


def test_fenced_reply_with_chatter():
    reply = f"Sure! Here is a model.\n\n```stan\n{PROGRAM}```\n\nThe prior on sigma is weakly informative."
    assert extract_program(reply) == PROGRAM


def test_fence_without_language_and_longest_block_wins():
    reply = f"First a snippet:\n```\ny ~ normal(mu, sigma);\n```\nThe program:\n```\n{PROGRAM}```\n"
    assert extract_program(reply) == PROGRAM


def test_unfenced_reply_is_cut_at_the_last_closing_brace():
    reply = f"Here is the program:\n{PROGRAM}\nHope this helps {{ with braces }} in prose."
    assert extract_program(reply) == PROGRAM


def test_reasoning_is_skipped_and_truncated_fence_is_read():
    reply = f"<think>maybe data {{ int N; }} is enough?</think>\n```stan\n{PROGRAM}"
    assert extract_program(reply) == PROGRAM


def test_no_program():
    assert extract_program("I cannot help with that.") is None
    assert extract_program("") is None


def test_repair_message_carries_the_checker_findings():
    broken = PROGRAM.replace("normal(0, 10)", "normal(0, sd=10)")
    result = check(broken)
    message = repair_message(result.diagnostics)
    assert "sd=" in message and "sigma" in message and "line 10" in message
    assert "```stan" in message
    many = [{"code": "x", "message": f"problem {i}", "line": i, "severity": "error"} for i in range(20)]
    short = repair_message(many, limit=3)
    assert "problem 2" in short and "problem 3" not in short and "17 more" in short
    assert "warning" not in repair_message([{"code": "w", "message": "warning", "severity": "warning"}])


def test_our_examples_are_valid_programs():
    for _, program in EXAMPLES:
        assert check(program).valid, program


def test_prompt_holds_the_task():
    task = make_task(DATA / "surgical_data.json", description="Deaths after heart surgery in 12 hospitals.")
    prompt = build_prompt(task)
    text = prompt.user
    assert task.data_block() in text and "`r` (the target)" in text and "heart surgery" in text
    assert "array[N] int y;" in text and "binomial_logit" in text and "```stan" in text
    assert [m["role"] for m in prompt.messages()] == ["system", "user"]
    assert prompt.text().endswith("```stan\n")
    bare = build_prompt(task, fenced=False).user
    assert bare.endswith("Answer with the whole program and nothing else.")
    rewrite = build_prompt(task, context=PROGRAM, block="likelihood").user
    assert PROGRAM.strip() in rewrite and "Rewrite only the likelihood" in rewrite


def test_splice_keeps_the_context_outside_the_block():
    reply = PROGRAM.replace("normal(0, 10)", "normal(5, 1)").replace("y ~ normal(mu, sigma)",
                                                                     "y ~ student_t(4, mu, sigma)")
    likelihood = blocks(parse(splice(PROGRAM, "likelihood", reply)))
    assert "student_t" in likelihood.likelihood and "normal(0, 10)" in likelihood.prior
    prior = blocks(parse(splice(PROGRAM, "prior", reply)))
    assert "normal(5, 1)" in prior.prior and "y ~ normal(mu, sigma)" in prior.likelihood
    assert splice(PROGRAM, "prior", "not a program") == "not a program"
    assert splice(None, "program", reply) == reply
