"""One clear line for every I/O failure, and nothing left behind (issue 9, second part).

Unreadable netCDF given to --restart-from, --resume and report; a corrupt sweep.json; output
directories that are missing, read-only or files; a full disk (a small tmpfs when this process
may mount one, and ENOSPC injected at the write); an unreachable scheduler; sizes that cannot
fit; lowprec.round on a read-only array; failed checks leave no files; one writer per output.
"""
from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import tomli_w
import xarray as xr
from click.testing import CliRunner

import lowprec
from lowprec.errors import ConfigError, LowprecError
from lowprec.harness.cli import main
from lowprec.harness.run import run
from lowprec.harness.store import open_run, read_restart
from lowprec.harness.sweep import MANIFEST, sweep
from test_harness_run import bits, heat

ROOT = Path(__file__).resolve().parents[1]


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def one_line_error(result, *, alone: bool = True) -> str:
    """The CLI failed with exit status 1 and one 'Error: ...' line, no traceback (``alone``: and
    nothing else)."""
    assert result.exit_code == 1, (result.exit_code, result.output)
    lines = result.output.strip().splitlines()
    errors = [line for line in lines if line.startswith("Error: ")]
    assert len(errors) == 1 and "Traceback" not in result.output, result.output
    assert not alone or len(lines) == 1, result.output
    return errors[0]


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])


def experiment_file(tmp_path: Path, cfg: dict, name: str = "exp.toml") -> Path:
    path = tmp_path / name
    path.write_text(tomli_w.dumps(cfg))
    return path


# --------------------------------------------------------------------------------------------
# Unreadable files

def test_truncated_restart_given_to_restart_from_is_one_line(tmp_path):
    run(heat("2 days"), tmp_path / "a.nc")
    truncate(tmp_path / "a.restart.nc")
    exp = experiment_file(tmp_path, heat("2 days"))
    line = one_line_error(invoke("run", exp, "-o", tmp_path / "b.nc", "--restart-from",
                                 tmp_path / "a.restart.nc"))
    assert "a.restart.nc" in line and "cannot be read" in line
    assert not (tmp_path / "b.nc").exists() and not (tmp_path / "b.toml").exists()


def test_truncated_output_given_to_resume_is_one_line(tmp_path):
    cfg = heat("4 days")
    cfg["run"]["checkpoint_interval"] = "1 day"
    exp = experiment_file(tmp_path, cfg)
    out = tmp_path / "a.nc"
    assert invoke("run", exp, "-o", out, "-q").exit_code == 0
    truncate(out)
    line = one_line_error(invoke("run", exp, "-o", out, "--resume", "-q"))
    assert str(out) in line and "cannot be read" in line and "--overwrite" in line
    assert invoke("run", exp, "-o", out, "--resume", "--overwrite", "-q").exit_code == 0
    assert open_run(out).attrs["lowprec_status"] == "complete"


@pytest.fixture(scope="module")
def small_sweep(tmp_path_factory) -> Path:
    exp = {"model": "lorenz63", "params": {"particles": 6, "prespin": 1.0},
           "precision": {"seed": 3},
           "run": {"length": "1 time units", "output_interval": "0.1 time units"},
           "sweep": {"sbits": [8], "modes": ["nearest"], "controls": 2, "members": 3}}
    outdir = tmp_path_factory.mktemp("faults") / "s"
    assert sweep(exp, outdir, scheduler="serial", quiet=True).ok
    assert not list(outdir.rglob("*.lock"))             # no lock left behind by a sweep
    path = outdir.parent / "exp.toml"
    path.write_text(tomli_w.dumps(exp))
    return outdir


def test_report_with_an_unreadable_validation_file_is_one_line(small_sweep, tmp_path):
    outdir = tmp_path / "s"
    shutil.copytree(small_sweep, outdir)
    assert invoke("validate", outdir, "--no-pvalues").exit_code == 0
    truncate(outdir / "validation.nc")
    line = one_line_error(invoke("report", outdir))
    assert "validation.nc" in line and "lowprec validate" in line


def test_report_of_a_sweep_with_an_unreadable_run_file_is_one_line(small_sweep, tmp_path):
    outdir = tmp_path / "s"
    shutil.copytree(small_sweep, outdir)
    truncate(outdir / "runs" / "lorenz63_sb52_nearest_m000.nc")
    line = one_line_error(invoke("report", outdir), alone=False)   # after "validating first"
    assert "unreadable" in line and "lorenz63_sb52_nearest_m000.nc" in line


