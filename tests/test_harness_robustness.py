"""Nothing lost, nothing mislabelled: companion files, write order, blow-up steps, SIGTERM,
seed range, resume and inspect messages, progress after resume."""
from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import lowprec.harness.run as run_module
from lowprec.errors import ConfigError
from lowprec.harness.cli import main
from lowprec.harness.config import load_config, make_emulator, make_model, member_seed
from lowprec.harness.run import run
from lowprec.harness.store import open_run, output_companions, read_restart
from test_harness_run import STOCHASTIC, Interrupt, bits, growth, heat

ROOT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------------------------
# 1. Companion files

def test_companions_replace_only_a_final_nc():
    assert output_companions(Path("d/a.nc")) == (Path("d/a.restart.nc"), Path("d/a.toml"))
    assert output_companions(Path("run.sb10")) == (Path("run.sb10.restart.nc"),
                                                   Path("run.sb10.toml"))
    assert output_companions(Path("out.toml")) == (Path("out.toml.restart.nc"),
                                                   Path("out.toml.toml"))


def test_outputs_differing_after_the_last_dot_keep_their_own_companions(tmp_path):
    for sbits in (52, 10):
        run(heat("2 days", sbits=sbits), tmp_path / f"run.sb{sbits}")
    for sbits in (52, 10):
        restart = read_restart(tmp_path / f"run.sb{sbits}.restart.nc")
        assert load_config(restart.config).precision.sbits == sbits
        assert load_config(tmp_path / f"run.sb{sbits}.toml").precision.sbits == sbits
        assert open_run(tmp_path / f"run.sb{sbits}").attrs["lowprec_sbits"] == sbits


def test_an_output_named_toml_keeps_its_netcdf_and_config(tmp_path):
    out = tmp_path / "out.toml"
    ds = run(heat("2 days"), out)
    assert open_run(out).sizes["time"] == ds.sizes["time"] == 2       # still the netCDF
    assert load_config(tmp_path / "out.toml.toml").run.output == str(out)


def test_companions_of_another_output_are_refused_unless_overwrite(tmp_path):
    # "a" and "a.nc" still share a.restart.nc and a.toml; the companions record their owner.
    run(heat("2 days"), tmp_path / "a.nc")
    with pytest.raises(ConfigError, match="belongs to the output") as e:
        run(heat("1 day"), tmp_path / "a")
    assert "a.nc" in str(e.value) and "overwrite" in str(e.value)
    assert read_restart(tmp_path / "a.restart.nc").outputs == 2          # untouched
    assert load_config(tmp_path / "a.toml").run.length == "2 days"
    run(heat("1 day"), tmp_path / "a", overwrite=True)                   # replaced on request
    assert read_restart(tmp_path / "a.restart.nc").outputs == 1
    run(heat("1 day"), tmp_path / "a.nc", overwrite=True)                # and back
    assert read_restart(tmp_path / "a.restart.nc").outputs == 1


def test_a_companion_equal_to_the_output_is_refused(tmp_path, monkeypatch):
    def old_scheme(path):                            # the with_suffix scheme: c.toml -> c.toml
        path = Path(path)
        return path.with_suffix(".restart.nc"), path.with_suffix(".toml")

    monkeypatch.setattr(run_module, "output_companions", old_scheme)
    with pytest.raises(ConfigError, match="would be the output itself"):
        run(heat("1 day"), tmp_path / "c.toml")
    assert not (tmp_path / "c.toml").exists()


# --------------------------------------------------------------------------------------------
# 2. The final restart is written before the final output

def test_a_failure_between_the_final_writes_never_leaves_a_complete_output_without_restart(
        tmp_path, monkeypatch):
    cfg = heat("4 days", **STOCHASTIC)
    cfg["run"]["checkpoint_interval"] = "2 days"
    whole = run(cfg)
    path = tmp_path / "r.nc"
    real_write_restart = run_module.write_restart

    def dies_at_the_final_restart(restart, target, *layout):
        if restart.outputs == 4:
            raise OSError("killed")
        real_write_restart(restart, target, *layout)

    monkeypatch.setattr(run_module, "write_restart", dies_at_the_final_restart)
    with pytest.raises(OSError, match="killed"):
        run(cfg, path)
    monkeypatch.undo()
    on_disk = open_run(path)
    restart = read_restart(output_companions(path)[0])
    # Whatever was written, an output marked complete must have its final restart.
    assert on_disk.attrs["lowprec_status"] != "complete"
    assert restart.outputs <= on_disk.sizes["time"]
    done = run(cfg, path, resume=True)
    assert done.attrs["lowprec_status"] == "complete"
    assert np.array_equal(bits(open_run(path)["T"].values), bits(whole["T"].values))
    assert read_restart(output_companions(path)[0]).step == 4 * 48


