"""One run: what it writes, restarts bit for bit, resumes, never overwrites, records blow-ups."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import xarray as xr
from click.testing import CliRunner

from lowprec.errors import ConfigError
from lowprec.harness.cli import main
from lowprec.harness.run import run
from lowprec.harness.store import open_run, read_restart, write_atomic, write_restart
from models.base import FLOAT64, Output, register


# A throwaway model following models/base.py: x ← g·x per step, so it overflows on schedule.
@dataclass(frozen=True)
class GrowthParams:
    growth: float = 2.0**100        # factor per step
    size: int = 3


@register("test_growth")
class Growth:
    name = "test_growth"
    Params = GrowthParams
    COMPONENTS = ("growth",)
    OUTPUTS = (Output("x", ("time", "cell"), units="1", long_name="growing quantity"),)
    time_units = "s"

    def __init__(self, params: GrowthParams | None = None, emu=FLOAT64) -> None:
        self.params = params or GrowthParams()
        self.emu, self.dt = emu, 3600.0
        emu.declare_components(self.COMPONENTS)
        with emu.component("growth"):
            self.g = emu.const(self.params.growth)

    def initial_state(self, seed: int):
        with self.emu.component("growth"):
            return self.emu.asarray(np.ones(self.params.size))

    def step(self, x):
        with self.emu.component("growth"):
            return self.g * x

    def coords(self):
        return {"cell": (("cell",), np.arange(self.params.size, dtype=np.float64), {"units": "1",
                                                                                  "long_name": "cell"})}

    def diagnostics(self, x):
        return {"x": np.array(self.emu.to_float64(x), dtype=np.float64)}

    def state_arrays(self, x):
        return {"x": np.array(self.emu.to_float64(x), dtype=np.float64)}

    def state_from_arrays(self, arrays):
        with self.emu.component("growth"):
            return self.emu.asarray(arrays["x"])


def heat(length: str = "10 days", **precision) -> dict:
    return {"model": "heat", "precision": precision,
            "run": {"length": length, "output_interval": "1 day"}}


STOCHASTIC = {"sbits": 10, "mode": "stochastic", "seed": 5}


def bits(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    return a.view(np.uint64 if a.dtype == np.float64 else np.uint32)


def test_output_equals_a_hand_integration_with_spinup():
    from models.heat import HeatColumn, Params
    cfg = heat("5 days")
    cfg["run"]["spinup"] = "2 days"
    cfg["params"] = {"diurnal": True}
    ds = run(cfg)
    model = HeatColumn(Params(diurnal=True), FLOAT64)
    state = model.initial_state(0)
    expected = []
    for n in range(1, 7 * 48 + 1):
        state = model.step(state)
        if n > 2 * 48 and n % 48 == 0:
            expected.append(model.diagnostics(state)["T"])
    assert np.array_equal(bits(ds["T"].values), bits(np.array(expected)))
    days = [(t - ds.time.values[0]).days for t in ds.time.values]
    assert days == [0, 1, 2, 3, 4]
    assert ds.time.values[0].day == 4 and ds.time.values[0].calendar == "noleap"   # day 3 of year 1 ends
    assert ds.attrs["lowprec_status"] == "complete"
    assert int(ds["sbits"]) == 52 and str(ds["mode"].values) == "nearest" and int(ds["member"]) == 0


def test_stochastic_continuation_from_restart_is_bit_identical(tmp_path):
    whole = run(heat("8 days", **STOCHASTIC), tmp_path / "whole.nc")
    run(heat("4 days", **STOCHASTIC), tmp_path / "a.nc")
    b = run(heat("4 days", **STOCHASTIC), tmp_path / "b.nc", restart_from=tmp_path / "a.restart.nc")
    joined = xr.concat([open_run(tmp_path / "a.nc"), open_run(tmp_path / "b.nc")], "time")
    assert joined["T"].dtype == whole["T"].dtype == np.float32
    assert np.array_equal(bits(joined["T"].values), bits(whole["T"].values))
    assert np.array_equal(joined["time"].values, whole["time"].values)
    assert b.attrs["lowprec_start_step"] == 4 * 48

    # The test can fail: the same continuation without the rounding counter differs.
    r = read_restart(tmp_path / "a.restart.nc")
    write_restart(r.__class__(r.arrays, r.step, r.outputs, {"counter": 0}, r.model, r.config),
                  tmp_path / "nocounter.restart.nc")
    c = run(heat("4 days", **STOCHASTIC), tmp_path / "c.nc",
            restart_from=tmp_path / "nocounter.restart.nc")
    assert not np.array_equal(bits(c["T"].values), bits(b["T"].values))


def test_restart_refuses_other_model_parameters(tmp_path):
    run(heat("1 days"), tmp_path / "a.nc")
    cfg = heat("1 days")
    cfg["params"] = {"dz": 2.0}
    with pytest.raises(ConfigError, match="dz"):
        run(cfg, tmp_path / "b.nc", restart_from=tmp_path / "a.restart.nc")


class Interrupt(Exception):
    pass


def test_interrupted_run_resumes_bit_identically(tmp_path):
    cfg = heat("12 days", **STOCHASTIC)
    cfg["run"]["checkpoint_interval"] = "5 days"
    whole = run(cfg)

    def stop(info):
        if info.step >= 7 * 48:
            raise Interrupt

    path = tmp_path / "run.nc"
    with pytest.raises(Interrupt):
        run(cfg, path, progress=stop)
    partial = open_run(path)
    assert partial.attrs["lowprec_status"] == "interrupted"   # stopped by an error
    assert partial.sizes["time"] == 7                  # checkpoint at 5, then saved on the way out
    assert not list(tmp_path.glob("*.partial"))

    with pytest.raises(ConfigError, match="exists"):
        run(cfg, path)                                  # never silently over an existing file
    calls = []
    done = run(cfg, path, resume=True, progress=calls.append)
    assert calls and done.attrs["lowprec_status"] == "complete"
    assert np.array_equal(bits(open_run(path)["T"].values), bits(whole["T"].values))
    assert "resumed at step" in done.attrs["history"]

    calls.clear()
    again = run(cfg, path, resume=True, progress=calls.append)
    assert not calls and again.attrs["lowprec_status"] == "complete"     # finished: not recomputed


def test_resume_refuses_a_different_experiment(tmp_path):
    cfg = heat("6 days", **STOCHASTIC)
    cfg["run"]["checkpoint_interval"] = "2 days"

    def stop(info):
        if info.step >= 3 * 48:
            raise Interrupt

    with pytest.raises(Interrupt):
        run(cfg, tmp_path / "r.nc", progress=stop)
    other = heat("6 days", **{**STOCHASTIC, "seed": 6})
    with pytest.raises(ConfigError, match="differs"):
        run(other, tmp_path / "r.nc", resume=True)


def test_overwrite_and_experiment_file_guard(tmp_path):
    path = tmp_path / "r.nc"
    run(heat("1 days"), path)
    with pytest.raises(ConfigError, match="overwrite"):
        run(heat("1 days"), path)
    ds = run(heat("2 days"), path, overwrite=True)
    assert open_run(path).sizes["time"] == ds.sizes["time"] == 2
    exp_file = tmp_path / "exp.toml"
    exp_file.write_text('model = "heat"\n[run]\nlength = "1 day"\noutput_interval = "1 day"\n')
    with pytest.raises(ConfigError, match="your experiment file"):
        run(exp_file, tmp_path / "exp.nc", overwrite=True)
    assert exp_file.read_text().startswith('model = "heat"')


def test_failed_write_leaves_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "r.nc"
    old = run(heat("2 days"), path)

    def broken(self, target, *args, **kwargs):
        with open(target, "wb") as f:
            f.write(b"CDF\x01 half a file")
        raise OSError("disk full")

    monkeypatch.setattr(xr.Dataset, "to_netcdf", broken)
    with pytest.raises(OSError, match="disk full"):
        write_atomic(old.isel(time=slice(0, 1)), path)
    monkeypatch.undo()
    assert not list(tmp_path.glob("*.partial"))
    assert np.array_equal(open_run(path)["T"].values, old["T"].values)


def growth(growth: float, length: str = "20 hours", **precision) -> dict:
    return {"model": "test_growth", "params": {"growth": growth}, "precision": precision,
            "run": {"length": length, "output_interval": "2 hours"}}


def test_blow_up_keeps_the_outputs_before_it(tmp_path):
    # x = 2**(100 n): finite up to n = 10, inf at n = 11 (> 2**1024); outputs every 2 steps.
    ds = run(growth(2.0**100), tmp_path / "g.nc")
    assert ds.attrs["lowprec_status"] == "blown_up"
    assert ds.attrs["lowprec_blowup_step"] == 11         # the first non-finite step, n = 11
    assert ds.attrs["lowprec_blowup_time"] == 11 / 24     # days
    assert ds.sizes["time"] == 5
    assert np.array_equal(ds["x"].values[:, 0], 2.0 ** (200.0 * np.arange(1, 6)))
    on_disk = open_run(tmp_path / "g.nc")
    assert on_disk.attrs["lowprec_status"] == "blown_up" and on_disk.sizes["time"] == 5
    assert read_restart(tmp_path / "g.restart.nc").step == 10      # the last finite output

    result = CliRunner().invoke(main, ["run", str(_write(tmp_path, growth(2.0**100))),
                                       "-o", str(tmp_path / "cli.nc"), "-q"])
    assert result.exit_code == 3 and "blew up" in result.output and "step 11" in result.output


def test_blow_up_before_the_first_output(tmp_path):
    ds = run(growth(2.0**600, "4 hours"), tmp_path / "g.nc")
    assert ds.attrs["lowprec_status"] == "blown_up" and "time" not in ds.dims    # no empty axis
    assert ds.attrs["lowprec_absent_variables"] == "x" and "x" not in ds
    assert ds.attrs["lowprec_blowup_step"] == 2
    assert not (tmp_path / "g.restart.nc").exists()


def _write(tmp_path, cfg) -> str:
    import tomli_w
    path = tmp_path / "exp_growth.toml"
    path.write_text(tomli_w.dumps(cfg))
    return str(path)


def test_storage_is_float32_only_when_every_value_is_exact():
    assert run(heat("2 days"))["T"].dtype == np.float64                      # 52 sbits
    assert run(heat("2 days", sbits=10))["T"].dtype == np.float32            # values near 273 K
    anomaly = heat("2 days", sbits=10)
    anomaly["params"] = {"anomaly": True}                                    # T = θ + 273.15 in float64
    assert run(anomaly)["T"].dtype == np.float64
    # 10 sbits with float64's exponent range: 2**150 is a 10-sbit value but beyond float32.
    big = run(growth(2.0**30, "10 hours", sbits=10))
    assert big["x"].dtype == np.float64
    assert big["x"].values[-1, 0] == 2.0**300


def test_variables_subset_and_model_time_for_lorenz():
    ds = run({"model": "lorenz63", "params": {"particles": 4},
              "run": {"length": "0.5 time units", "output_interval": "0.1 time units",
                      "spinup": "1 time units", "variables": ["z"]}})
    assert list(ds.data_vars) == ["z"]
    assert np.allclose(ds["time"].values, [1.1, 1.2, 1.3, 1.4, 1.5], rtol=0, atol=1e-12)
    assert ds["time"].attrs["units"] == "1"


def lorenz(length: str, **precision) -> dict:
    return {"model": "lorenz63", "params": {"particles": 16}, "precision": precision,
            "run": {"length": length, "output_interval": "0.1 time units",
                    "spinup": "0.5 time units"}}


def test_lorenz_stochastic_continuation_is_bit_identical(tmp_path):
    whole = run(lorenz("0.6 time units", **STOCHASTIC))
    run(lorenz("0.3 time units", **STOCHASTIC), tmp_path / "a.nc")
    run(lorenz("0.3 time units", **STOCHASTIC), tmp_path / "b.nc",
        restart_from=tmp_path / "a.restart.nc")
    joined = xr.concat([open_run(tmp_path / "a.nc"), open_run(tmp_path / "b.nc")], "time")
    for name in "xyz":
        assert np.array_equal(bits(joined[name].values), bits(whole[name].values)), name
    assert np.array_equal(joined["time"].values, whole["time"].values)


def test_component_overrides_reach_the_emulator():
    base = run(lorenz("0.2 time units", sbits=10))
    same = run(lorenz("0.2 time units", sbits=10,
                      components={"tendencies": {"sbits": 10}, "timestepping": {"sbits": 10}}))
    wide = run(lorenz("0.2 time units", sbits=10, components={"tendencies": {"sbits": 52}}))
    assert np.array_equal(bits(base["x"].values), bits(same["x"].values))
    assert not np.array_equal(base["x"].values, wide["x"].values)


def test_progress_lines_on_a_stream_and_silence_when_quiet():
    import io
    from lowprec.harness.progress import Progress
    stream = io.StringIO()                    # not a terminal: one line per 10 % and a final one
    bar = Progress("demo", 100, step_time=1 / 48, start_time=0.0, time_unit="days", stream=stream)
    for step in range(1, 101):
        bar.update(step)
    bar.close(100)
    lines = stream.getvalue().splitlines()
    assert 10 <= len(lines) <= 12
    assert lines[-1].startswith("demo: 100/100 steps (100%)") and "done in" in lines[-1]
    assert "ETA" in lines[0] and "steps/s" in lines[0]
    quiet = io.StringIO()
    bar = Progress("demo", 100, step_time=1.0, start_time=0.0, time_unit="days", enabled=False,
                   stream=quiet)
    bar.update(50)
    bar.close(100)
    assert quiet.getvalue() == ""
