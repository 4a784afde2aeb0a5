"""`lowprec tune` as a command: a real kill and resume, a real dask scheduler, the design check.

The toy model (tests/toy_tolerance.py) is registered in every process that runs it: this one,
the killed subprocess (imported before the command), and the dask workers (imported there).
"""
from __future__ import annotations

import importlib
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import netCDF4
import pytest
import tomli_w
from click.testing import CliRunner

import toy_tolerance  # noqa: F401 - registers the model "toy_tolerance"
from lowprec.harness import tune_search
from lowprec.harness.cli import main
from lowprec.harness.tune import tune

TESTS = Path(__file__).parent


def toy_config(path: Path, params: dict, tune_section: dict) -> Path:
    config = {"model": "toy_tolerance", "params": {"particles": 50, **params},
              "precision": {"seed": 3}, "run": {"length": "20 steps", "output_interval": "1 steps"},
              "tune": {"modes": ["nearest"], "controls": 2, "combined_attempts": 1, **tune_section}}
    path.write_text(tomli_w.dumps(config))
    return path


def probes(outdir: Path) -> dict[str, dict]:
    try:
        return json.loads((outdir / "tune.json").read_text())["probes"]
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def finished(path: Path) -> bool:
    with netCDF4.Dataset(path) as nc:
        return nc.__dict__.get("lowprec_status") == "complete"


def test_killed_tune_resumes_without_recomputing_a_probe(tmp_path):
    """SIGKILL `lowprec tune` during its fine scan (the window component fails only for
    6 <= sbits < 8, so the ladder 4, 7, 10 is not monotone); the rerun keeps the three coarse
    probes and the scan's finished runs untouched, and finds 8."""
    config = toy_config(tmp_path / "window.toml", {"window_low": 6, "window_high": 8},
                        {"components": ["window"], "sbits": "4:10", "coarse_step": 3})
    outdir = tmp_path / "tune"
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import toy_tolerance; "
            "from lowprec.harness.cli import main; main(sys.argv[2:])")
    proc = subprocess.Popen([sys.executable, "-c", code, str(TESTS), "tune", str(config), "-o",
                             str(outdir), "--scheduler", "serial", "--quiet"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    fine_runs = outdir / "probes" / "window" / "nearest" / "fine" / "runs"
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if len(probes(outdir)) >= 3 and any(fine_runs.glob("*_sb*_nearest_m*[0-9].nc")
                                                if fine_runs.exists() else []):
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the tune ended before it could be killed: " + \
            proc.stderr.read().decode()[-2000:]
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    before = probes(outdir)
    assert len(before) >= 3 and {r["stage"] for r in before.values()} <= {"coarse", "fine"}
    # the finished runs of the probes (not the linked double runs; a run the kill interrupted
    # holds its checkpoint with status "running", and the rerun rightly continues it)
    kept = {p: (p.stat().st_ino, p.stat().st_mtime_ns)
            for p in outdir.rglob("runs/*.nc") if p.stat().st_nlink == 1 and finished(p)}

    result = tune(config, outdir, scheduler="serial", quiet=True)

    after = probes(outdir)
    assert result.reused == len(before) and result.computed == len(after) - len(before)
    assert all(after[k] == rec for k, rec in before.items())
    assert all((p.stat().st_ino, p.stat().st_mtime_ns) == stamp for p, stamp in kept.items())
    search = result.searches[("window", "nearest")]
    assert search.chosen == 8 and search.monotone is False and search.strategy == "fine scan"
    assert list(search.probes) == [4, 7, 10, 5, 6, 8, 9]
    assert result.combined["nearest"].passed


def _register_toy_on(client) -> None:
    client.run(lambda path=str(TESTS): sys.path.insert(0, path))
    client.run(importlib.import_module, "toy_tolerance")


def test_tune_on_a_dask_scheduler_address(tmp_path):
    """--scheduler tcp://...: every run of every probe is a task on the cluster's workers. The
    probes use the paired test here: a failing probe (every member shifted away) gets 2^-N."""
    from distributed import Client, LocalCluster, get_task_stream
    config = toy_config(tmp_path / "beta.toml", {"k_beta": 10},
                        {"components": ["beta"], "sbits": "8:12", "coarse_step": 2,
                         "test": "paired"})
    outdir = tmp_path / "tune"
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as cluster, Client(cluster) as client:
        _register_toy_on(client)
        with get_task_stream(client) as stream:
            out = CliRunner().invoke(main, ["tune", str(config), "-o", str(outdir), "--scheduler",
                                            cluster.scheduler_address, "--quiet"])
        assert out.exit_code == 0, out.output + repr(out.exception)
        tasks = [t for t in stream.data if "lowprec-toy_tolerance" in t["key"]]
    recs = sorted(probes(outdir).values(), key=lambda r: r["index"])
    assert [r["sbits"] for r in recs if r["stage"] != "combined"] == [8, 10, 12, 9]
    members = json.loads((outdir / "tune.json").read_text())["design_check"]["members"]
    assert members == tune_search.members_needed(tune_search.variable_level(0.05, 6, 1), 1,
                                                 "paired") == 7
    for r in recs:
        y = r["variables"]["y"]
        assert y["pvalue"] == y["pvalue_paired"]
        assert (r["verdict"] == "fail") == (r["sbits"] < 10) == (y["pvalue"] == 2.0 ** -members)
    # 2 controls + N null, N per probe (4) and N for the combined configuration
    assert len(tasks) == 2 + members + 5 * members
    printed = out.output.split()
    assert str(outdir / "precision_nearest.toml") in printed and str(outdir / "tune.nc") in printed
    assert "sbits = 10" in (outdir / "precision_nearest.toml").read_text()


def test_check_prints_the_design_check_and_writes_nothing(tmp_path):
    config = toy_config(tmp_path / "beta.toml", {"k_beta": 10},
                        {"components": ["beta"], "sbits": "8:12", "coarse_step": 2})
    out = CliRunner().invoke(main, ["tune", str(config), "-o", str(tmp_path / "never"), "--check",
                                    "--scheduler", "serial"])
    assert out.exit_code == 0, out.output
    assert "6 tests x 1 variable(s)" in out.output and ": OK" in out.output
    assert "runs expected" in out.output
    refused = CliRunner().invoke(main, ["tune", str(config), "--check", "--set", "tune.members=3"])
    assert refused.exit_code == 1 and "members >= 5" in refused.output
    assert not (tmp_path / "never").exists()
    level = tune_search.variable_level(0.05, 6, 1)
    assert f"{level:.3g}" in out.output