@pytest.mark.parametrize("command", ["sweep", "validate"])
def test_corrupt_sweep_json_is_one_line(small_sweep, tmp_path, command):
    outdir = tmp_path / "s"
    shutil.copytree(small_sweep, outdir)
    text = (outdir / MANIFEST).read_text()
    (outdir / MANIFEST).write_text(text[:len(text) // 2])          # truncated JSON
    args = (["sweep", small_sweep.parent / "exp.toml", "-o", outdir, "--scheduler", "serial", "-q"]
            if command == "sweep" else ["validate", outdir])
    line = one_line_error(invoke(*args))
    assert "sweep.json" in line and "cannot be read" in line


# --------------------------------------------------------------------------------------------
# The output location, checked before the run starts

def test_missing_output_directories_are_created(tmp_path):
    out = tmp_path / "new" / "deeper" / "a.nc"
    exp = experiment_file(tmp_path, heat("1 day"))
    assert invoke("run", exp, "-o", out, "-q").exit_code == 0
    assert open_run(out).attrs["lowprec_status"] == "complete"


def refuses_before_stepping(cfg: dict, out: Path, match: str) -> None:
    steps = []
    with pytest.raises(ConfigError, match=match):
        run(cfg, out, progress=steps.append)
    assert not steps                                        # checked before the run starts


def test_an_output_path_through_a_file_or_at_a_directory_is_refused_first(tmp_path):
    (tmp_path / "plain").write_text("a file")
    refuses_before_stepping(heat("1 day"), tmp_path / "plain" / "a.nc", "is a file, not a direct")
    (tmp_path / "dir.nc").mkdir()
    refuses_before_stepping(heat("1 day"), tmp_path / "dir.nc", "is a directory")
    exp = experiment_file(tmp_path, heat("1 day"))
    line = one_line_error(invoke("run", exp, "-o", tmp_path / "plain" / "a.nc"))
    assert "plain" in line and "not a directory" in line


@contextlib.contextmanager
def tmpfs(path: Path, options: str):
    """A tmpfs mounted at ``path`` (root only; skips the test when mounting is not permitted)."""
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs",
                                           str(path)], capture_output=True).returncode != 0:
        pytest.skip(f"cannot mount a tmpfs ({options}) here")
    try:
        yield path
    finally:
        if subprocess.run(["umount", str(path)], capture_output=True).returncode:
            subprocess.run(["umount", "-l", str(path)], capture_output=True)  # detach if busy


@pytest.fixture
def read_only_directory(tmp_path):
    """A directory this process cannot write: chmod for other users, a read-only tmpfs for root."""
    path = tmp_path / "ro"
    path.mkdir()
    if os.geteuid() != 0:
        path.chmod(0o555)
        yield path
        path.chmod(0o755)
        return
    with tmpfs(path, "ro,size=64k"):
        yield path


def test_a_read_only_output_directory_is_refused_first(read_only_directory, tmp_path):
    out = read_only_directory / "a.nc"
    refuses_before_stepping(heat("1 day"), out, "read-only")
    exp = experiment_file(tmp_path, heat("1 day"))
    line = one_line_error(invoke("run", exp, "-o", out))
    assert str(read_only_directory) in line and "read-only" in line


def test_a_run_that_fails_its_checks_leaves_no_files(tmp_path):
    cfg = heat("10 days")
    cfg["run"]["output_interval"] = "3 days"                # 10 days is not a whole number of them
    with pytest.raises(ConfigError, match="whole number of output intervals"):
        run(cfg, tmp_path / "a.nc")
    assert sorted(p.name for p in tmp_path.iterdir()) == []     # no a.toml, no lock, no partial


# --------------------------------------------------------------------------------------------
# A full disk

def check_after_disk_full(tmp_path: Path, out: Path, cfg: dict, message: str) -> None:
    """One line saying so; the output (if any) is whole, with its restart; no partial files."""
    assert "disk is full" in message and "--resume" in message and "\n" not in message
    leftovers = [p.name for p in out.parent.iterdir() if ".partial" in p.name
                 or p.name.endswith((".previous", ".lock"))]
    assert leftovers == []
    on_disk = xr.open_dataset(out)                           # plain xarray opens it
    assert on_disk.attrs["lowprec_status"] == "running"
    kept = on_disk.sizes["time"]
    on_disk.close()
    assert 0 < kept < 365 and read_restart(out.with_name("a.restart.nc")).outputs <= kept


@pytest.fixture
def small_filesystem(tmp_path):
    """A 2 MiB tmpfs (root, when mounting is permitted; else the ENOSPC test covers this)."""
    path = tmp_path / "small"
    path.mkdir()
    with tmpfs(path, "size=2m"):
        yield path


