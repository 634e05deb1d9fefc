"""Progress of a fit: real (NUTS runs its iterations in chunks when someone listens), harmless
(the draws are the same), and visible across the worker boundary and on the command line."""

import io

import numpy as np

from boxloop.infer import progress
from boxloop.infer.nuts import NutsSettings, run_nuts
from boxloop.infer.worker import WorkerLimits, run_in_worker

SETTINGS = NutsSettings(chains=2, warmup=150, draws=100)


def standard_normal(u):
    return 0.5 * u @ u


def test_listening_splits_the_run_without_changing_a_single_draw():
    quiet = run_nuts(standard_normal, 3, SETTINGS, seed=4)
    events = []
    with progress.listening(events.append):
        heard = run_nuts(standard_normal, 3, SETTINGS, seed=4)
    np.testing.assert_array_equal(heard.draws, quiet.draws)
    assert heard.timing.compile_s < quiet.timing.compile_s  # the chunked loop is the same program
    done = [e.done for e in events]
    assert done == sorted(done) and done[-1] == 250 and len(events) >= progress.CHUNKS
    # the warmup/draws boundary is reported, and each event names the phase that just ran
    assert {(e.stage, e.done) for e in events} >= {("warmup", 150), ("sampling", 250)}
    assert all((e.stage == "warmup") == (e.done <= 150) for e in events)


def test_nobody_listening_means_no_events_and_nested_handlers_all_hear():
    outer, inner = [], []
    progress.report("compile")  # no handler: nothing happens, nothing breaks
    with progress.listening(outer.append), progress.listening(inner.append):
        progress.report("diagnose")
    assert outer == inner == [progress.FitProgress("diagnose")]
    assert not progress.is_listening()


def test_bar_in_a_log_writes_one_line_per_stage_and_quarter():
    log = io.StringIO()
    bar = progress.ProgressBar(log, label="m.stan")
    for done in range(10, 201, 10):
        bar(progress.FitProgress("warmup" if done <= 100 else "sampling", done, 200))
    lines = log.getvalue().splitlines()
    assert len(lines) == 6  # warmup: quarters 0, 1, 2 (done=100 is quarter 2); sampling: 2, 3, 4
    assert lines[-1].startswith("m.stan: sampling [" + "#" * progress.ProgressBar.WIDTH + "] 200/200")


def _report_then_return(n):
    from boxloop.infer import progress as p

    for i in range(n):
        p.report("sampling", i + 1, n)
    return "done"


def test_a_worker_forwards_its_progress_to_the_parent():
    events = []
    out = run_in_worker(_report_then_return, (5,), limits=WorkerLimits(timeout_s=60.0, memory_bytes=None),
                        on_progress=events.append)
    assert out == "done"
    assert [(e.stage, e.done, e.total) for e in events] == [("sampling", i, 5) for i in range(1, 6)]
