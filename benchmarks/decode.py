"""Constrained decoding cost: tokens/s and per-token overhead of masking + checking.

The same randomly initialised tiny GPT-2 (2 layers, width 64; BPE vocabulary of 512 trained on
tests/programs/valid) writes programs for the five RefineStat datasets three ways: unconstrained,
grammar only (syntax), grammar + semantic checker (full). Prints a markdown table.

    python benchmarks/decode.py [--n 10] [--threads 1]

Needs the hf extra (torch, transformers) and tokenizers. A know-nothing model is the worst case for
rollback (most statements fail), so the discarded share here is an upper bound, not a forecast.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROGRAMS = sorted((ROOT / "tests" / "programs" / "valid").glob("*.stan"))
DATA = ROOT / "tests" / "propose" / "data"
DATASETS = ("eight_schools", "dugongs_data", "surgical_data", "GLM_Binomial_data", "gp_pois_regr")
EOS = "<|endoftext|>"


def tokenizer():
    import tokenizers as tk

    tok = tk.Tokenizer(tk.models.BPE())
    tok.pre_tokenizer = tk.pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = tk.decoders.ByteLevel()
    tok.train([str(p) for p in PROGRAMS], tk.trainers.BpeTrainer(
        vocab_size=512, special_tokens=[EOS], initial_alphabet=tk.pre_tokenizers.ByteLevel.alphabet()))
    return tok


def tiny_model_dir(path: Path) -> Path:
    import torch
    import transformers

    bpe = tokenizer()
    torch.manual_seed(0)
    config = transformers.GPT2Config(vocab_size=bpe.get_vocab_size(), n_positions=1024, n_embd=64,
                                     n_layer=2, n_head=2, bos_token_id=0, eos_token_id=0)
    transformers.GPT2LMHeadModel(config).save_pretrained(path)
    transformers.PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token=EOS).save_pretrained(path)
    return path


def measure(proposer, tasks, n: int, mode: str) -> dict:
    import numpy as np

    from boxloop.lang import check
    from boxloop.propose.prompt import completion_prompt
    from boxloop.propose.decode import decode, decode_free
    from boxloop.propose.target import make_target

    run = decode_free if mode == "unconstrained" else decode
    rows = []
    started = time.perf_counter()
    for name, task in tasks.items():
        target = make_target(task.data_block())
        prompt = proposer.tokenizer.prompt_ids(completion_prompt(task))
        for i in range(n):
            rows.append(run(proposer.lm, proposer.tokenizer, target, data=task.stan_json(), prompt_ids=prompt,
                            config=proposer.config, rng=np.random.default_rng([0, i])))
    wall = time.perf_counter() - started
    generated = sum(r.stats.generated for r in rows)
    return {
        "mode": mode, "programs": len(rows), "valid": sum(check(r.text).valid for r in rows) / len(rows),
        "generated": generated, "discarded": sum(r.stats.discarded for r in rows),
        "kept": sum(r.stats.kept for r in rows), "rejected": sum(r.stats.rejected for r in rows),
        "tok_s": generated / wall, "ms_tok": 1e3 * wall / generated,
        "lm_ms_tok": 1e3 * sum(r.stats.lm_seconds for r in rows) / generated,
        "mask_us_tok": 1e6 * sum(r.stats.mask_seconds for r in rows) / generated,
        "check_us_tok": 1e6 * sum(r.stats.check_seconds for r in rows) / generated,
    }


def table(results: list[dict]) -> str:
    free = results[0]["ms_tok"]
    head = ("| mode | programs | valid | tokens generated | discarded | kept | tokens/s | ms/token "
            "| overhead ms/token vs unconstrained | LM ms/token | mask µs/token | scan+check µs/token |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in results:
        cells = (r["mode"], r["programs"], f"{r['valid']:.0%}", r["generated"], r["discarded"], r["kept"],
                 f"{r['tok_s']:.0f}", f"{r['ms_tok']:.2f}", f"{r['ms_tok'] - free:+.2f}",
                 f"{r['lm_ms_tok']:.2f}", f"{r['mask_us_tok']:.0f}", f"{r['check_us_tok']:.0f}")
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10, help="programs per dataset and mode")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (1 is fastest for a tiny model)")
    args = parser.parse_args()

    import torch

    from boxloop.data import make_task
    from boxloop.propose.decode import DecodeConfig
    from boxloop.propose.hf import HFProposer

    torch.set_num_threads(args.threads)
    tasks = {name: make_task(DATA / f"{name}.json") for name in DATASETS}
    config = DecodeConfig(temperature=1.0, top_p=1.0, max_statement_tokens=24, max_tries=4,
                          max_tokens=160, max_total_tokens=500)
    with tempfile.TemporaryDirectory() as tmp:
        path = tiny_model_dir(Path(tmp))
        results = []
        modes = (("unconstrained", config), ("syntax only", replace(config, semantic=False)),
                 ("syntax + semantic", config))
        for mode, cfg in modes:
            results.append(measure(HFProposer(f"hf:{path}", cfg), tasks, args.n, mode))
    print(f"Tiny GPT-2 (random init, 2x64, vocab 512), {args.n} programs per dataset x 5 datasets, "
          f"torch threads = {args.threads}\n")
    print(table(results))


if __name__ == "__main__":
    main()