def test_a_full_disk_stops_the_run_keeping_what_was_complete(small_filesystem, tmp_path):
    cfg = heat("1 year")                # float64: 178 kB uncompressed, and compresses little
    cfg["run"]["checkpoint_interval"] = "10 days"
    filler = small_filesystem / "filler"
    filler.write_bytes(b"\0" * (2 * 2**20 - 64 * 2**10))      # 64 KiB left
    out = small_filesystem / "a.nc"
    with pytest.warns(UserWarning, match="may take up to"), pytest.raises(LowprecError) as e:
        run(cfg, out)
    check_after_disk_full(tmp_path, out, cfg, str(e.value))
    filler.unlink()                                          # space again: resume to the end
    with run(cfg, out, resume=True) as done:                 # (closed: the tmpfs is unmounted)
        assert done.attrs["lowprec_status"] == "complete"
    assert np.array_equal(bits(open_run(out)["T"].values), bits(run(cfg)["T"].values))


def test_enospc_at_the_write_stops_the_run_keeping_what_was_complete(tmp_path, monkeypatch):
    # The same without a small file system: the fifth write of the output fails with ENOSPC.
    from lowprec.harness.store import RunFile
    cfg = heat("1 year", sbits=10, mode="stochastic", seed=4)
    cfg["run"]["checkpoint_interval"] = "10 days"
    real_apply, calls = RunFile._apply, []

    def apply_until_full(self, target, block):
        calls.append(target)
        if len(calls) == 8:                  # the 5th checkpoint (1 + 2 writes per later one)
            with open(target, "ab") as f:                    # half-written, as a full disk leaves
                f.write(b"\0" * 100)
            raise OSError(errno.ENOSPC, "No space left on device")
        real_apply(self, target, block)

    monkeypatch.setattr(RunFile, "_apply", apply_until_full)
    out = tmp_path / "a.nc"
    with pytest.raises(LowprecError) as e:
        run(cfg, out)
    monkeypatch.undo()
    check_after_disk_full(tmp_path, out, cfg, str(e.value))
    assert open_run(out).sizes["time"] == 40                 # 4 checkpoints of 10 days
    result = invoke("run", experiment_file(tmp_path, cfg), "-o", out, "--resume", "-q")
    assert result.exit_code == 0, result.output
    assert np.array_equal(bits(open_run(out)["T"].values), bits(run(cfg)["T"].values))


# --------------------------------------------------------------------------------------------
# An unreachable scheduler

def closed_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]                            # nobody listens once closed


def test_an_unreachable_scheduler_fails_before_anything_is_written(small_sweep, tmp_path,
                                                                  monkeypatch):
    from lowprec.harness import sweep as sweep_module
    monkeypatch.setattr(sweep_module, "SCHEDULER_TIMEOUT", 2)
    outdir = tmp_path / "never"
    address = f"tcp://127.0.0.1:{closed_port()}"
    line = one_line_error(invoke("sweep", small_sweep.parent / "exp.toml", "-o", outdir,
                                 "--scheduler", address, "-q"))
    assert address in line and "cannot connect" in line and "nothing was written" in line
    assert not outdir.exists()                               # no directory, lock or manifest


def test_the_scheduler_connection_is_bounded_in_time(small_sweep, tmp_path, monkeypatch):
    import distributed
    seen = {}

    def client(address, **kwargs):
        seen.update(kwargs, address=address)
        raise OSError(f"Timed out trying to connect to {address} after {kwargs.get('timeout')} s")

    monkeypatch.setattr(distributed, "Client", client)
    with pytest.raises(ConfigError, match="cannot connect"):
        sweep(small_sweep.parent / "exp.toml", tmp_path / "never", scheduler="tcp://h:8786")
    assert seen["address"] == "tcp://h:8786" and 0 < seen["timeout"] <= 10


# --------------------------------------------------------------------------------------------
# Sizes that cannot fit

def test_a_run_too_long_for_the_disk_is_refused_before_allocating(tmp_path):
    with pytest.raises(ConfigError, match=r"run.length = '1e12 years': the output would take"):
        run(heat("1e12 years"), tmp_path / "a.nc")
    assert list(tmp_path.iterdir()) == []


def test_a_run_too_long_for_memory_is_refused_before_allocating():
    with pytest.raises(ConfigError, match=r"run.length = '1e12 years' \(no output file\): "
                                          r"needs at least .* of memory"):
        run(heat("1e12 years"))


def test_a_model_too_big_for_memory_is_refused_before_allocating(tmp_path, monkeypatch):
    import collections
    import psutil
    from models.lorenz63 import Lorenz63
    memory = collections.namedtuple("svmem", "total available")(10**9, 100 * 10**6)
    monkeypatch.setattr(psutil, "virtual_memory", lambda: memory)      # pretend 100 MB

    def never(self, seed):
        raise AssertionError("the state was allocated")

    monkeypatch.setattr(Lorenz63, "initial_state", never)
    cfg = {"model": "lorenz63", "params": {"particles": 10_000_000},
           "run": {"length": "1 time units", "output_interval": "0.1 time units"}}
    # Refused from the estimate (a state of 240 MB, x4), or, where the coordinates are built
    # under an address-space limit (the command line), as soon as they exceed a quarter of it.
    with pytest.raises(ConfigError, match=r"params.particles = 10000000: needs (at least 9\d\d "
                                          r"MB of memory.*100 MB is available|more memory than "
                                          r"is available.*100 MB available)"):
        run(cfg, tmp_path / "a.nc")
    assert list(tmp_path.iterdir()) == []
    exp = experiment_file(tmp_path, cfg)
    line = one_line_error(invoke("run", exp, "-o", tmp_path / "a.nc"))
    assert "particles = 10000000" in line


