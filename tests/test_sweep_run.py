"""Sweeps on real (tiny) Lorenz-63 runs: layout, resume, failures, dask == serial, open_sweep."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from lowprec.errors import ConfigError
from lowprec.harness import sweep as sweep_module
from lowprec.harness.store import open_run
from lowprec.harness.sweep import RUNS, open_sweep, parse_sweep, read_manifest, sweep

SBITS = [8, 12]
MODES = ["nearest", "stochastic"]
CONTROLS, MEMBERS = 2, 3


def tiny_lorenz(**sweep_changes) -> dict:
    """A real Lorenz-63 experiment small enough that a run takes a fraction of a second."""
    return {
        "model": "lorenz63",
        "params": {"particles": 6, "prespin": 1.0},
        "precision": {"seed": 11},
        "run": {"length": "1 time units", "output_interval": "0.1 time units",
                "spinup": "0.5 time units"},
        "sweep": {"sbits": SBITS, "modes": MODES, "controls": CONTROLS, "members": MEMBERS,
                  **sweep_changes},
    }


def expected_names() -> set[str]:
    keys = parse_sweep(tiny_lorenz()["sweep"]).runs("lorenz63")
    return {k.filename for k in keys}


def run_files(outdir: Path) -> dict[str, Path]:
    return {p.name: p for p in (outdir / RUNS).glob("lorenz63_sb*_m*.nc")
            if not p.name.endswith(".restart.nc")}


def assert_same_runs(a: Path, b: Path) -> None:
    """Every run file of sweep a equals sweep b's, bit for bit, variable by variable."""
    fa, fb = run_files(a), run_files(b)
    assert sorted(fa) == sorted(fb)
    for name in fa:
        da, db = open_run(fa[name]), open_run(fb[name])
        assert sorted(da.data_vars) == sorted(db.data_vars)
        for v in da.data_vars:
            x, y = da[v].values, db[v].values
            assert x.dtype == y.dtype and x.shape == y.shape, (name, v)
            assert x.tobytes() == y.tobytes(), (name, v)
        assert da.attrs["lowprec_status"] == db.attrs["lowprec_status"]


def mtimes(outdir: Path) -> dict[str, int]:
    return {n: p.stat().st_mtime_ns for n, p in run_files(outdir).items()}


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """A complete serial sweep, run once for the module."""
    outdir = tmp_path_factory.mktemp("reference")
    result = sweep(tiny_lorenz(), outdir, scheduler="serial", quiet=True)
    assert result.ok and not result.failed
    assert result.computed == result.total == len(expected_names())
    return outdir


def test_sweep_writes_every_run_and_a_complete_manifest(reference):
    assert set(run_files(reference)) == expected_names()
    manifest = read_manifest(reference)
    assert {r["status"] for r in manifest["runs"].values()} == {"complete"}
    assert manifest["design"]["control_members"] == [0, 1]
    assert manifest["design"]["competitor_members"] == [2, 3, 4]
    assert not list((reference / RUNS).glob("*.partial"))
    for name, path in run_files(reference).items():
        ds = open_run(path)
        key = manifest["runs"][name[:-3]]
        assert int(ds.attrs["lowprec_sbits"]) == key["sbits"]
        assert ds.attrs["lowprec_mode"] == key["mode"]
        assert int(ds.attrs["lowprec_member"]) == key["member"]


