"""Progress of a sweep on stderr: runs done, how far each running run is, speed and ETA.

Runs report their steps while they run (a callback in this process, or dask events from the
workers: :func:`reporter`), at most every :data:`REPORT_EVERY` seconds each. The sweep prints

- a line when a run finishes (done/total, failures, blow-ups, elapsed, ETA, speed), and
- at most every ``every`` seconds while runs are in progress, a line with each running run's
  fraction done,

with the speed and the ETA measured, never guessed: the speed is the steps this session's runs
have computed divided by the wall time since the first of them started (from their own reports,
so a cluster's start-up does not count), in simulated years per wall-clock day (model time
units per second for a dimensionless model); the ETA is the steps left (every unfinished run's
remaining steps) at that speed, "?" until a step has been measured. Runs of different
precisions differ in cost, so the ETA is an average-rate estimate that firms up as runs finish.
The clock is injectable (tests use a fake one).
"""
from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from lowprec.harness.config import DAY, YEAR

TOPIC = "lowprec-run-progress"      # dask event topic of the workers' reports
REPORT_EVERY = 2.0                  # s: a run reports its steps at most this often
LINE_EVERY = 10.0                   # s: an in-progress line at most this often


@dataclass
class _RunSteps:
    """What one run has reported: steps done of its total (``earlier``: by earlier sessions)."""

    step: int
    total: int
    earlier: int
    started: float                  # sweep clock when this session of the run started
    done: bool = False


def _number(x: float) -> str:
    """A speed to read at a glance: whole from 100 on (1,580), else 3 significant digits."""
    return f"{x:,.0f}" if x >= 100 else f"{x:.3g}"


def hms(seconds: float | None) -> str:
    if seconds is None or seconds != seconds:
        return "?"
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


