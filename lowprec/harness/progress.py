"""Progress of one run on the terminal: steps, model time, speed and ETA, on stderr.

On a terminal the line is redrawn in place (at most twice a second); when stderr is a file or a
pipe, one line is printed every 10 % of the run (or every minute) so logs stay readable. A
callable given as ``progress=`` to :func:`lowprec.run` receives a :class:`ProgressInfo` instead.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Any, Callable, TextIO


@dataclass(frozen=True)
class ProgressInfo:
    """A snapshot of a run's progress (model time in the run's time-axis units)."""

    label: str
    step: int               # steps done in this run (spin-up included)
    total: int              # steps this run will take
    model_time: float       # days (physical models) or model time units (dimensionless)
    time_unit: str          # "days" or "time units"
    elapsed: float          # wall seconds since this run started
    done: bool = False

    @property
    def steps_per_second(self) -> float:
        return self.step / self.elapsed if self.elapsed > 0 else float("nan")

    @property
    def eta(self) -> float:
        """Wall seconds left, extrapolated from the speed so far."""
        rate = self.steps_per_second
        return (self.total - self.step) / rate if rate and rate == rate and rate > 0 else float("nan")


def _hms(seconds: float) -> str:
    if seconds != seconds:          # NaN
        return "?"
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def format_line(info: ProgressInfo, step_time: float) -> str:
    """One human line: 'label: 1200/4800 steps (25%) | t = 25 days | 900 steps/s, ... | ETA'."""
    pct = 100.0 * info.step / info.total if info.total else 100.0
    rate = info.steps_per_second
    speed = f"{rate:,.0f} steps/s" if rate == rate else "? steps/s"
    if info.time_unit == "days" and rate == rate:
        speed += f", {rate * step_time * 3600 / 365:,.3g} model years/hour"
    elif rate == rate:
        speed += f", {rate * step_time:,.3g} {info.time_unit}/s"
    tail = f"done in {_hms(info.elapsed)}" if info.done else f"ETA {_hms(info.eta)}"
    return (f"{info.label}: {info.step}/{info.total} steps ({pct:.0f}%) | "
            f"t = {info.model_time:.6g} {info.time_unit} | {speed} | {tail}")


class Progress:
    """Report progress of a run of ``total`` steps (``start_time`` = model time at its start)."""

    def __init__(self, label: str, total: int, *, step_time: float, start_time: float,
                 time_unit: str, enabled: bool | Callable[[ProgressInfo], Any] = True,
                 stream: TextIO | None = None, min_interval: float = 0.5) -> None:
        self.label, self.total = label, total
        self.step_time, self.start_time, self.time_unit = step_time, start_time, time_unit
        self.callback = enabled if callable(enabled) else None
        self.enabled = bool(enabled)
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.min_interval = min_interval if self.tty else 60.0
        self.start = time.monotonic()
        self.last_print = -float("inf")
        self.last_fraction = 0.0
        self.width = 0

    def info(self, step: int, done: bool = False) -> ProgressInfo:
        return ProgressInfo(self.label, step, self.total, self.start_time + step * self.step_time,
                            self.time_unit, time.monotonic() - self.start, done)

    def update(self, step: int) -> None:
        """``step`` steps of this run are done (call as often as convenient; output is throttled)."""
        if not self.enabled:
            return
        info = self.info(step)
        if self.callback is not None:
            self.callback(info)
            return
        now = time.monotonic()
        fraction = step / self.total if self.total else 1.0
        if self.tty and now - self.last_print >= self.min_interval:
            self._draw(format_line(info, self.step_time))
        elif not self.tty and (fraction - self.last_fraction >= 0.1
                               or now - self.last_print >= self.min_interval):
            print(format_line(info, self.step_time), file=self.stream, flush=True)
            self.last_fraction = fraction
        else:
            return
        self.last_print = now

    def _draw(self, line: str) -> None:
        pad = max(0, self.width - len(line))
        self.stream.write("\r" + line + " " * pad)
        self.stream.flush()
        self.width = len(line)

    def close(self, step: int, status: str = "complete") -> None:
        """Final line (with the run's status), ending the redrawn line on a terminal."""
        if not self.enabled:
            return
        info = self.info(step, done=True)
        if self.callback is not None:
            self.callback(info)
            return
        line = format_line(info, self.step_time) + ("" if status == "complete" else f" [{status}]")
        if self.tty:
            self._draw(line)
            self.stream.write("\n")
            self.stream.flush()
        else:
            print(line, file=self.stream, flush=True)
