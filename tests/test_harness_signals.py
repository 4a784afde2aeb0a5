"""Ctrl-C, SIGTERM and SIGKILL at random moments (issue 9, third part).

A run stops promptly whatever it is doing, never waiting on a lock it holds itself (the hang:
KeyboardInterrupt inside a netCDF write left xarray's lock held and the checkpoint on the way out
waited for it); it records lowprec_status = "interrupted" and says what was saved; stopped before
its first output it saves nothing and says so. After every stop the output is whole or absent,
and resuming gives the uninterrupted run bit for bit.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import tomli_w
import xarray as xr

from lowprec.harness.run import run
from lowprec.harness.store import open_run, read_restart

ROOT = Path(__file__).resolve().parents[1]
STOPPED = (KeyboardInterrupt, SystemExit)       # Interrupted and Terminated are these


@pytest.fixture(autouse=True)
def interactive_ctrl_c():
    """Ctrl-C as at a terminal. A shell starts background jobs (`make test &`, nohup) with SIGINT
    ignored, and a run rightly leaves an ignored signal ignored; these tests are about the
    interactive case, so they give this process Python's own SIGINT handler (a handled signal
    is reset to the default in a child at exec, so the CLI children get Ctrl-C's default too)."""
    before = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)


def heat(length: str, checkpoint: str | None = "1 day", spinup: str = "0 days") -> dict:
    cfg = {"model": "heat", "precision": {"sbits": 10, "mode": "stochastic", "seed": 7},
           "run": {"length": length, "output_interval": "1 day", "spinup": spinup}}
    if checkpoint:
        cfg["run"]["checkpoint_interval"] = checkpoint
    return cfg


def bits(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    return a.view(np.uint64 if a.dtype == np.float64 else np.uint32)


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()
                  if p.name.endswith((".partial", ".previous", ".lock")))


def check_after_stop(out: Path, saved: str) -> int:
    """The output is absent or whole (plain xarray opens it), and matches what the run said."""
    if not out.exists():
        assert "nothing was saved" in saved or "nothing was written" in saved, saved
        return 0
    with xr.open_dataset(out) as f:                     # no cftime flag: plain xarray
        status, n = f.attrs["lowprec_status"], f.sizes.get("time", 0)
    assert status in ("interrupted", "complete", "running"), status
    if status == "interrupted" and "before the run started" not in saved:
        said = re.search(r"holds (\d+) outputs", saved)
        assert said and int(said.group(1)) == n, (saved, n)
        assert read_restart(out.with_name("a.restart.nc")).outputs == n
    return n


# --------------------------------------------------------------------------------------------
# In process: many signals at random moments

@pytest.mark.slow
@pytest.mark.timeout(600)
def test_many_interrupts_at_random_moments_stop_promptly_and_resume_bit_identically(tmp_path):
    cfg = heat("40 days")                               # a checkpoint every day: many writes
    whole = run(cfg)
    out = tmp_path / "a.nc"
    start = time.monotonic()
    run(cfg, tmp_path / "timing.nc").close()
    duration = time.monotonic() - start
    rng = np.random.default_rng(2026)
    late: list[int] = []
    previous = {s: signal.signal(s, lambda signum, frame: late.append(signum))
                for s in (signal.SIGINT, signal.SIGTERM)}
    sent: dict[str, float] = {}

    def send(signum: int) -> None:
        sent["at"] = time.monotonic()
        os.kill(os.getpid(), signum)

    outcomes = {"stopped": 0, "finished": 0}
    try:
        for trial in range(30):
            signum = signal.SIGINT if trial % 2 else signal.SIGTERM
            sent.clear()
            timer = threading.Timer(rng.uniform(0, 0.8 * duration), send, (signum,))
            resume = out.exists() and open_run(out).attrs["lowprec_status"] != "complete"
            timer.start()
            try:
                with run(cfg, out, resume=resume, overwrite=not resume) as ds:
                    assert ds.attrs["lowprec_status"] == "complete"
                    assert np.array_equal(bits(ds["T"].values), bits(whole["T"].values))
                outcomes["finished"] += 1
                saved = ""
            except STOPPED as e:
                latency = time.monotonic() - sent["at"]
                assert latency < 30, latency            # a hang detector, not a speed test
                assert isinstance(e, KeyboardInterrupt) == (signum == signal.SIGINT)
                outcomes["stopped"] += 1
                saved = e.saved
            finally:
                timer.cancel()
                timer.join()
            check_after_stop(out, saved)
            assert leftovers(tmp_path) == []
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    assert outcomes["stopped"] >= 12 and outcomes["finished"] >= 1, outcomes
    if open_run(out).attrs["lowprec_status"] != "complete":
        run(cfg, out, resume=True).close()
    assert np.array_equal(bits(open_run(out)["T"].values), bits(whole["T"].values))