def test_rerun_of_a_finished_sweep_computes_nothing(reference, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(reference, copy)
    before = mtimes(copy)
    result = sweep(tiny_lorenz(), copy, scheduler="serial", quiet=True)
    assert result.computed == 0 and result.skipped == result.total
    assert mtimes(copy) == before


def test_members_share_initial_conditions_across_settings(reference):
    ds = open_sweep(reference)
    first = ds["x"].isel(time=0)
    # At the first output (after a short spin-up) member m's state at sbits 12 is close to its
    # double-precision state, and far from every other member's.
    for m in (2, 3, 4):
        own = first.sel(sbits=52, mode="nearest", member=m)
        low = first.sel(sbits=12, mode="nearest", member=m)
        others = [first.sel(sbits=52, mode="nearest", member=k) for k in (2, 3, 4) if k != m]
        gap = float(np.abs(own - low).max())
        assert all(gap < float(np.abs(own - o).min()) for o in others)


def test_open_sweep_shape_coords_nan_pattern_and_values(reference):
    ds = open_sweep(reference)
    assert list(ds["sbits"].values) == [8, 12, 52]
    assert list(ds["mode"].values) == ["nearest", "stochastic"]
    assert list(ds["member"].values) == [0, 1, 2, 3, 4]
    assert ds["x"].dims == ("sbits", "mode", "member", "time", "particle")
    assert ds.sizes["particle"] == 6 and ds.sizes["time"] == 10
    assert ds.attrs["lowprec_control_members"] == [0, 1]
    assert ds.attrs["lowprec_competitor_members"] == [2, 3, 4]
    assert ds.attrs["lowprec_model"] == "lorenz63"
    assert ds["x"].chunks is not None                    # lazy

    ran = {(52, "nearest", m) for m in range(5)} | {(s, mo, m) for s in SBITS for mo in MODES
                                                     for m in (2, 3, 4)}
    x = ds["x"].values
    for i, s in enumerate(ds["sbits"].values):
        for j, mo in enumerate(ds["mode"].values):
            for k, m in enumerate(ds["member"].values):
                key = (int(s), str(mo), int(m))
                status = str(ds["status"].values[i, j, k])
                if key in ran:
                    assert status == "complete"
                    run = open_run(reference / RUNS / f"lorenz63_sb{s}_{mo}_m{m:03d}.nc")
                    assert np.array_equal(x[i, j, k], run["x"].values.astype(np.float64))
                else:
                    assert status == "absent"
                    assert np.isnan(x[i, j, k]).all()
    # Runs at <= 23 sbits are stored as float32, exactly; open_sweep promotes to float64.
    assert ds["x"].dtype == np.float64
    low = ds["x"].sel(sbits=8, mode="nearest", member=2).values
    assert np.array_equal(low, low.astype(np.float32).astype(np.float64))


def test_interrupted_sweep_resumes_without_recomputing(reference, tmp_path):
    outdir = tmp_path / "interrupted"
    done = []

    def stop_after_five(key, record):
        done.append(key.filename)
        if len(done) == 5:
            raise KeyboardInterrupt             # as if killed between two runs

    with pytest.raises(KeyboardInterrupt):
        sweep(tiny_lorenz(), outdir, scheduler="serial", quiet=True, on_run_done=stop_after_five)
    first = mtimes(outdir)
    assert set(first) == set(done)
    # A torn write left behind by a kill is cleaned up, and does not count as finished.
    (outdir / RUNS / "lorenz63_sb8_nearest_m004.nc.partial").write_bytes(b"torn")

    result = sweep(tiny_lorenz(), outdir, scheduler="serial", quiet=True)
    assert result.skipped == 5 and result.computed == result.total - 5 and result.ok
    after = mtimes(outdir)
    assert {n: after[n] for n in first} == first           # finished runs untouched
    assert set(after) == expected_names()                  # nothing lost, nothing extra
    assert not list((outdir / RUNS).glob("*.partial"))
    assert_same_runs(outdir, reference)


def test_killed_sweep_process_resumes(reference, tmp_path):
    """SIGKILL a sweep in another process mid-way; the rerun completes it, bit-identical."""
    outdir = tmp_path / "killed"
    config = tmp_path / "exp.json"
    config.write_text(json.dumps(tiny_lorenz()))
    code = ("import json, sys; from lowprec.harness.sweep import sweep; "
            "sweep(json.load(open(sys.argv[1])), sys.argv[2], scheduler='serial', quiet=True)")
    proc = subprocess.Popen([sys.executable, "-c", code, str(config), str(outdir)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while len(run_files(outdir)) < 3 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()[-2000:]
    first = mtimes(outdir)
    assert 3 <= len(first) < len(expected_names())

    result = sweep(tiny_lorenz(), outdir, scheduler="serial", quiet=True)
    assert result.ok and result.skipped >= len(first)
    after = mtimes(outdir)
    assert {n: after[n] for n in first} == first
    assert set(after) == expected_names()
    assert_same_runs(outdir, reference)


def test_failed_run_is_recorded_reported_and_retried_only_when_asked(monkeypatch, tmp_path, capsys):
    import lowprec.harness.run as run_module
    real = run_module.run_member
    calls = []

    def failing(exp, path, **kwargs):
        calls.append((exp.precision.sbits, exp.precision.mode, exp.run.member))
        if (exp.precision.sbits, exp.precision.mode, exp.run.member) == (8, "stochastic", 3):
            raise FloatingPointError("synthetic failure for the test")
        return real(exp, path, **kwargs)

    monkeypatch.setattr(run_module, "run_member", failing)
    outdir = tmp_path / "failing"
    result = sweep(tiny_lorenz(), outdir, scheduler="serial", quiet=True)
    assert [r["name"] for r in result.failed] == ["lorenz63_sb8_stochastic_m003"]
    assert "FloatingPointError: synthetic failure" in result.failed[0]["error"]
    assert not result.ok
    err = capsys.readouterr().err
    assert "FAILED" in err and "lorenz63_sb8_stochastic_m003" in err and "synthetic failure" in err
    record = read_manifest(outdir)["runs"]["lorenz63_sb8_stochastic_m003"]
    assert record["status"] == "failed" and "synthetic failure" in record["error"]
    assert "FloatingPointError" in record["traceback"]
    assert len(run_files(outdir)) == len(expected_names()) - 1

    calls.clear()
    again = sweep(tiny_lorenz(), outdir, scheduler="serial", quiet=True)
    assert calls == [] and len(again.failed) == 1 and again.computed == 0     # not retried

    monkeypatch.setattr(run_module, "run_member", real)
    retried = sweep(tiny_lorenz(), outdir, scheduler="serial", quiet=True, retry_failed=True)
    assert retried.computed == 1 and retried.ok
    record = read_manifest(outdir)["runs"]["lorenz63_sb8_stochastic_m003"]
    assert record["status"] == "complete" and record["error"] is None and record["attempts"] == 2
    assert set(run_files(outdir)) == expected_names()


def test_sweep_directory_of_another_experiment_is_refused(reference, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(reference, copy)
    other = tiny_lorenz()
    other["params"]["particles"] = 7
    with pytest.raises(ConfigError, match="different experiment.*particles"):
        sweep(other, copy, scheduler="serial", quiet=True)
    # Changing only the [sweep] section extends the sweep: only the new runs are computed.
    result = sweep(tiny_lorenz(sbits=[8, 10, 12]), copy, scheduler="serial", quiet=True)
    assert result.computed == 2 * MEMBERS and result.ok


def test_local_cluster_of_two_workers_equals_serial_bitwise(reference, tmp_path):
    outdir = tmp_path / "cluster"
    result = sweep(tiny_lorenz(), outdir, workers=2, quiet=True)
    assert result.ok and result.computed == result.total, result.summary()
    assert_same_runs(outdir, reference)


def test_progress_lines_on_stderr(tmp_path, capsys):
    sweep(tiny_lorenz(sbits=[8], modes=["nearest"]), tmp_path / "p", scheduler="serial")
    lines = [l for l in capsys.readouterr().err.splitlines() if "runs done" in l]
    total = 2 + 3 + 3
    assert len(lines) == total
    assert lines[-1].startswith(f"sweep lorenz63") and f"{total}/{total} runs done" in lines[-1]
    assert "ETA 0:00:00" in lines[-1] and "0 failed" in lines[-1]


def test_blown_up_runs_are_recorded_and_open_as_nan(tmp_path, capsys):
    """A real blow-up: 8 sbits with 4 exponent bits (largest finite 248) overflows Lorenz-63."""
    config = tiny_lorenz(sbits=[8], modes=["nearest"])
    config["precision"]["ebits"] = 4                 # the controls and null stay float64
    outdir = tmp_path / "blowup"
    result = sweep(config, outdir, scheduler="serial", quiet=True)
    assert result.ok and not result.failed            # a blow-up is a result, not a failure
    assert sorted(r["name"] for r in result.blown_up) == [f"lorenz63_sb8_nearest_m00{m}"
                                                          for m in (2, 3, 4)]
    records = read_manifest(outdir)["runs"]
    for m in (2, 3, 4):
        record = records[f"lorenz63_sb8_nearest_m00{m}"]
        assert record["status"] == "blown_up" and record["blowup_step"] > 0
    ds = open_sweep(outdir)
    low = dict(sbits=8, mode="nearest")
    assert (ds["status"].sel(**low, member=[2, 3, 4]) == "blown_up").all()
    assert (ds["blowup_step"].sel(**low, member=[2, 3, 4]) > 0).all()
    assert (ds["blowup_step"].sel(sbits=52, mode="nearest") == -1).all()
    assert not np.isfinite(ds["x"].sel(**low, member=[2, 3, 4]).values).any()
    assert np.isfinite(ds["x"].sel(sbits=52, mode="nearest").values).all()
    # Rerunning does not recompute blown-up runs.
    before = mtimes(outdir)
    assert sweep(config, outdir, scheduler="serial", quiet=True).computed == 0
    assert mtimes(outdir) == before


def test_a_directory_in_use_by_another_sweep_is_refused(tmp_path):
    outdir = tmp_path / "busy"
    outdir.mkdir()
    with sweep_module._sweep_lock(outdir):
        with pytest.raises(ConfigError, match="in use by another running sweep"):
            sweep(tiny_lorenz(), outdir, scheduler="serial", quiet=True)
