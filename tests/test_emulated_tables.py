"""The emulation tables: disjoint, each entry exercised, everything else refused by name."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

import lowprec
from lowprec import Emulator, EmulatedArray, Format, NotEmulatedError
from lowprec.emulated import rules

FMT = Format(5)
TABLES = {"ROUND_RESULT": rules.ROUND_RESULT, "MOVE_ONLY": rules.MOVE_ONLY,
          "COMPOUND": rules.COMPOUND, "REFUSED": rules.REFUSED}


@pytest.fixture
def emu():
    return Emulator(FMT, mode="stochastic", seed=1, components={"physics": 3})


def test_tables_are_disjoint():
    for (name_a, a), (name_b, b) in itertools.combinations(TABLES.items(), 2):
        assert not set(a) & set(b), (name_a, name_b, set(a) & set(b))


# One call per table entry; `a` is (3, 4) positive, `v` is (4,), `z` complex (4,).
EXAMPLES = {
    np.add: lambda a, v, z: a + v, np.subtract: lambda a, v, z: a - 0.3,
    np.multiply: lambda a, v, z: a * v, np.divide: lambda a, v, z: 1.0 / a,
    np.floor_divide: lambda a, v, z: a // 0.3, np.remainder: lambda a, v, z: a % 0.3,
    np.fmod: lambda a, v, z: np.fmod(a, 0.3), np.power: lambda a, v, z: a ** 1.5,
    np.float_power: lambda a, v, z: np.float_power(a, 1.5), np.square: lambda a, v, z: np.square(a),
    np.sqrt: lambda a, v, z: np.sqrt(a), np.cbrt: lambda a, v, z: np.cbrt(a),
    np.reciprocal: lambda a, v, z: np.reciprocal(a), np.exp: lambda a, v, z: np.exp(a),
    np.exp2: lambda a, v, z: np.exp2(a), np.expm1: lambda a, v, z: np.expm1(a),
    np.log: lambda a, v, z: np.log(a), np.log2: lambda a, v, z: np.log2(a),
    np.log10: lambda a, v, z: np.log10(a), np.log1p: lambda a, v, z: np.log1p(a),
    np.logaddexp: lambda a, v, z: np.logaddexp(a, v),
    np.logaddexp2: lambda a, v, z: np.logaddexp2(a, v), np.sin: lambda a, v, z: np.sin(a),
    np.cos: lambda a, v, z: np.cos(a), np.tan: lambda a, v, z: np.tan(a),
    np.arcsin: lambda a, v, z: np.arcsin(a / 4), np.arccos: lambda a, v, z: np.arccos(a / 4),
    np.arctan: lambda a, v, z: np.arctan(a), np.arctan2: lambda a, v, z: np.arctan2(a, v),
    np.hypot: lambda a, v, z: np.hypot(a, v), np.sinh: lambda a, v, z: np.sinh(a),
    np.cosh: lambda a, v, z: np.cosh(a), np.tanh: lambda a, v, z: np.tanh(a),
    np.arcsinh: lambda a, v, z: np.arcsinh(a), np.arccosh: lambda a, v, z: np.arccosh(a + 1),
    np.arctanh: lambda a, v, z: np.arctanh(a / 4), np.deg2rad: lambda a, v, z: np.deg2rad(a),
    np.rad2deg: lambda a, v, z: np.rad2deg(a), np.degrees: lambda a, v, z: np.degrees(a),
    np.radians: lambda a, v, z: np.radians(a), np.absolute: lambda a, v, z: abs(z),
    np.sign: lambda a, v, z: np.sign(z), np.heaviside: lambda a, v, z: np.heaviside(a - 1, 0.5),
    np.round: lambda a, v, z: np.round(a, 1), np.around: lambda a, v, z: np.around(a, 1),
    np.angle: lambda a, v, z: np.angle(z),
    np.negative: lambda a, v, z: -a, np.positive: lambda a, v, z: +a,
    np.conjugate: lambda a, v, z: np.conj(z), np.maximum: lambda a, v, z: np.maximum(a, v),
    np.minimum: lambda a, v, z: np.minimum(a, 0.7), np.fmax: lambda a, v, z: np.fmax(a, v),
    np.fmin: lambda a, v, z: np.fmin(a, v), np.floor: lambda a, v, z: np.floor(a),
    np.ceil: lambda a, v, z: np.ceil(a), np.trunc: lambda a, v, z: np.trunc(a),
    np.rint: lambda a, v, z: np.rint(a), np.copysign: lambda a, v, z: np.copysign(a, -1.0),
    np.equal: lambda a, v, z: a == v, np.not_equal: lambda a, v, z: a != v,
    np.less: lambda a, v, z: a < v, np.less_equal: lambda a, v, z: a <= 0.5,
    np.greater: lambda a, v, z: a > v, np.greater_equal: lambda a, v, z: a >= v,
    np.isfinite: lambda a, v, z: np.isfinite(a), np.isinf: lambda a, v, z: np.isinf(a),
    np.isnan: lambda a, v, z: np.isnan(a), np.signbit: lambda a, v, z: np.signbit(a),
    np.logical_and: lambda a, v, z: np.logical_and(a, v),
    np.logical_or: lambda a, v, z: np.logical_or(a, v),
    np.logical_xor: lambda a, v, z: np.logical_xor(a, v),
    np.logical_not: lambda a, v, z: np.logical_not(a),
    np.reshape: lambda a, v, z: np.reshape(a, (4, 3)), np.ravel: lambda a, v, z: np.ravel(a),
    np.transpose: lambda a, v, z: np.transpose(a), np.swapaxes: lambda a, v, z: np.swapaxes(a, 0, 1),
    np.moveaxis: lambda a, v, z: np.moveaxis(a, 0, -1),
    np.broadcast_to: lambda a, v, z: np.broadcast_to(v, (2, 4)),
    np.broadcast_arrays: lambda a, v, z: np.broadcast_arrays(a, v),
    np.squeeze: lambda a, v, z: np.squeeze(a[None]), np.expand_dims: lambda a, v, z: np.expand_dims(a, 0),
    np.atleast_1d: lambda a, v, z: np.atleast_1d(a[0, 0]), np.atleast_2d: lambda a, v, z: np.atleast_2d(v),
    np.atleast_3d: lambda a, v, z: np.atleast_3d(a), np.copy: lambda a, v, z: np.copy(a),
    np.roll: lambda a, v, z: np.roll(a, 1, axis=1), np.flip: lambda a, v, z: np.flip(a),
    np.fliplr: lambda a, v, z: np.fliplr(a), np.flipud: lambda a, v, z: np.flipud(a),
    np.rot90: lambda a, v, z: np.rot90(a), np.tile: lambda a, v, z: np.tile(v, 2),
    np.repeat: lambda a, v, z: np.repeat(v, 2), np.split: lambda a, v, z: np.split(v, 2),
    np.array_split: lambda a, v, z: np.array_split(v, 3), np.diagonal: lambda a, v, z: np.diagonal(a),
    np.tril: lambda a, v, z: np.tril(a), np.triu: lambda a, v, z: np.triu(a),
    np.meshgrid: lambda a, v, z: np.meshgrid(v, v),
    np.concatenate: lambda a, v, z: np.concatenate([v, [0.1, 0.2]]),
    np.stack: lambda a, v, z: np.stack([v, v]), np.hstack: lambda a, v, z: np.hstack([v, v]),
    np.vstack: lambda a, v, z: np.vstack([v, np.full(4, 0.1)]),
    np.column_stack: lambda a, v, z: np.column_stack([v, v]),
    np.append: lambda a, v, z: np.append(v, 0.1), np.take: lambda a, v, z: np.take(v, [0, 2]),
    np.take_along_axis: lambda a, v, z: np.take_along_axis(a, np.zeros((3, 1), int), axis=1),
    np.where: lambda a, v, z: np.where(a > 1, a, 0.1),
    np.pad: lambda a, v, z: np.pad(v, 2, constant_values=0.1),
    np.zeros_like: lambda a, v, z: np.zeros_like(a), np.ones_like: lambda a, v, z: np.ones_like(a),
    np.empty_like: lambda a, v, z: np.empty_like(a),
    np.full_like: lambda a, v, z: np.full_like(a, 0.1),
    np.clip: lambda a, v, z: np.clip(a, 0.3, 0.7),
    np.max: lambda a, v, z: np.max(a, axis=0), np.amax: lambda a, v, z: np.amax(a),
    np.min: lambda a, v, z: np.min(a, initial=0.1), np.amin: lambda a, v, z: np.amin(a, axis=1),
    np.sort: lambda a, v, z: np.sort(v), np.real: lambda a, v, z: np.real(z),
    np.imag: lambda a, v, z: np.imag(z), np.argsort: lambda a, v, z: np.argsort(v),
    np.argmax: lambda a, v, z: np.argmax(v), np.argmin: lambda a, v, z: np.argmin(v),
    np.nonzero: lambda a, v, z: np.nonzero(v), np.count_nonzero: lambda a, v, z: np.count_nonzero(a),
    np.all: lambda a, v, z: np.all(a), np.any: lambda a, v, z: np.any(a > 1),
    np.shape: lambda a, v, z: np.shape(a), np.ndim: lambda a, v, z: np.ndim(a),
    np.size: lambda a, v, z: np.size(a), np.searchsorted: lambda a, v, z: np.searchsorted(np.sort(v), 0.5),
    np.array_equal: lambda a, v, z: np.array_equal(v, v),
    np.isclose: lambda a, v, z: np.isclose(v, 0.5), np.allclose: lambda a, v, z: np.allclose(v, v),
    np.sum: lambda a, v, z: np.sum(a, axis=1), np.mean: lambda a, v, z: np.mean(a),
    np.cumsum: lambda a, v, z: np.cumsum(v), np.matmul: lambda a, v, z: a @ v,
    np.dot: lambda a, v, z: np.dot(a, v), np.einsum: lambda a, v, z: np.einsum("ij,j->i", a, v),
    np.diff: lambda a, v, z: np.diff(a, axis=0), np.fft.rfft: lambda a, v, z: np.fft.rfft(v),
    np.fft.irfft: lambda a, v, z: np.fft.irfft(z), np.fft.fft: lambda a, v, z: np.fft.fft(z),
    np.fft.ifft: lambda a, v, z: np.fft.ifft(z),
}


def test_every_table_entry_has_an_example():
    emulated = set(rules.ROUND_RESULT) | set(rules.MOVE_ONLY) | set(rules.COMPOUND)
    missing = emulated - set(EXAMPLES)
    assert not missing, sorted(map(rules.qualified_name, missing))
    assert not set(EXAMPLES) - emulated


def _emulated_results(result):
    if isinstance(result, (tuple, list)):
        return [x for r in result for x in _emulated_results(r)]
    return [result] if isinstance(result, EmulatedArray) else []


@pytest.mark.parametrize("policy", ["fused", "sequential"])
@pytest.mark.parametrize("func", list(EXAMPLES), ids=rules.qualified_name)
def test_each_rule_gives_values_of_the_active_format(func, policy):
    emu = Emulator(FMT, mode="stochastic", seed=1, policy=policy, components={"physics": 3})
    emu.declare_components(["physics"])
    rng = np.random.default_rng(0)
    a = emu.asarray(rng.uniform(0.2, 3.0, (3, 4)))
    v = emu.asarray(rng.uniform(0.2, 1.0, 4))
    z = emu.asarray(rng.standard_normal(4) + 1j * rng.standard_normal(4))
    with emu.component("physics"):
        with np.errstate(all="ignore"):
            result = EXAMPLES[func](a, v, z)
    for r in _emulated_results(result):
        data = emu.to_float64(r)
        assert data.dtype in (np.float64, np.complex128)
        parts = [data.real.copy(), data.imag.copy()] if np.iscomplexobj(data) else [data]
        # new values are rounded to the active format (3 sbits); moved values keep the format
        # they were made in (5 sbits; constants entering here have 3)
        fmt = FMT if func in rules.MOVE_ONLY else Format(3)
        for part in parts:
            assert np.array_equal(lowprec.round(part, fmt), part, equal_nan=True), \
                rules.qualified_name(func)
    if not _emulated_results(result):    # booleans, indices, shapes come back plain
        assert not isinstance(result, EmulatedArray)


def test_move_only_results_hold_no_new_values():
    emu = Emulator(FMT)
    a = emu.asarray(np.linspace(0.1, 1, 12).reshape(3, 4))
    n = emu.counter
    np.roll(a, 1), np.transpose(a), np.concatenate([a, a]), np.where(a > a[1, 1], a, -a)
    np.max(a), np.clip(a, a[0, 0], a[2, 3]), np.pad(a, 1, mode="edge"), a[::-1]
    assert emu.counter == n              # nothing rounded: no counter used


@pytest.mark.parametrize("func", list(rules.REFUSED), ids=rules.qualified_name)
def test_refused_functions_say_why_and_what_to_do(emu, func):
    a = emu.asarray(np.linspace(0.1, 1, 6))
    with pytest.raises(NotEmulatedError) as info:
        with np.errstate(all="ignore"):
            if isinstance(func, np.ufunc):
                func(*([a] * func.nin))
            elif func in (np.linalg.solve,):
                func(a.reshape(2, 3)[:, :2], a[:2])
            elif func in (np.linalg.inv,):
                func(a[:4].reshape(2, 2))
            elif func in (np.convolve, np.inner, np.outer, np.vdot, np.cross, np.copyto):
                func(a[:3], a[:3])
            elif func is np.interp:
                func(a, a, a)
            elif func is np.polyval:
                func(a, a)
            elif func is np.trace:
                func(a.reshape(2, 3))
            elif func is np.tensordot:
                func(a, a, axes=1)
            elif func in (np.percentile, np.quantile):
                func(a, 0.5)
            else:
                func(a)
    message = str(info.value)
    assert rules.qualified_name(func) in message
    assert rules.REFUSED[func][:20].lower() in message.lower()
    assert "emu.to_float64" in message


def test_unlisted_functions_are_refused_naming_function_component_format_and_mode():
    emu = Emulator(Format(10), mode="stochastic", seed=3, components={"physics": 10})
    emu.declare_components(["physics"])
    a = emu.asarray(np.linspace(0.1, 1, 6))
    with emu.component("physics"):
        with pytest.raises(NotEmulatedError) as info:
            np.cov(a)
    message = str(info.value)
    for part in ("numpy.cov", "'physics'", "sbits=10", "stochastic", "emu.to_float64",
                 "lowprec/emulated/rules.py"):
        assert part in message
    with pytest.raises(TypeError):       # NotEmulatedError is a TypeError for callers
        np.cov(a)


@pytest.mark.parametrize("call, name", [
    (lambda a: np.add.outer(a, a), "numpy.add.outer"),
    (lambda a: np.multiply.reduce(a), "numpy.multiply.reduce"),
    (lambda a: np.add.at(a, [0], 1.0), "numpy.add.at"),
    (lambda a: np.add.reduceat(a, [0, 2]), "numpy.add.reduceat"),
    (lambda a: np.multiply.accumulate(a), "numpy.multiply.accumulate"),
    (lambda a: np.add(a, a, where=a > 0.5), "numpy.add(where=...)"),
    (lambda a: np.ldexp(a, 2), "numpy.ldexp"),
    (lambda a: np.sum(a, dtype=np.float32), "numpy.sum(dtype="),
    (lambda a: np.pad(a, 1, mode="linear_ramp"), "numpy.pad(mode='linear_ramp')"),
    (lambda a: np.einsum(a, [0], [0]), "interleaved"),
    (lambda a: np.add(a, a, out=np.empty(6)), "out=<ndarray>"),
])
def test_ufunc_methods_and_options_without_a_rule_are_refused(emu, call, name):
    a = emu.asarray(np.linspace(0.1, 1, 6))
    with pytest.raises(NotEmulatedError) as info:
        call(a)
    assert name in str(info.value)


def test_out_into_an_emulated_array():
    emu = Emulator(FMT)
    a = emu.asarray(np.linspace(0.1, 1, 6))
    out = emu.asarray(np.zeros(6))
    result = np.multiply(a, 3.0, out=out)
    assert result is out
    assert np.array_equal(emu.to_float64(out), emu.to_float64(a * 3.0))
    s = emu.asarray(np.zeros(()))
    np.sum(a, out=s)
    assert emu.to_float64(s) == emu.to_float64(np.sum(a))


def test_value_argument_names_match_numpys_signatures():
    # the tables name value arguments; rules._positions reads their positions from numpy's
    # signatures at import (and fails loudly if numpy renamed one): check a few by position
    emu = Emulator(Format(3))
    v = emu.asarray(np.ones(3))
    got = emu.to_float64(np.where(np.array([True, False, True]), v, 0.1))
    assert got[1] == lowprec.round(0.1, Format(3))
    got = emu.to_float64(np.full_like(v, 0.1))
    assert np.all(got == lowprec.round(0.1, Format(3)))
    got = emu.to_float64(np.clip(v * 0.0, 0.1, None))
    assert np.all(got == lowprec.round(0.1, Format(3)))
