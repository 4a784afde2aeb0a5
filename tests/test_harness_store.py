"""Run files: CF-1.11 (checked by the IOOS compliance checker), encoding, restarts, the CLI."""
from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import netCDF4
import numpy as np
import pytest
from click.testing import CliRunner

from lowprec.harness.cli import main
from lowprec.harness.config import load_config
from lowprec.harness.run import run
from lowprec.harness.store import Restart, open_run, read_restart, write_restart
from cfcheck import HIGH, cf_failures


SMALL_SW = {"model": "shallow_water", "params": {"nx": 8, "ny": 4},
            "precision": {"sbits": 10, "mode": "stochastic"},
            "run": {"length": "60 steps", "output_interval": "6 steps",
                    "variables": ["eta", "kinetic_energy"]}}


@pytest.fixture(scope="module")
def heat_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("heat") / "heat.nc"
    run({"model": "heat", "precision": {"sbits": 10, "mode": "stochastic", "seed": 1},
         "run": {"length": "3 days", "output_interval": "1 day", "member": 2}}, path)
    return path


def test_heat_file_is_cf_compliant(heat_file):
    failed = cf_failures(heat_file)
    assert failed == {}, failed


def test_shallow_water_file_is_cf_compliant(tmp_path):
    ds = run(SMALL_SW, tmp_path / "sw.nc")
    assert set(ds.data_vars) == {"eta", "kinetic_energy"}
    assert ds["eta"].dtype == np.float32             # 10-sbit values are float32 exactly
    assert ds["kinetic_energy"].dtype == np.float64  # a float64 diagnostic of them is not
    failed = cf_failures(tmp_path / "sw.nc")
    assert HIGH not in failed, failed[HIGH]


def test_lorenz_file_is_cf_compliant_with_its_dimensionless_model_time(tmp_path):
    run({"model": "lorenz63", "params": {"particles": 3},
         "run": {"length": "0.2 time units", "output_interval": "0.1 time units"}}, tmp_path / "l.nc")
    # CF wants "<unit> since <epoch>" and standard_name time for a coordinate named time;
    # Lorenz-63's time is dimensionless (units "1"), so its files call it model_time.
    assert cf_failures(tmp_path / "l.nc") == {}


def test_encoding_and_provenance(heat_file):
    with netCDF4.Dataset(heat_file) as nc:
        T = nc["T"]
        assert T.filters()["zlib"] and T.filters()["complevel"] == 1 and T.filters()["shuffle"]
        assert T.dtype == np.float32
        assert T.units == "K" and T.standard_name == "soil_temperature"
        assert T.units_metadata == "temperature: on_scale" and T.cell_methods == "time: point"
        for name in ("time", "depth", "sbits", "mode", "member"):
            assert "_FillValue" not in nc[name].ncattrs(), name
        assert nc["time"].calendar == "365_day"
        a = {k: nc.getncattr(k) for k in nc.ncattrs()}
    assert a["Conventions"] == "CF-1.11"
    assert a["lowprec_sbits"] == 10 and a["lowprec_ebits"] == "none" and a["lowprec_mode"] == "stochastic"
    assert a["lowprec_member"] == 2 and a["lowprec_seed"] == 1 and a["lowprec_status"] == "complete"
    assert a["lowprec_blowup_step"] == -1 and a["lowprec_subnormals"] == "true"
    assert load_config(a["lowprec_config"]).precision.sbits == 10
    ds = open_run(heat_file)
    assert int(ds["sbits"]) == 10 and str(ds["mode"].values) == "stochastic" and int(ds["member"]) == 2
    assert ds["time"].values[0].calendar == "noleap"
    resolved = heat_file.with_suffix(".toml").read_text()
    assert tomllib.loads(resolved)["precision"]["sbits"] == 10


def test_restart_round_trip_is_exact(tmp_path):
    arrays = {"T": np.array([-0.0, np.nan, 5e-324, 1.0 + 2**-52, -np.inf]), "n": np.array(7.0)}
    write_restart(Restart(arrays, 12, 3, {"counter": 2**63 + 5}, "heat", 'model = "heat"'),
                  tmp_path / "r.restart.nc")
    r = read_restart(tmp_path / "r.restart.nc")
    for k, a in arrays.items():
        assert r.arrays[k].shape == a.shape
        assert np.array_equal(r.arrays[k].view(np.uint64), a.view(np.uint64))
    assert (r.step, r.outputs, r.emulator_state, r.model) == (12, 3, {"counter": 2**63 + 5}, "heat")


def write_experiment(tmp_path: Path) -> Path:
    path = tmp_path / "exp.toml"
    path.write_text('model = "heat"\n[precision]\nsbits = 52\n[run]\nlength = "2 days"\n'
                    'output_interval = "1 day"\n')
    return path


def test_cli_run_with_overrides_then_continue_and_inspect(tmp_path):
    exp = write_experiment(tmp_path)
    runner = CliRunner()
    out = tmp_path / "a.nc"
    args = ["run", str(exp), "--sbits", "10", "--mode", "stochastic", "--seed", "4",
            "--member", "1", "--length", "3 days", "--set", "params.dz=2.0", "-o", str(out), "-q"]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    resolved = load_config(out.with_suffix(".toml"))
    assert resolved.precision.sbits == 10 and resolved.precision.mode == "stochastic"
    assert resolved.precision.seed == 4 and resolved.run.member == 1
    assert resolved.run.length == "3 days" and resolved.params["dz"] == 2.0
    assert open_run(out).sizes["time"] == 3 and out.with_suffix(".restart.nc").exists()

    again = runner.invoke(main, args)                      # never overwrites silently
    assert again.exit_code == 1 and "exists" in again.output and "--overwrite" in again.output
    assert runner.invoke(main, args + ["--overwrite"]).exit_code == 0

    b = tmp_path / "b.nc"
    cont = runner.invoke(main, args[:-3] + ["-o", str(b), "--restart-from",
                                            str(out.with_suffix(".restart.nc")), "-q"])
    assert cont.exit_code == 0, cont.output
    assert open_run(b).attrs["lowprec_start_step"] == 3 * 48

    shown = runner.invoke(main, ["inspect", str(out)])
    assert shown.exit_code == 0
    for text in ("heat", "sbits 10", "stochastic", "complete", "time 3", "depth 31", "[K]"):
        assert text in shown.output, text


def test_cli_reports_bad_configs_clearly(tmp_path):
    exp = write_experiment(tmp_path)
    runner = CliRunner()
    bad = runner.invoke(main, ["run", str(exp), "--mode", "sideways", "-o", str(tmp_path / "x.nc")])
    assert bad.exit_code == 1
    assert "exp.toml: precision.mode = 'sideways'" in bad.output and "stochastic" in bad.output
    bad = runner.invoke(main, ["run", str(exp), "--set", "params.nz=31", "-o", str(tmp_path / "x.nc")])
    assert bad.exit_code == 1 and "params.nz" in bad.output
    bad = runner.invoke(main, ["run", str(exp), "--set", "nonsense", "-o", str(tmp_path / "x.nc")])
    assert bad.exit_code == 2 and "KEY=VALUE" in bad.output
    missing = runner.invoke(main, ["run", str(exp)])
    assert missing.exit_code == 2 and "--output" in missing.output


def test_console_script_is_installed():
    script = Path(sys.executable).parent / "lowprec"
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "run" in result.stdout and "inspect" in result.stdout