class SweepProgress:
    """The sweep's progress lines (module doc).

    total: runs in the sweep; skipped: finished before; steps: each run to do -> its total steps
    (known before it starts); step_seconds: model seconds per step (None: dimensionless, with
    ``step_time`` model time units per step).
    """

    def __init__(self, label: str, total: int, skipped: int, steps: dict[str, int], *,
                 step_seconds: float | None, step_time: float = 1.0, quiet: bool = False,
                 stream: Any = None, clock: Callable[[], float] = time.monotonic,
                 every: float | None = None) -> None:
        self.label, self.total, self.skipped, self.quiet = label, total, skipped, quiet
        self.stream = stream or sys.stderr
        self.clock, self.every = clock, LINE_EVERY if every is None else every
        self.step_seconds, self.step_time = step_seconds, step_time
        self.steps = dict(steps)
        self.runs: dict[str, _RunSteps] = {}
        self.start = clock()
        self.last_line = self.start
        self.computed = self.failed = self.blown = 0
        self.lock = threading.Lock()

    # -- what the runs report ------------------------------------------------------------------
    def report(self, name: str, step: int, total: int, elapsed: float, earlier: int = 0,
               done: bool = False) -> None:
        """Run ``name`` has done ``step`` of ``total`` steps, ``elapsed`` wall seconds into this
        session (``earlier`` steps before it). Prints the in-progress line when one is due."""
        with self.lock:
            now = self.clock()
            run = self.runs.get(name)
            started = now - elapsed if run is None else run.started
            self.runs[name] = _RunSteps(step, total, earlier, started, done or (
                run is not None and run.done))
            self.steps[name] = total
            if not self.quiet and not done and now - self.last_line >= self.every:
                self._print(self._running_line(now))

    def receive(self, msg: dict) -> None:
        """A report as :class:`Reporter` sends it (dask adds keys of its own: ignored)."""
        self.report(msg["name"], msg["step"], msg["total"], msg["elapsed"],
                    msg.get("earlier", 0), msg.get("done", False))

    def finished(self, name: str, status: str) -> None:
        """Run ``name`` ended with ``status``: its line (done/total, ETA, speed)."""
        with self.lock:
            self.computed += 1
            self.failed += status == "failed"
            self.blown += status == "blown_up"
            run = self.runs.get(name)
            if run is not None:
                run.done = True
            else:                       # no report (failed at once): no steps left, none done
                self.runs[name] = _RunSteps(0, 0, 0, self.clock(), done=True)
            if self.quiet:
                return
            now = self.clock()
            done = self.skipped + self.computed
            self._print(f"sweep {self.label}: {done}/{self.total} runs done ({self.skipped} "
                        f"already), {self.failed} failed, {self.blown} blown up | elapsed "
                        f"{hms(now - self.start)}, ETA {hms(self.eta(now))} | "
                        f"{self.speed_text(now)} | {name}: {status}")

    def note(self, text: str) -> None:
        """A line of its own (the dashboard address ...), unless quiet."""
        if not self.quiet:
            with self.lock:
                self._print(f"sweep {self.label}: {text}")

    # -- measured speed and ETA ----------------------------------------------------------------
    def rate(self, now: float) -> float | None:
        """Steps per wall second of this session's runs together, None before any step."""
        computed = sum(r.step - r.earlier for r in self.runs.values())
        if computed <= 0:
            return None
        first = min(r.started for r in self.runs.values() if r.step > r.earlier)
        return computed / (now - first) if now > first else None

    def remaining(self) -> int:
        """Steps left: unfinished runs' remaining steps (a finished run leaves none)."""
        left = 0
        for name, total in self.steps.items():
            run = self.runs.get(name)
            if run is None:
                left += total
            elif not run.done:
                left += max(0, run.total - run.step)
        return left

    def eta(self, now: float) -> float | None:
        """Wall seconds left at the measured rate (0 when nothing is left; None: unknown)."""
        left = self.remaining()
        if left == 0:
            return 0.0
        rate = self.rate(now)
        return left / rate if rate else None

    def speed_text(self, now: float) -> str:
        rate = self.rate(now)
        if rate is None:
            return "speed ?"
        if self.step_seconds is None:
            return f"{_number(rate * self.step_time)} time units/s"
        return f"{_number(rate * self.step_seconds / YEAR * DAY)} simulated years/day"

    # -- lines ---------------------------------------------------------------------------------
    def _running_line(self, now: float) -> str:
        running = [(n, r) for n, r in self.runs.items() if not r.done]
        parts = [f"{n} {100 * r.step / r.total:.0f}%" for n, r in running if r.total]
        done = self.skipped + self.computed
        return (f"sweep {self.label}: {done}/{self.total} finished, {len(running)} in progress"
                f" ({', '.join(parts)}) | elapsed {hms(now - self.start)}, ETA "
                f"{hms(self.eta(now))} | {self.speed_text(now)}")

    def _print(self, line: str) -> None:
        print(line, file=self.stream, flush=True)
        self.last_line = self.clock()


class Reporter:
    """A run's ``progress=`` callback: its ProgressInfo, at most every REPORT_EVERY s, sent on.

    send: called with a dict (name, step, total, elapsed, earlier, done): the sweep's
    :meth:`SweepProgress.report` in this process, or a dask event on a worker (:func:`reporter`).
    """

    def __init__(self, name: str, send: Callable[[dict], Any], every: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.name, self.send, self.clock = name, send, clock
        self.every = REPORT_EVERY if every is None else every
        self.last = -float("inf")

    def __call__(self, info: Any) -> None:
        now = self.clock()
        if not info.done and now - self.last < self.every:
            return
        self.last = now
        self.send({"name": self.name, "step": int(info.step), "total": int(info.total),
                   "elapsed": float(info.elapsed), "earlier": int(getattr(info, "earlier", 0)),
                   "done": bool(info.done)})


def reporter(name: str, target: Callable[[dict], Any] | str | None) -> Reporter | None:
    """The progress callback of run ``name``: reports to ``target`` (a callable), or as dask
    events of topic ``target`` from the worker running it; None: no reports."""
    if target is None:
        return None
    if callable(target):
        return Reporter(name, target)
    try:
        from distributed import get_worker
        worker = get_worker()
    except (ImportError, ValueError):       # not on a dask worker: nobody to tell
        return None
    return Reporter(name, lambda msg: worker.log_event(target, msg))