def test_a_failure_writing_the_final_output_keeps_the_final_restart(tmp_path, monkeypatch):
    from lowprec.harness.store import RunFile
    cfg = heat("4 days", **STOCHASTIC)
    cfg["run"]["checkpoint_interval"] = "2 days"
    whole = run(cfg)
    path = tmp_path / "r.nc"
    real_write = RunFile.write

    def dies_at_the_final_output(self, block, final=False):
        if block.attrs["lowprec_status"] == "complete":
            raise OSError("killed")
        real_write(self, block, final=final)

    monkeypatch.setattr(RunFile, "write", dies_at_the_final_output)
    with pytest.raises(OSError, match="killed"):
        run(cfg, path)
    monkeypatch.undo()
    assert read_restart(output_companions(path)[0]).outputs == 4       # written first
    assert open_run(path).attrs["lowprec_status"] in ("running", "interrupted")
    done = run(cfg, path, resume=True)
    assert done.attrs["lowprec_status"] == "complete"
    assert np.array_equal(bits(open_run(path)["T"].values), bits(whole["T"].values))


# --------------------------------------------------------------------------------------------
# 3. The recorded blow-up step is the first non-finite step

def first_nonfinite_step(cfg: dict, limit: int) -> int | None:
    """Independent oracle: step the model one step at a time, checking every state."""
    exp = load_config(cfg)
    emu = None if exp.precision.is_float64 else make_emulator(exp)
    model = make_model(exp, emu)
    state = model.initial_state(member_seed(exp))
    with np.errstate(all="ignore"):
        for n in range(limit + 1):
            if n:
                state = model.step(state)
            if not all(np.isfinite(a).all() for a in model.state_arrays(state).values()):
                return n
    return None


def test_blow_up_of_the_initial_state_is_step_zero():
    cfg = heat("3 days", sbits=10, ebits=4)         # 273 K is beyond 4 exponent bits' range
    assert first_nonfinite_step(cfg, 0) == 0
    ds = run(cfg)
    assert ds.attrs["lowprec_status"] == "blown_up" and ds.sizes.get("time", 0) == 0
    assert ds.attrs["lowprec_blowup_step"] == 0 and ds.attrs["lowprec_blowup_time"] == 0.0


def test_blow_up_between_checks_is_located_to_the_step():
    # x = 1.5**n overflows at n = 1751, between the checks at 1000 and 2000 steps.
    cfg = growth(1.5, "3000 hours")
    cfg["run"]["output_interval"] = "3000 hours"
    expected = first_nonfinite_step(cfg, 3000)
    x, n = 1.0, 0
    while math.isfinite(x):                          # plain Python floats agree
        x, n = x * 1.5, n + 1
    assert expected == n == 1751
    ds = run(cfg)
    assert ds.attrs["lowprec_blowup_step"] == expected
    assert ds.attrs["lowprec_blowup_time"] == expected / 24          # days (dt = 1 hour)


def test_stochastic_blow_up_in_the_spinup_is_located_to_the_step(tmp_path):
    cfg = growth(1.5, "1000 hours", sbits=10, mode="stochastic", seed=3)
    cfg["run"].update(output_interval="1000 hours", spinup="2500 hours")
    expected = first_nonfinite_step(cfg, 3500)
    assert expected is not None and 1000 < expected < 2000
    ds = run(cfg, tmp_path / "g.nc")
    assert ds.attrs["lowprec_blowup_step"] == expected
    assert open_run(tmp_path / "g.nc").attrs["lowprec_blowup_step"] == expected


# --------------------------------------------------------------------------------------------
# 4. SIGTERM saves the checkpoint; --resume continues bit for bit

SLOW_HEAT = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from models.heat import HeatColumn
    marker, args = Path(sys.argv[1]), sys.argv[2:]
    calls = [0]
    original = HeatColumn.step

    def step(self, state):             # same arithmetic; slow after day 5, so SIGTERM lands mid-run
        calls[0] += 1
        if calls[0] == 5 * 48:
            marker.write_text("day 5")
        if calls[0] >= 5 * 48:
            time.sleep(0.005)
        return original(self, state)

    HeatColumn.step = step
    from lowprec.harness.cli import main
    main(args, prog_name="lowprec")