@pytest.mark.timeout(300)
def test_ctrl_c_inside_a_checkpoint_write_does_not_hang(tmp_path, monkeypatch):
    # The reported hang, made certain: SIGINT arrives while the output is being written (the
    # netCDF library open, its lock held). The run must finish that write, stop, save what is
    # complete and exit; resuming gives the uninterrupted run.
    from lowprec.harness.store import RunFile
    cfg = heat("12 days")
    whole = run(cfg)
    out = tmp_path / "a.nc"
    real_apply, calls = RunFile._apply, []

    def apply(self, target, block):
        calls.append(target)
        if len(calls) == 4:                             # the 3rd checkpoint's first write
            os.kill(os.getpid(), signal.SIGINT)         # delivered inside the write below
        real_apply(self, target, block)

    monkeypatch.setattr(RunFile, "_apply", apply)
    with pytest.raises(KeyboardInterrupt) as e:
        run(cfg, out)
    monkeypatch.undo()
    n = check_after_stop(out, e.value.saved)
    assert 2 <= n < 12 and open_run(out).attrs["lowprec_status"] == "interrupted"
    assert leftovers(tmp_path) == []
    run(cfg, out, resume=True).close()
    assert np.array_equal(bits(open_run(out)["T"].values), bits(whole["T"].values))


# --------------------------------------------------------------------------------------------
# The command line: exit status and message; SIGTERM before the first output; SIGKILL

MARKED_RUN = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from models.heat import HeatColumn
    marker, args = Path(sys.argv[1]), sys.argv[2:]
    original = HeatColumn.step

    def step(self, state):              # the same arithmetic; says when stepping has begun
        if not marker.exists():
            marker.write_text("stepping")
        time.sleep(0.0002)
        return original(self, state)

    HeatColumn.step = step
    from lowprec.harness.cli import main
    main(args, prog_name="lowprec")