LITTLE_MEMORY = textwrap.dedent("""
    import collections, sys
    import psutil
    memory = collections.namedtuple("svmem", "total available")(10**9, 100 * 10**6)
    psutil.virtual_memory = lambda: memory          # pretend 100 MB are available
    from lowprec.harness.cli import main
    try:
        main(sys.argv[1:], prog_name="lowprec")
    finally:
        # VmHWM: this process's own peak resident memory (ru_maxrss would carry over the peak
        # of the pytest process it was spawned from, which grows with the tests run before)
        with open("/proc/self/status") as status:
            peak = next(int(line.split()[1]) * 1024 for line in status
                        if line.startswith("VmHWM:"))
        print("peak", peak, file=sys.stderr)
""")


def test_coordinates_too_big_for_memory_are_refused_without_filling_it(tmp_path):
    # A billion particles would first build an 8 GB coordinate; here 10**8 (800 MB) against a
    # pretended 100 MB: the command line builds coordinates under an address-space limit.
    cfg = {"model": "lorenz63", "params": {"particles": 100_000_000},
           "run": {"length": "1 time units", "output_interval": "0.1 time units"}}
    exp = experiment_file(tmp_path, cfg)
    result = subprocess.run([sys.executable, "-c", LITTLE_MEMORY, "run", str(exp), "-o",
                             str(tmp_path / "a.nc")], cwd=ROOT, capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=300)
    assert result.returncode == 1, result.stderr
    assert "params.particles = 100000000: needs more memory than is available" in result.stderr
    peak = int(result.stderr.split("peak")[-1])
    assert peak < 700e6, peak                        # the 800 MB coordinate was never built


# --------------------------------------------------------------------------------------------
# lowprec.round on a read-only array

@pytest.mark.parametrize("mode", ["nearest", "stochastic"])
def test_round_of_a_read_only_array_is_the_same_as_of_a_writeable_one(mode):
    x = np.random.default_rng(0).normal(size=1000)
    expected = lowprec.round(x, lowprec.Format(10), mode, seed=3)
    x.flags.writeable = False
    got = lowprec.round(x, lowprec.Format(10), mode, seed=3)
    assert np.array_equal(got.view(np.uint64), expected.view(np.uint64))
    x32 = x.astype(np.float32)
    x32.flags.writeable = False
    assert lowprec.round(x32, lowprec.Format(7), mode, seed=3).dtype == np.float32


# --------------------------------------------------------------------------------------------
# One writer per output

SLOW_RUN = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from models.heat import HeatColumn
    marker, args = Path(sys.argv[1]), sys.argv[2:]
    original = HeatColumn.step

    def step(self, state):              # same arithmetic, slowed so that a second run can try
        if state.n == 48:
            marker.write_text("running")
        time.sleep(0.0005)
        return original(self, state)

    HeatColumn.step = step
    from lowprec.harness.cli import main
    main(args, prog_name="lowprec")
""")


def test_a_second_run_on_the_same_output_gets_one_line(tmp_path):
    cfg = heat("20 days", sbits=10)
    cfg["run"]["checkpoint_interval"] = "1 day"
    exp = experiment_file(tmp_path, cfg)
    script = tmp_path / "slow.py"
    script.write_text(SLOW_RUN)
    marker, out = tmp_path / "marker", tmp_path / "a.nc"
    first = subprocess.Popen([sys.executable, str(script), str(marker), "run", str(exp), "-o",
                              str(out), "-q"], cwd=ROOT, stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        while not marker.exists() and first.poll() is None:
            time.sleep(0.01)
        assert first.poll() is None
        for args in (["run", exp, "-o", out, "-q"], ["run", exp, "-o", out, "--overwrite", "-q"],
                     ["run", exp, "-o", out, "--resume", "-q"]):
            line = one_line_error(invoke(*args))
            assert "being written by another run" in line and str(out) in line
        _, err = first.communicate(timeout=120)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 0, err
    assert open_run(out).attrs["lowprec_status"] == "complete"
    assert np.array_equal(bits(open_run(out)["T"].values), bits(run(cfg)["T"].values))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.nc", "a.restart.nc", "a.toml",
                                                         "exp.toml", "marker", "slow.py"]