""")


def test_sigterm_saves_a_checkpoint_that_resume_continues_bit_identically(tmp_path):
    import tomli_w
    cfg = heat("20 days", **STOCHASTIC)            # no checkpoint_interval: none before SIGTERM
    exp_file = tmp_path / "exp.toml"
    exp_file.write_text(tomli_w.dumps(cfg))
    script = tmp_path / "slow.py"
    script.write_text(SLOW_HEAT)
    marker, out = tmp_path / "marker", tmp_path / "run.nc"
    proc = subprocess.Popen([sys.executable, str(script), str(marker), "run", str(exp_file),
                             "-o", str(out), "-q"], cwd=ROOT, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        while not marker.exists() and proc.poll() is None:
            time.sleep(0.01)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, err
    assert "SIGTERM" in err and "--resume" in err
    partial = open_run(out)
    assert partial.attrs["lowprec_status"] == "interrupted"
    assert partial.attrs["lowprec_interrupted_by"] == "SIGTERM"
    assert 4 <= partial.sizes["time"] < 20
    assert read_restart(output_companions(out)[0]).outputs == partial.sizes["time"]

    done = run(cfg, out, resume=True)
    assert done.attrs["lowprec_status"] == "complete" and "resumed at step" in done.attrs["history"]
    assert np.array_equal(bits(open_run(out)["T"].values), bits(run(cfg)["T"].values))


def test_sigterm_handler_is_restored_and_absent_outside_the_main_thread():
    before = signal.getsignal(signal.SIGTERM)
    run(heat("1 day"))
    assert signal.getsignal(signal.SIGTERM) is before
    result = {}
    worker = threading.Thread(target=lambda: result.update(ds=run(heat("1 day"))))
    worker.start()
    worker.join()
    assert result["ds"].attrs["lowprec_status"] == "complete"


# --------------------------------------------------------------------------------------------
# 5.-8. Seed range, resume message, inspecting restarts, progress after resume

@pytest.mark.parametrize("key, value", [("precision.seed", 2**63), ("precision.seed", 2**64),
                                        ("run.member", 2**31)])
def test_seed_and_member_beyond_their_storage_are_config_errors(key, value):
    with pytest.raises(ConfigError, match=rf"{key} = {value}: .*below 2\*\*"):
        load_config(heat("1 day"), {key: value})


def test_the_largest_seed_runs():
    ds = run(heat("1 day", sbits=10, mode="stochastic", seed=2**63 - 1))
    assert ds.attrs["lowprec_seed"] == 2**63 - 1


def test_resume_refusal_names_the_differing_keys(tmp_path):
    cfg = heat("6 days", **STOCHASTIC)
    cfg["run"]["checkpoint_interval"] = "2 days"

    def stop(info):
        if info.step >= 3 * 48:
            raise Interrupt

    with pytest.raises(Interrupt):
        run(cfg, tmp_path / "r.nc", progress=stop)
    other = heat("6 days", **{**STOCHASTIC, "seed": 6})
    other["params"] = {"dz": 2.0}
    with pytest.raises(ConfigError) as e:
        run(other, tmp_path / "r.nc", resume=True)
    assert "precision.seed: 5 in the file, 6 now" in str(e.value)
    assert "params.dz:" in str(e.value) and "2.0 now" in str(e.value)


def test_inspect_describes_a_restart_file(tmp_path):
    run(heat("2 days", **STOCHASTIC), tmp_path / "a.nc")
    restart = read_restart(tmp_path / "a.restart.nc")
    shown = CliRunner().invoke(main, ["inspect", str(tmp_path / "a.restart.nc")])
    assert shown.exit_code == 0, shown.output
    for text in ("restart", "model      heat", f"step       {2 * 48}", "t = 2 days",
                 f"\"counter\": {restart.emulator_state['counter']}", "sbits 10",
                 "mode stochastic", "(seed 5)"):
        assert text in shown.output, (text, shown.output)
    assert "None" not in shown.output


def test_progress_after_resume_counts_from_the_start_of_the_run(tmp_path):
    cfg = heat("12 days", **STOCHASTIC)
    cfg["run"]["checkpoint_interval"] = "5 days"

    def stop(info):
        if info.step >= 7 * 48:
            raise Interrupt

    with pytest.raises(Interrupt):
        run(cfg, tmp_path / "r.nc", progress=stop)
    calls = []
    run(cfg, tmp_path / "r.nc", resume=True, progress=calls.append)
    last = calls[-1]
    assert last.done and last.step == last.total == 12 * 48
    assert calls[0].step > 7 * 48 and last.model_time == 12.0
    # speed from this session's 5 days of steps, not the resumed 7
    assert math.isclose(last.steps_per_second * last.elapsed, 5 * 48)
