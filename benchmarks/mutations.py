"""Break the code on purpose and watch the tests that claim to guard it fail.

Each mutation below is one small, plausible bug (an exit code that ignores the diagnostics, a
dropped normalising constant, a flag that is read but not passed on). The script copies the
checkout into a scratch folder (with the shared folder beside it, as the tests expect), checks
that the named tests pass on the unbroken copy, then applies each mutation in turn and runs only
its tests: a mutation is *caught* when at least one of them fails.

    python benchmarks/mutations.py                 # all of them, a table on stdout
    python benchmarks/mutations.py --only exit     # those whose name contains "exit"

Run by hand (minutes: every mutation runs real fits), never in CI.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Mutation:
    name: str
    path: str  # relative to the repository root
    old: str  # must occur exactly once
    new: str
    tests: tuple[str, ...]
    what: str


def _m(name, path, old, new, tests, what):
    return Mutation(name, path, old, new, tuple(tests), what)


MUTATIONS = (
    _m("decoder-empty-model", "src/boxloop/propose/target.py",
       'if target.observed is None or target.operation == "prior":', "if True:",
       ["tests/propose/test_decode.py::test_a_guided_model_writes_programs_a_statistician_accepts",
        "tests/propose/test_decode.py::test_a_model_that_knows_nothing_never_gets_an_unacceptable_program_called_valid"],
       "the decoder may close `model {}` before the target has a likelihood"),
    _m("fit-exit-always-0", "src/boxloop/cli.py",
       "return EXIT_OK if result.diagnostics.reliable else EXIT_FAILED", "return EXIT_OK",
       ["tests/test_cli_fit.py::test_unreliable_fit_exits_one_and_still_prints_everything"],
       "`fit` exits 0 on an unreliable fit"),
    _m("max-tree-depth-ignored", "src/boxloop/cli.py",
       "target_accept=args.target_accept, max_tree_depth=args.max_tree_depth)",
       "target_accept=args.target_accept, max_tree_depth=10)",
       ["tests/test_cli_fit.py::test_unreliable_fit_exits_one_and_still_prints_everything"],
       "`fit --max-tree-depth` is parsed but not passed to NUTS"),
    _m("evidence-default-is", "src/boxloop/cli.py",
       'choices=("bridge", "is"), default="bridge"', 'choices=("bridge", "is"), default="is"',
       ["tests/test_cli_fit.py::test_evidence_by_default_is_bridge_sampling_and_matches_quadrature"],
       "`evidence` defaults to importance sampling, not the documented bridge sampling"),
    _m("truncation-normaliser-dropped", "src/boxloop/infer/statements.py",
       "    out = lp - norm\n", "    out = lp\n",
       ["tests/diagnose/test_evidence_programs.py::test_log_evidence_of_a_fitted_program_matches_the_closed_form"],
       "a truncated or bounded prior loses its normaliser (a half-normal without its log 2)"),
    _m("elpd-plus-p-loo", "src/boxloop/diagnose/psis.py",
       "    elpd = float(elpd_i.sum())\n", "    elpd = lppd\n",
       ["tests/infer/test_posteriordb.py::test_eight_schools_elpd_loo_small_fit",
        "tests/test_cli_fit.py::test_fit_in_a_worker_gives_the_in_process_answer"],
       "elpd_loo reported as the in-sample lppd (the effective-parameter penalty not subtracted)"),
    _m("huge-int-literal-unchecked", "src/boxloop/lang/checker.py",
       "if v > INT_MAX:", "if False:",
       ["tests/lang/test_robustness.py::test_integer_literal_beyond_stans_int_is_an_error_not_a_crash"],
       "an integer literal beyond Stan's 32-bit int passes the checker"),
    _m("log-mix-second-weight", "src/boxloop/lang/library.py",
       "m.log1p(-theta) + b)", "m.log(theta) + b)",
       ["tests/infer/test_posteriordb.py::test_small_fit_matches_posteriordb"],
       "`log_mix(theta, a, b)` weights the second component by theta instead of 1 - theta"),
    _m("resume-refits", "src/boxloop/search/store.py",
       '        row = self.db.execute("SELECT * FROM fits WHERE key = ?", (key,)).fetchone()\n',
       "        row = None\n",
       ["tests/search/test_resume_kill.py::test_killed_run_resumes_without_refitting"],
       "a resumed run does not find the fits it stored before it was killed"),
    _m("refine-never-rewrites", "src/boxloop/search/refine.py",
       "        if block is None:\n            return None\n        return Lineage(",
       "        if block is None or True:\n            return None\n        return Lineage(",
       ["tests/search/test_refine_end_to_end.py::test_a_misspecified_likelihood_is_rewritten_into_a_better_program"],
       "the refine strategy never rewrites a failing block"),
    _m("description-dropped", "src/boxloop/cli_data.py",
       'description=getattr(args, "describe", None)', "description=None",
       ["tests/test_cli_discover.py::test_csv_input_and_description_reach_the_proposer_and_progress_is_shown"],
       "`discover --describe` never reaches the proposer"),
    _m("ctrl-c-exit-1", "src/boxloop/cli_io.py",
       '"interrupted (Ctrl-C); what had finished is kept", EXIT_INTERRUPTED,',
       '"interrupted (Ctrl-C); what had finished is kept", EXIT_FAILED,',
       ["tests/test_cli_fit.py::test_ctrl_c_stops_a_fit_with_exit_130"],
       "Ctrl-C exits 1 instead of 130"),
)


@dataclass(frozen=True)
class Outcome:
    mutation: Mutation
    caught: bool
    failed: tuple[str, ...]
    seconds: float


def scratch_copy(root: Path) -> Path:
    """A copy of the checkout in `root/repo`, with `root/shared` pointing at the real shared folder."""
    repo = root / "repo"
    shutil.copytree(REPO, repo, ignore=shutil.ignore_patterns(".git", ".venv", "runs", "__pycache__",
                                                              "*.egg-info", ".pytest_cache"))
    shared = REPO.parent / "shared"
    if not shared.exists():
        sys.exit(f"{shared} does not exist: the tests need the shared folder next to the checkout")
    (root / "shared").symlink_to(shared)
    return repo


def run_tests(repo: Path, tests: tuple[str, ...]) -> tuple[int, tuple[str, ...], str]:
    env = {**os.environ, "PYTHONPATH": str(repo / "src")}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rf", *tests],
                          cwd=repo, env=env, capture_output=True, text=True)
    failed = tuple(line.split()[1] for line in proc.stdout.splitlines() if line.startswith(("FAILED ", "ERROR ")))
    return proc.returncode, failed, proc.stdout[-3000:]


def apply(repo: Path, m: Mutation) -> str:
    path = repo / m.path
    text = path.read_text()
    if text.count(m.old) != 1:
        sys.exit(f"mutation {m.name}: the text to replace occurs {text.count(m.old)} times in {m.path}; "
                 "update the mutation to match the code")
    path.write_text(text.replace(m.old, m.new))
    return text


def try_mutation(repo: Path, m: Mutation) -> Outcome:
    original = apply(repo, m)
    start = time.perf_counter()
    try:
        code, failed, _ = run_tests(repo, m.tests)
    finally:
        (repo / m.path).write_text(original)
    return Outcome(m, code != 0, failed, time.perf_counter() - start)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", help="run the mutations whose name contains this text")
    args = ap.parse_args(argv)
    chosen = [m for m in MUTATIONS if args.only is None or args.only in m.name]
    with tempfile.TemporaryDirectory(prefix="boxloop-mutations-") as tmp:
        repo = scratch_copy(Path(tmp))
        for m in chosen:  # every anchor must match before anything runs
            (repo / m.path).write_text(apply(repo, m))
        tests = tuple(dict.fromkeys(t for m in chosen for t in m.tests))
        code, failed, tail = run_tests(repo, tests)
        if code != 0:
            print(f"the unbroken code fails its own tests ({', '.join(failed)}):\n{tail}")
            return 1
        print(f"baseline: {len(tests)} tests pass on the unbroken code\n")
        print("| mutation | what breaks | caught | by | s |\n|---|---|---|---|---:|")
        outcomes = []
        for m in chosen:
            o = try_mutation(repo, m)
            outcomes.append(o)
            by = ", ".join(f.split("::")[-1] for f in o.failed) or "-"
            print(f"| `{o.mutation.name}` | {o.mutation.what} | {'yes' if o.caught else 'NO'} | {by} | {o.seconds:.0f} |",
                  flush=True)
    return 0 if all(o.caught for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
