"""The end-to-end oracle: every model run natively equals the emulator, bit for bit.

The same model code on numpy float32 arrays must equal the emulator at Format(23, 8) with
nearest rounding (+ − × ÷ √ are correctly rounded in hardware, and the emulator rounds each
float64 result once: exact emulation), float16 Format(10, 5), and ml_dtypes' bfloat16 and
float8 (e5m2, e4m3, e3m4) their Formats. Checked for every model of the registry
(`models.MODEL_MODULES`: a model added there joins by default), entered both ways: the model
classes handed the two arithmetics, and `lowprec.run` with precision.backend native/emulated.

What must be identical and what is only measured: a model whose step uses a compound operation
(sum, matmul, FFT) or a transcendental function (exp, log, sin, power) cannot be bit-identical
(numpy's float32 libraries sum in their own order, and are not correctly rounded). Which
operations a step uses is traced here through the emulator; for such a model only the entered
initial state must be identical, and one step is compared with a loose bound (measured, not
exact). Today's models (Lorenz-63, heat, shallow water) use none in their steps, so all of them
must be identical to the last bit; `SpectralToy` below exercises the other branch.

Configurations: SMALL (a table here), else a model's own `SMALL_PARAMS` class attribute, else
its defaults; a format outside a model's range gets a variant (RANGE_VARIANTS) that keeps the
state finite where one exists (Lorenz-63's power-of-two scaling, the heat anomaly, shallow
water's nondimensional gradients). Comparisons treat NaN as equal to NaN at the same place
(payloads carry no meaning) and compare every other value by its float64 bits (−0 ≠ +0).
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pytest

import lowprec
import models
from lowprec import Emulator, Format
from lowprec.emulated import rules
from lowprec.emulated.array import EmulatedArray
from lowprec.errors import ConfigError, NotEmulatedError
from lowprec.harness.config import load_config, make_arithmetic
from lowprec.harness.run import run
from lowprec.harness.store import open_run, read_restart
from lowprec.native import NativeArithmetic
from models.base import FLOAT64

FORMATS = {"float32": Format(23, 8), "float16": Format(10, 5), "bfloat16": Format(7, 8),
           "e5m2": Format(2, 5), "e4m3": Format(3, 4), "e3m4": Format(4, 3)}

# model -> (params, steps): small, but long enough for every rounding to matter many times
SMALL = {
    "lorenz63": ({"particles": 64, "prespin": 1.0}, 1000),
    "heat": ({}, 5000),
    "shallow_water": ({"nx": 20, "ny": 10}, 150),
}
# (model, format) -> parameter changes keeping the state finite (none keeps Lorenz-63 finite
# in e3m4, whose largest value is 15.5 < ρ = 28: that one compares inf/NaN patterns)
RANGE_VARIANTS = {
    ("lorenz63", "e4m3"): {"scale": 0.25},          # x·y would pass 240
    ("lorenz63", "e3m4"): {"scale": 1 / 16},
    ("heat", "e4m3"): {"anomaly": True},            # 280 K > 240
    ("heat", "e3m4"): {"anomaly": True},
    ("heat", "e5m2"): {"anomaly": True},            # finite, but 280 K stagnates at 2 sbits
    **{("shallow_water", f): {"nondimensional": True}       # ν = 1.33e11 overflows
       for f in ("float16", "e5m2", "e4m3", "e3m4")},
}
FINITE_EXPECTED = {"float32", "float16", "bfloat16", "e5m2"}   # and for heat every format
DEFAULT_STEPS = 20

# Operations whose float32/float16 hardware results are correctly rounded (or exact): the rest
# of the emulator's ROUND_RESULT and COMPOUND tables (exp, log, power, sum, matmul, fft ...) are
# not bit-identical between numpy's libraries and the emulator.
CORRECTLY_ROUNDED = {np.add, np.subtract, np.multiply, np.divide, np.sqrt, np.square,
                     np.reciprocal, np.absolute, np.sign}
# numpy computes these in float32 for float16 data (FFT) and ml_dtypes' bfloat16 matmul returns
# float32: natively, a model using them leaves a narrower dtype and is refused at its output
# Models whose state is complex (spectral coefficients): numpy has no complex float16,
# bfloat16 or float8, so natively they run in float32 and float64 only, and say so.
COMPLEX_STATE = {"gcm"}
LEAVE_NARROW_DTYPES = {np.fft.rfft, np.fft.irfft, np.fft.fft, np.fft.ifft, np.matmul, np.dot,
                       np.einsum}


def small_config(name: str, fmt_name: str | None = None) -> tuple[dict, int]:
    cls = models.get_model_class(name)
    params, steps = SMALL.get(name, (dict(getattr(cls, "SMALL_PARAMS", {})), DEFAULT_STEPS))
    return {**params, **RANGE_VARIANTS.get((name, fmt_name), {})}, steps


def differing(a: dict, b: dict) -> list[str]:
    """Names of state arrays that differ (NaN equals NaN at the same place; else float64 bits)."""
    out = []
    for k in a:
        x, y = np.asarray(a[k], np.float64), np.asarray(b[k], np.float64)
        nx, ny = np.isnan(x), np.isnan(y)
        if x.shape != y.shape or not np.array_equal(nx, ny) or not np.array_equal(
                x[~nx].view(np.uint64), y[~ny].view(np.uint64)):
            out.append(k)
    return out


def integrate(cls: type, params: dict, arith, steps: int, seed: int = 11) -> tuple[dict, dict]:
    """(initial state arrays, final state arrays) of `steps` steps."""
    model = cls(cls.Params(**params), arith)
    state = model.initial_state(seed)
    first = model.state_arrays(state)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)     # overflow in the narrow formats
        for _ in range(steps):
            state = model.step(state)
    return first, model.state_arrays(state)


def traced_operations(cls: type, params: dict, fmt: Format, monkeypatch) -> set:
    """The numpy ufuncs and functions one step calls on emulated arrays (besides the operators
    + − × ÷ and unary −, which take the emulator's fast path and are correctly rounded)."""
    calls: set = set()
    ufunc, function = EmulatedArray.__array_ufunc__, EmulatedArray.__array_function__

    def traced_ufunc(self, uf, method, *inputs, **kwargs):
        calls.add(uf if method == "__call__" else (uf, method))
        return ufunc(self, uf, method, *inputs, **kwargs)

    def traced_function(self, func, types, args, kwargs):
        calls.add(func)
        return function(self, func, types, args, kwargs)

    with monkeypatch.context() as m:
        m.setattr(EmulatedArray, "__array_ufunc__", traced_ufunc)
        m.setattr(EmulatedArray, "__array_function__", traced_function)
        integrate(cls, params, Emulator(fmt, "nearest"), 1)
    return calls


def inexact_in_hardware(calls: set) -> set:
    return {c for c in calls if c not in CORRECTLY_ROUNDED and c not in rules.MOVE_ONLY}


def check_native_equals_emulated(cls: type, name: str, params: dict, steps: int, fmt: Format,
                                 monkeypatch) -> dict | None:
    """Compare (see the module doc); returns the native final state arrays (None if refused)."""
    if name in COMPLEX_STATE and fmt.sbits < 23:
        with pytest.raises(NotEmulatedError, match="complex values have no .* dtype"):
            integrate(cls, params, NativeArithmetic(fmt), 1)
        return None
    inexact = inexact_in_hardware(traced_operations(cls, params, fmt, monkeypatch))
    if inexact & LEAVE_NARROW_DTYPES and fmt.sbits < 23:
        try:
            integrate(cls, params, NativeArithmetic(fmt), 1)
        except NotEmulatedError as e:     # the documented refusal, naming the wider dtype
            assert "float32 under NativeArithmetic" in str(e)
            return None
    native_first, native = integrate(cls, params, NativeArithmetic(fmt), steps)
    emulated_first, emulated = integrate(cls, params, Emulator(fmt, "nearest"), steps)
    assert not differing(native_first, emulated_first), "the entered initial state differs"
    if not inexact:
        bad = differing(native, emulated)
        assert not bad, f"{name} at {fmt}: {bad} differ from the emulator after {steps} steps"
        return native
    # compound or transcendental operations: one step, within a loose normwise bound. Rounding
    # differences of sums, transforms and libm are O(n·u); a wrong format or a lost term is
    # O(1). √u (half the bits agreeing) lies between, for every format.
    _, native = integrate(cls, params, NativeArithmetic(fmt), 1)
    _, emulated = integrate(cls, params, Emulator(fmt, "nearest"), 1)
    for k in emulated:
        finite = np.isfinite(emulated[k])
        assert np.array_equal(finite, np.isfinite(native[k])), f"{name} at {fmt}: {k} overflows"
        if not finite.any():
            continue
        scale = np.max(np.abs(emulated[k][finite]))
        diff = np.max(np.abs(native[k][finite] - emulated[k][finite]))
        assert diff <= math.sqrt(fmt.unit_roundoff) * scale, (
            f"{name} at {fmt} ({sorted(map(str, inexact))} inexact): {k} differs by "
            f"{diff:.3g} after one step, field scale {scale:.3g}")
    return native


@pytest.mark.parametrize("fmt_name", list(FORMATS))
@pytest.mark.parametrize("name", sorted(models.MODEL_MODULES))
def test_model_classes_native_equal_the_emulator(name, fmt_name, monkeypatch):
    cls = models.get_model_class(name)
    params, steps = small_config(name, fmt_name)
    final = check_native_equals_emulated(cls, name, params, steps, FORMATS[fmt_name], monkeypatch)
    if name in SMALL and (fmt_name in FINITE_EXPECTED or name == "heat"):   # not vacuous
        assert all(np.isfinite(v).all() for v in final.values()), f"{name} {fmt_name} not finite"


def arithmetic_spy(monkeypatch) -> list[type]:
    """The types of the arithmetic objects the harness hands its models, in order."""
    from lowprec.harness import run as run_module
    used: list[type] = []

    def recording(exp):
        arith = make_arithmetic(exp)
        used.append(type(arith))
        return arith
    monkeypatch.setattr(run_module, "make_arithmetic", recording)
    return used


def experiment(name: str, fmt: Format, backend: str, steps: int, params: dict) -> dict:
    return {"model": name, "params": params,
            "precision": {"sbits": fmt.sbits, "ebits": fmt.ebits, "backend": backend},
            "run": {"length": f"{steps} steps", "output_interval": f"{max(1, steps // 4)} steps"}}


@pytest.mark.parametrize("fmt_name", ["float32", "float16", "bfloat16", "e5m2"])
@pytest.mark.parametrize("name", sorted(models.MODEL_MODULES))
def test_lowprec_run_native_equals_emulated(name, fmt_name, monkeypatch):
    """Through the harness: the outputs of a native run equal the emulated run's, and the run
    file says which backend ran."""
    params, steps = small_config(name, fmt_name)
    steps = steps - steps % 4 or 4
    fmt = FORMATS[fmt_name]
    inexact = inexact_in_hardware(traced_operations(models.get_model_class(name), params, fmt,
                                                    monkeypatch))
    if inexact:         # compared (one step, within a bound) by the model-class test above
        pytest.skip(f"{name} uses {sorted(map(str, inexact))}: not bit-identical by design")
    used = arithmetic_spy(monkeypatch)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        native = run(experiment(name, fmt, "native", steps, params))
        emulated = run(experiment(name, fmt, "emulated", steps, params))
    assert used == [NativeArithmetic, Emulator]
    assert native.attrs["lowprec_backend"] == "native"
    assert emulated.attrs["lowprec_backend"] == "emulated"
    assert native.attrs["lowprec_policy"] == "native"
    assert 'backend = "native"' in native.attrs["lowprec_config"]
    outputs = {k: native[k].values for k in native.data_vars}
    assert not differing(outputs, {k: emulated[k].values for k in native.data_vars})


# --- the other branch: a model with compound operations ------------------------------------------
@dataclass(frozen=True)
class ToyParams:
    n: int = 64             # points on a periodic line
    rows: int = 4


class SpectralToy:
    """u ← irfft(rfft(u)·d) + Δt·(u @ M) + Δt·mean(u): FFT, matmul and a sum in every step."""

    COMPONENTS = ("dynamics",)

    def __init__(self, p: ToyParams, emu) -> None:
        self.p, self.emu = p, emu
        emu.declare_components(self.COMPONENTS)
        k = np.arange(p.n // 2 + 1)
        with emu.component("dynamics"):
            self.decay = emu.const(np.exp(-1e-3 * k**2))
            self.M = emu.const(np.random.default_rng(1).standard_normal((p.n, p.n)) / p.n)
            self.dt = emu.const(0.01)

    def initial_state(self, seed):
        with self.emu.component("dynamics"):
            return self.emu.asarray(np.random.default_rng(seed).standard_normal((self.p.rows,
                                                                                 self.p.n)))

    def step(self, u):
        with self.emu.component("dynamics"):
            smooth = np.fft.irfft(np.fft.rfft(u, axis=-1) * self.decay, n=self.p.n, axis=-1)
            return smooth + self.dt * (u @ self.M) + self.dt * np.mean(u, axis=-1, keepdims=True)

    def state_arrays(self, u):
        return {"u": self.emu.to_float64(u)}


SpectralToy.Params = ToyParams


def test_compound_operations_are_found_and_compared_within_the_bound(monkeypatch):
    calls = traced_operations(SpectralToy, {}, Format(23, 8), monkeypatch)
    assert {np.fft.rfft, np.fft.irfft, np.matmul, np.mean} <= inexact_in_hardware(calls)
    check_native_equals_emulated(SpectralToy, "toy", {}, 5, Format(23, 8), monkeypatch)
    _, native = integrate(SpectralToy, {}, NativeArithmetic(Format(23, 8)), 1)
    _, fused = integrate(SpectralToy, {}, Emulator(Format(23, 8), "nearest"), 1)
    assert differing(native, fused), "numpy's float32 FFT and BLAS equal fused rounding?"


@pytest.mark.parametrize("fmt", [Format(10, 5), Format(7, 8)], ids=str)
def test_a_narrow_fft_leaves_the_dtype_and_is_refused(fmt, monkeypatch):
    """numpy computes the FFT of float16 and bfloat16 data in float32: not a run in the format,
    and said so (the oracle's helper accepts exactly this refusal)."""
    with pytest.raises(NotEmulatedError, match="float32 under NativeArithmetic"):
        integrate(SpectralToy, {}, NativeArithmetic(fmt), 1)
    check_native_equals_emulated(SpectralToy, "toy", {}, 5, fmt, monkeypatch)


def test_bit_identity_breaks_when_a_step_goes_wrong(monkeypatch):
    """The oracle can fail: a native arithmetic whose constants are rounded toward zero."""
    class Truncating(NativeArithmetic):
        def const(self, x):
            return self.asarray(lowprec.round(np.asarray(x, np.float64), self.fmt,
                                              "toward_zero"))[()]
    cls = models.get_model_class("lorenz63")
    params, steps = small_config("lorenz63")
    _, native = integrate(cls, params, Truncating(Format(23, 8)), steps)
    _, emulated = integrate(cls, params, Emulator(Format(23, 8), "nearest"), steps)
    assert differing(native, emulated)


# --- the harness: config, refusals, restarts, sweeps --------------------------------------------
def heat(**precision) -> dict:
    return {"model": "heat", "precision": precision,
            "run": {"length": "4 days", "output_interval": "1 day"}}


@pytest.mark.parametrize("precision, message", [
    ({"sbits": 10, "ebits": 5, "mode": "stochastic", "backend": "native"}, "nearest .* only"),
    ({"sbits": 12, "backend": "native"}, r"Format\(sbits=12\) has no native dtype"),
    ({"sbits": 12, "ebits": 8, "backend": "native"}, "has no native dtype"),
    ({"sbits": 23, "ebits": 8, "backend": "native",
      "components": {"diffusion": {"sbits": 10, "ebits": 5}}}, "one dtype"),
    ({"sbits": 23, "ebits": 8, "backend": "native", "policy": "sequential"}, "policy 'native'"),
    ({"sbits": 23, "ebits": 8, "policy": "native"}, "needs backend = 'native'"),
    ({"sbits": 23, "backend": "hardware"}, "emulated, native"),
])
def test_config_refuses_what_has_no_native_arithmetic(precision, message):
    with pytest.raises(ConfigError, match=message) as err:
        load_config(heat(**precision))
    assert "\n" not in str(err.value) and "precision." in str(err.value)


def test_backend_defaults_and_the_resolved_config_round_trip():
    emulated = load_config(heat(sbits=10))
    assert emulated.precision.backend == "emulated" and emulated.precision.policy == "fused"
    assert "backend" not in emulated.to_dict()["precision"]     # earlier runs' configs match
    native = load_config(heat(sbits=10, ebits=5, backend="native"))
    assert native.precision.policy == "native"
    assert load_config(native.to_toml()) == native
    arith = make_arithmetic(native)
    assert isinstance(arith, NativeArithmetic) and arith.dtype == np.float16
    assert make_arithmetic(load_config(heat(sbits=52))) is FLOAT64
    assert isinstance(make_arithmetic(load_config(heat(backend="native"))), NativeArithmetic)


@pytest.mark.parametrize("fmt", [Format(23, 8), Format(10, 5), Format(7, 8)], ids=str)
def test_native_restart_is_bit_identical(tmp_path, fmt, monkeypatch):
    """float32/float16/bfloat16 state through a float64 restart file and back, continued: the
    same bits as the uninterrupted run (shallow water: three fields, nonlinear)."""
    def sw(length: str) -> dict:
        return {"model": "shallow_water",
                "params": {"nx": 20, "ny": 10, "nondimensional": fmt == Format(10, 5)},
                "precision": {"sbits": fmt.sbits, "ebits": fmt.ebits, "backend": "native"},
                "run": {"length": length, "output_interval": "6 hours"}}
    used = arithmetic_spy(monkeypatch)
    whole = run(sw("2 days"), tmp_path / "whole.nc")
    assert whole.attrs["lowprec_status"] == "complete"
    run(sw("1 day"), tmp_path / "first.nc")
    restart = read_restart(tmp_path / "first.restart.nc")
    assert restart.emulator_state == {}
    assert all(a.dtype == np.float64 for a in restart.arrays.values())
    second = run(sw("1 day"), tmp_path / "second.nc", restart_from=tmp_path / "first.restart.nc")
    n = second.sizes["time"]
    assert n == whole.sizes["time"] // 2
    assert not differing({k: whole[k].values[-n:] for k in ("u", "v", "eta")},
                         {k: second[k].values for k in ("u", "v", "eta")})
    assert open_run(tmp_path / "second.nc").attrs["lowprec_backend"] == "native"
    assert used == [NativeArithmetic] * 3


def test_tune_refuses_the_native_backend_before_writing_anything(tmp_path):
    # A tune's probes are per-component mixtures at sbits without a dtype: native cannot run them.
    from pathlib import Path
    from lowprec.harness.tune import tune
    config = Path(lowprec.__file__).parent / "experiments" / "shallow_water_tune.toml"
    with pytest.raises(ConfigError, match="backend = 'native': a tune runs one component"):
        tune(config, tmp_path / "tune", scheduler="serial", quiet=True,
             overrides={"precision.backend": "native", "tune.restarts": None})
    assert not (tmp_path / "tune").exists()


def test_sweep_plans_native_runs_and_refuses_stochastic_ones_before_starting(tmp_path):
    from lowprec.harness.sweep import experiment_for, plan, preflight
    cfg = {**heat(sbits=23, ebits=8, backend="native"),
           "sweep": {"sbits": [23], "modes": ["nearest"], "controls": 2, "members": 2}}
    keys = plan(cfg)
    preflight(load_config(cfg), keys)               # controls (float64) and float32: native
    for key in keys:
        arith = make_arithmetic(load_config(experiment_for(load_config(cfg), key)))
        assert isinstance(arith, NativeArithmetic)
        assert arith.dtype == (np.float64 if key.sbits == 52 else np.float32)
    bad = {**cfg, "sweep": {**cfg["sweep"], "modes": ["nearest", "stochastic"]}}
    with pytest.raises(ConfigError, match="stochastic.*nearest .* only"):
        preflight(load_config(bad), plan(bad))
    # `lowprec sweep --set precision.backend=native` (and `tune`) reach it as any override
    overridden = load_config({**heat(sbits=23, ebits=8), "sweep": bad["sweep"]},
                             {"precision.backend": "native"})
    assert overridden.precision.backend == "native"
    with pytest.raises(ConfigError, match="stochastic.*nearest .* only"):
        preflight(overridden, plan(bad))


def test_cli_backend_flag_and_inspect(tmp_path):
    from click.testing import CliRunner
    from lowprec.harness.cli import main
    from lowprec.harness.config import load_config as load
    import lowprec.experiments
    from pathlib import Path
    toml = Path(lowprec.experiments.__file__).parent / "heat.toml"
    out = tmp_path / "heat_native.nc"
    runner = CliRunner()
    result = runner.invoke(main, ["run", str(toml), "--backend", "native", "--sbits", "10",
                                  "--ebits", "5", "--length", "3 days", "-o", str(out), "-q"])
    assert result.exit_code == 0, result.output
    assert open_run(out).attrs["lowprec_backend"] == "native"
    assert load(tmp_path / "heat_native.toml").precision.backend == "native"
    shown = runner.invoke(main, ["inspect", str(out)]).output
    assert "policy native, backend native" in shown
    refused = runner.invoke(main, ["run", str(toml), "--backend", "native", "--length", "3 days",
                                   "-o", str(tmp_path / "no.nc"), "-q"])
    assert refused.exit_code == 1 and "sbits=10) has no native dtype" in refused.output
    assert not (tmp_path / "no.nc").exists()
