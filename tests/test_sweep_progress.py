"""A sweep's progress: in-run fractions, measured speed and ETA (a fake clock: no wall time)."""
from __future__ import annotations

import io
import re
from types import SimpleNamespace

import pytest

import lowprec.harness.sweep_progress as sp
from lowprec.harness.config import DAY, YEAR
from lowprec.harness.sweep import sweep
from lowprec.harness.sweep_progress import Reporter, SweepProgress
from test_sweep_run import tiny_lorenz


class Clock:
    def __init__(self, t: float = 100.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def progress(clock: Clock, steps: dict[str, int], **kw) -> tuple[SweepProgress, io.StringIO]:
    out = io.StringIO()
    kw.setdefault("step_seconds", 3600.0)
    return SweepProgress("m (d)", len(steps) + 1, 1, steps, stream=out, clock=clock, **kw), out


def test_no_eta_and_no_speed_before_a_step_is_measured():
    clock = Clock()
    p, _ = progress(clock, {"a": 1000, "b": 1000})
    clock.t += 600                              # a cluster starting: nothing measured
    assert p.eta(clock()) is None and p.rate(clock()) is None
    assert p.speed_text(clock()) == "speed ?"
    p.report("a", 0, 1000, elapsed=5.0)         # started, no step yet
    assert p.eta(clock()) is None


def test_eta_is_the_steps_left_at_the_measured_rate():
    clock = Clock()
    p, _ = progress(clock, {"a": 1000, "b": 1000, "c": 500})
    clock.t += 300                              # start-up time before the runs: not counted
    p.report("a", 100, 1000, elapsed=10.0)      # a started 10 s ago: 100 steps
    p.report("b", 60, 1000, elapsed=6.0)        # b started 6 s ago (in parallel): 60 steps
    # 160 steps in the 10 s since the first run started; left: 900 + 940 + 500
    assert p.rate(clock()) == pytest.approx(16.0)
    assert p.eta(clock()) == pytest.approx((900 + 940 + 500) / 16.0)
    clock.t += 10
    p.report("a", 1000, 1000, elapsed=20.0, done=True)
    p.finished("a", "complete")
    p.report("b", 160, 1000, elapsed=16.0)
    assert p.rate(clock()) == pytest.approx((1000 + 160) / 20.0)
    assert p.remaining() == 840 + 500


def test_a_blown_up_run_leaves_no_steps_and_a_resumed_one_counts_only_this_sessions():
    clock = Clock()
    p, _ = progress(clock, {"a": 1000, "b": 1000})
    p.report("a", 300, 1000, elapsed=10.0)
    p.finished("a", "blown_up")                 # stopped at step 300: its 700 steps vanish
    p.report("b", 600, 1000, elapsed=10.0, earlier=500)   # resumed at 500: 100 steps now
    assert p.remaining() == 400
    assert p.rate(clock()) == pytest.approx((300 + 100) / 10.0)
    assert p.blown == 1


def test_nothing_left_is_an_eta_of_zero_and_a_failure_without_reports_counts():
    clock = Clock()
    p, out = progress(clock, {"a": 10})
    p.finished("a", "failed")                   # failed before any report
    assert p.eta(clock()) == 0.0 and p.failed == 1
    assert "2/2 runs done (1 already), 1 failed" in out.getvalue()
    assert "ETA 0:00:00" in out.getvalue() and "speed ?" in out.getvalue()


def test_speed_is_in_simulated_years_per_day_or_model_time_units_per_second():
    clock = Clock()
    p, _ = progress(clock, {"a": 10**6}, step_seconds=3600.0)
    p.report("a", 100, 10**6, elapsed=10.0)     # 10 steps/s of an hour each
    years_per_day = 10 * 3600.0 / YEAR * DAY   # 98.6...
    assert p.speed_text(clock()) == f"{years_per_day:.3g} simulated years/day"
    q, _ = progress(clock, {"a": 10**6}, step_seconds=None, step_time=0.01)
    q.report("a", 3000, 10**6, elapsed=10.0)    # 300 steps/s of 0.01 time units
    assert q.speed_text(clock()) == "3 time units/s"


def test_in_progress_lines_come_at_most_every_few_seconds_with_each_runs_fraction():
    clock = Clock()
    p, out = progress(clock, {"a": 200, "b": 400}, every=5.0)
    for k in range(1, 41):                      # a report every 0.5 s for 20 s
        clock.t += 0.5
        p.report("a", 5 * k, 200, elapsed=0.5 * k)
        p.report("b", 5 * k, 400, elapsed=0.5 * k)
    lines = out.getvalue().splitlines()
    assert 3 <= len(lines) <= 4                 # 20 s at most every 5 s
    last = lines[-1]
    assert re.search(r"a (9\d|100)%", last) and re.search(r"b (4\d|50)%", last), last
    assert "1/3 finished, 2 in progress" in last and "ETA" in last


def test_quiet_prints_nothing():
    clock = Clock()
    p, out = progress(clock, {"a": 10}, quiet=True, every=0.0)
    p.report("a", 5, 10, elapsed=1.0)
    p.finished("a", "complete")
    p.note("dashboard")
    assert out.getvalue() == ""


def test_a_run_reports_at_most_every_few_seconds_and_always_its_end():
    clock, sent = Clock(), []
    r = Reporter("a", sent.append, every=2.0, clock=clock)
    for k in range(10):                         # ProgressInfo-like updates every 0.5 s
        r(SimpleNamespace(step=k, total=10, elapsed=0.5 * k, done=False))
        clock.t += 0.5
    r(SimpleNamespace(step=10, total=10, elapsed=5.0, done=True))
    assert [m["step"] for m in sent] == [0, 4, 8, 10] and sent[-1]["done"]
    assert set(sent[0]) == {"name", "step", "total", "elapsed", "earlier", "done"}


def test_a_serial_sweep_shows_progress_inside_its_runs(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sp, "REPORT_EVERY", 0.0)
    monkeypatch.setattr(sp, "LINE_EVERY", 0.0)
    sweep(tiny_lorenz(sbits=[8], modes=["nearest"]), tmp_path / "p", scheduler="serial")
    err = capsys.readouterr().err.splitlines()
    running = [line for line in err if "in progress (" in line]
    assert running, err
    # a run's fraction, while it runs (before its own 'runs done' line)
    first_done = next(i for i, line in enumerate(err) if "runs done" in line)
    assert any(re.search(r"_m000 \d+%", line) for line in err[:first_done])
    assert "time units/s" in err[first_done] and "ETA" in err[first_done]


def test_a_cluster_sweep_prints_its_dashboard_and_hears_from_its_workers(tmp_path, capsys):
    sweep(tiny_lorenz(sbits=[8], modes=["nearest"]), tmp_path / "c", workers=1)
    err = capsys.readouterr().err
    assert re.search(r"dask dashboard at http://\S+", err), err
    done = [line for line in err.splitlines() if "runs done" in line]
    # the speed is measured from the workers' reports (dask events), so it is known
    assert done and "speed ?" not in done[-1] and "time units/s" in done[-1], done