""")


def start_cli(tmp_path: Path, cfg: dict, *extra: str) -> tuple[subprocess.Popen, Path]:
    exp = tmp_path / "exp.toml"
    exp.write_text(tomli_w.dumps(cfg))
    script = tmp_path / "marked.py"
    script.write_text(MARKED_RUN)
    marker = tmp_path / "marker"
    marker.unlink(missing_ok=True)
    proc = subprocess.Popen([sys.executable, str(script), str(marker), "run", str(exp), "-o",
                             str(tmp_path / "a.nc"), "-q", *extra], cwd=ROOT,
                            stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    while not marker.exists() and proc.poll() is None:
        time.sleep(0.005)
    return proc, marker


def finish(proc: subprocess.Popen) -> str:
    try:
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    return err


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_cli_stops_on_sigint_and_sigterm_with_status_130_and_143_and_says_what_was_saved(
        tmp_path):
    cfg = heat("30 days")
    rng = np.random.default_rng(9)
    out = tmp_path / "a.nc"
    for trial in range(4):
        signum = (signal.SIGINT, signal.SIGTERM)[trial % 2]
        resume = ("--resume",) if out.exists() else ()
        proc, _ = start_cli(tmp_path, cfg, *resume)
        time.sleep(rng.uniform(0, 0.3))
        proc.send_signal(signum)
        err = finish(proc)
        if proc.returncode == 0:                         # finished before the signal
            break
        if (proc.returncode == -signum and not (tmp_path / "a.nc.partial").exists()
                and open_run(out).attrs["lowprec_status"] == "complete"):
            break       # the run had ended; the signal landed in interpreter shutdown
        assert proc.returncode == (130 if signum == signal.SIGINT else 143), err
        by = "Ctrl-C" if signum == signal.SIGINT else "SIGTERM"
        assert f"stopped by {by}" in err and "Traceback" not in err, err
        check_after_stop(out, err)
        assert leftovers(tmp_path) == []
    run(cfg, out, resume=True).close()
    assert np.array_equal(bits(open_run(out)["T"].values), bits(run(cfg)["T"].values))


@pytest.mark.timeout(300)
def test_sigterm_before_the_first_output_saves_nothing_and_says_so(tmp_path):
    proc, _ = start_cli(tmp_path, heat("2 days", spinup="200 days"))    # in the spin-up
    proc.send_signal(signal.SIGTERM)
    err = finish(proc)
    assert proc.returncode == 143, err
    assert "nothing was saved" in err and "spin-up" in err and "saved:" not in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exp.toml", "marked.py", "marker"]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_sigkill_at_random_moments_leaves_a_whole_output_and_resume_is_bit_identical(tmp_path):
    # SIGKILL cannot be caught: whatever is at the output path must already be a whole file.
    cfg = heat("30 days")
    out = tmp_path / "a.nc"
    rng = np.random.default_rng(11)
    kills = 0
    for trial in range(6):
        resume = ("--resume",) if out.exists() else ()
        proc, _ = start_cli(tmp_path, cfg, *resume)
        time.sleep(rng.uniform(0, 0.3))
        proc.kill()
        finish(proc)
        kills += proc.returncode == -signal.SIGKILL
        if out.exists():
            with xr.open_dataset(out) as f:                 # whole, whatever the moment
                assert f.attrs["lowprec_status"] in ("running", "complete")
                rows = f.sizes["time"]
            restart = out.with_name("a.restart.nc")    # absent if killed between the two
            assert not restart.exists() or read_restart(restart).outputs <= rows
            if f.attrs["lowprec_status"] == "complete":
                break
    assert kills >= 3
    run(cfg, out, resume=True).close()
    assert leftovers(tmp_path) == []                        # a resumed session cleans up
    assert np.array_equal(bits(open_run(out)["T"].values), bits(run(cfg)["T"].values))


def test_ctrl_c_during_the_last_write_leaves_the_run_complete(tmp_path, monkeypatch):
    from lowprec.harness.store import RunFile
    cfg = heat("3 days", checkpoint=None)                 # one write: the last one
    out = tmp_path / "a.nc"
    real_apply = RunFile._apply

    def apply(self, target, block):
        os.kill(os.getpid(), signal.SIGINT)               # delivered inside the write below
        real_apply(self, target, block)

    monkeypatch.setattr(RunFile, "_apply", apply)
    with pytest.raises(KeyboardInterrupt) as e:
        run(cfg, out)
    monkeypatch.undo()
    assert "had just finished" in e.value.saved and "complete" in e.value.saved
    assert open_run(out).attrs["lowprec_status"] == "complete"
    assert np.array_equal(bits(open_run(out)["T"].values), bits(run(cfg)["T"].values))


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signals_wait_for_file_io_and_raise_at_once_elsewhere(signum):
    from lowprec.harness.interrupts import Interrupted, StopSignals, Terminated
    expected = Interrupted if signum == signal.SIGINT else Terminated
    before = signal.getsignal(signum)
    reached = []
    with StopSignals() as stops:
        with pytest.raises(expected):
            with stops.io():                            # a write: the signal waits for it
                os.kill(os.getpid(), signum)
                time.sleep(0.05)
                reached.append("the rest of the write")
        assert reached == ["the rest of the write"]
        with pytest.raises(expected):                   # anywhere else: at once
            os.kill(os.getpid(), signum)
            time.sleep(0.05)
            reached.append("not reached")
        assert reached == ["the rest of the write"]
    assert signal.getsignal(signum) is before


def test_a_signal_dropped_where_it_landed_is_raised_at_the_next_check():
    """A signal landing in a finaliser (numba disposing of LLVM objects in __del__ while it
    compiles) is printed and dropped by Python; the run's next check must raise it again, or
    the run goes on as if no SIGTERM had come (seen once from a fresh clone)."""
    from lowprec.harness.interrupts import StopSignals, Terminated

    class Finaliser:
        def __del__(self):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.05)                        # the handler raises here, inside __del__

    with StopSignals() as stops:
        Finaliser()                                 # collected at once: the stop is dropped
        with pytest.raises(Terminated):
            stops.raise_pending()
        stops.raise_pending()                       # raised once, not again
        with pytest.raises(Terminated):             # raised at once and caught by the run...
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.05)
        stops.discard_pending()                     # ...which discards it before saving
        stops.raise_pending()
