"""Element-wise emulated arithmetic: every result rounded once, constants rounded on entry.

Oracles: `lowprec.round` (the rounding kernel, tested on its own against exact fractions) applied
step by step with the counters the emulator must use, and numpy's own IEEE float16/float32
arithmetic (correctly rounded) for the formats FLOAT16 and FLOAT32.
"""
from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

import lowprec
from lowprec import Emulator, EmulatedArray, Format, NotEmulatedError
from lowprec.formats import FLOAT16, FLOAT32


def bits(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float64).view(np.uint64)


def same_bits(a, b) -> bool:
    return np.array_equal(bits(a), bits(b))


@pytest.fixture
def values():
    rng = np.random.default_rng(20261129)
    return rng.standard_normal((3, 40)) * np.array([[1.0], [3.0], [0.01]])


@pytest.mark.parametrize("mode", ["nearest", "stochastic", "toward_zero", "upward"])
def test_a_times_b_plus_c_is_two_roundings_with_the_right_counters(values, mode):
    fmt = Format(7)
    emu = Emulator(fmt, mode=mode, seed=99)
    a, b, c = (emu.asarray(v) for v in values)           # counters 0, 1, 2
    result = a * b + c                                   # product: 3, sum: 4
    A, B, C = (emu.to_float64(v) for v in (a, b, c))
    for v, counter, got in zip(values, range(3), (A, B, C)):
        assert same_bits(got, lowprec.round(v, fmt, mode, seed=99, counter=counter))
    product = lowprec.round(A * B, fmt, mode, seed=99, counter=3)
    expected = lowprec.round(product + C, fmt, mode, seed=99, counter=4)
    assert isinstance(result, EmulatedArray)
    assert same_bits(emu.to_float64(result), expected)
    assert emu.counter == 5
    # the product was rounded by itself: a fused multiply-add would (almost surely) differ
    if mode == "nearest":
        fused = lowprec.round(A * B + C, fmt, mode)
        assert not same_bits(fused, expected)


@pytest.mark.parametrize("mode", ["nearest", "stochastic"])
def test_python_scalars_are_rounded_as_constants_before_the_operation(mode):
    fmt = Format(3)                                      # 0.1 -> 0.1015625 to nearest
    emu = Emulator(fmt, mode=mode, seed=5)
    x = np.linspace(1.0, 2.0, 17)
    a = emu.asarray(x)                                   # counter 0
    got = emu.to_float64(a * 0.1)                        # 0.1: counter 1, product: counter 2
    A = emu.to_float64(a)
    c = lowprec.round(0.1, fmt, mode, seed=5, counter=1)
    assert c != 0.1
    expected = lowprec.round(A * c, fmt, mode, seed=5, counter=2)
    assert same_bits(got, expected)
    if mode == "nearest":
        unrounded_constant = lowprec.round(A * 0.1, fmt, mode)
        assert not same_bits(got, unrounded_constant)    # the rounding of 0.1 matters here


def test_numpy_scalars_ints_lists_and_plain_arrays_enter_rounded():
    fmt = Format(4)
    emu = Emulator(fmt)
    a = emu.asarray(np.ones(3))
    third = 1 / 3
    r3 = lowprec.round(third, fmt)
    for operand in (np.float64(third), [third] * 3, np.full(3, third)):
        assert same_bits(emu.to_float64(a * operand), lowprec.round(1.0 * r3, fmt) * np.ones(3))
    big = 2**5 + 1                                       # 33 needs 6 significant bits
    assert emu.to_float64(a * big)[0] == lowprec.round(float(big), fmt) == 32.0
    # the reflected operators (constant on the left) too
    assert same_bits(emu.to_float64(third * a), emu.to_float64(a * third))
    assert same_bits(emu.to_float64(np.full(3, third) - a), lowprec.round(np.full(3, r3) - 1.0, fmt))


@pytest.mark.parametrize("fmt, dtype", [(FLOAT16, np.float16), (FLOAT32, np.float32)])
def test_ieee_formats_match_numpys_own_float16_float32_arithmetic(fmt, dtype):
    rng = np.random.default_rng(7)
    scale = 200.0 if dtype == np.float16 else 1e30      # reach overflow
    x = (rng.standard_normal(400) * scale).astype(dtype)
    y = (rng.standard_normal(400) * scale).astype(dtype)
    y[::7] = (rng.standard_normal(58) * 1e-3).astype(dtype)   # small divisors and subnormal products
    emu = Emulator(fmt)
    a, b = emu.asarray(x.astype(np.float64)), emu.asarray(y.astype(np.float64))
    with np.errstate(all="ignore"):
        cases = [(a * b, x * y), (a + b, x + y), (a - b, x - y), (a / b, x / y),
                 (np.sqrt(abs(a)), np.sqrt(abs(x)))]
        for got, want in cases:
            assert same_bits(emu.to_float64(got), want.astype(np.float64))


def test_every_result_is_representable_and_ufuncs_round_each_call():
    fmt = Format(5)
    emu = Emulator(fmt)
    a = emu.asarray(np.linspace(0.1, 3.0, 50))
    for f in (np.exp, np.log, np.sin, np.cos, np.tanh, np.sqrt, np.square, np.reciprocal):
        r = emu.to_float64(f(a))
        assert same_bits(r, lowprec.round(r, fmt)), f
        assert same_bits(r, lowprec.round(f(emu.to_float64(a)), fmt)), f
    r = emu.to_float64(a ** 2.5)
    assert same_bits(r, lowprec.round(emu.to_float64(a) ** 2.5, fmt))


def test_exact_ufuncs_take_no_rounding_and_comparisons_give_plain_booleans():
    emu = Emulator(Format(5))
    a = emu.asarray(np.array([-1.5, 0.25, 2.0, np.inf, np.nan]))
    b = emu.asarray(np.array([1.0, -0.5, 2.0, 1.0, 0.0]))
    n = emu.counter
    for f in (np.negative, np.floor, np.ceil, np.rint, np.trunc):
        assert same_bits(emu.to_float64(f(a)), f(emu.to_float64(a)))
    assert same_bits(emu.to_float64(np.maximum(a, b)), np.maximum(emu.to_float64(a),
                                                                   emu.to_float64(b)))
    assert emu.counter == n                              # nothing was rounded
    for got in (a < b, a == b, np.isfinite(a), np.isnan(a), np.signbit(a), a >= b):
        assert type(got) is np.ndarray and got.dtype == bool
    assert list(np.isfinite(a)) == [True, True, True, False, False]


def test_negative_zero_nan_and_inf_survive():
    emu = Emulator(Format(4), mode="stochastic", seed=1)
    a = emu.asarray(np.array([0.0, np.inf, np.nan, 1.0]))
    r = emu.to_float64(-a * 1.0)
    assert np.signbit(r[0]) and r[0] == 0 and r[1] == -np.inf and np.isnan(r[2])


def test_in_place_operators_round_and_write_through_views():
    fmt = Format(6)
    emu = Emulator(fmt)
    x = np.linspace(0, 1, 7)
    a = emu.asarray(x)
    alias = a
    a += 0.3
    assert a is alias
    assert same_bits(emu.to_float64(a), lowprec.round(x + lowprec.round(0.3, fmt), fmt))
    before = emu.to_float64(a)
    view = a[2:5]
    view *= 3.0
    after = emu.to_float64(a)
    assert same_bits(after[2:5], lowprec.round(before[2:5] * 3.0, fmt))
    assert same_bits(after[:2], before[:2]) and same_bits(after[5:], before[5:])


def test_setitem_rounds_assigned_values_on_entry():
    fmt = Format(3)
    emu = Emulator(fmt)
    a = emu.asarray(np.zeros(4))
    a[1] = 0.1
    a[2:] = np.array([1 / 3, 2 / 3])
    got = emu.to_float64(a)
    assert got[1] == lowprec.round(0.1, fmt) != 0.1
    assert same_bits(got[2:], lowprec.round(np.array([1 / 3, 2 / 3]), fmt))
    b = emu.asarray(np.full(2, 1.75))
    n = emu.counter
    a[:2] = b                                            # already emulated: copied, no rounding
    assert emu.counter == n and list(emu.to_float64(a)[:2]) == [1.75, 1.75]


def test_indexing_shape_iteration_and_views():
    emu = Emulator(Format(10))
    x = np.arange(12.0).reshape(3, 4)
    a = emu.asarray(x)
    assert a.shape == (3, 4) and a.ndim == 2 and a.size == 12 and len(a) == 3
    assert a.dtype == np.float64
    assert a.T.shape == (4, 3) and same_bits(emu.to_float64(a.T), x.T)
    row = a[1]
    assert isinstance(row, EmulatedArray) and same_bits(emu.to_float64(row), x[1])
    element = a[2, 3]
    assert isinstance(element, EmulatedArray) and element.ndim == 0
    assert isinstance(element * 2.0, EmulatedArray)      # a scalar element stays emulated
    rows = list(a)
    assert len(rows) == 3 and all(isinstance(r, EmulatedArray) for r in rows)
    a[0, 0] = 5.0
    c = a.copy()
    c[0, 0] = 7.0
    assert emu.to_float64(a)[0, 0] == 5.0
    masked = a[a > 4.0]                                  # boolean masks are plain arrays
    assert isinstance(masked, EmulatedArray)
    assert "EmulatedArray" in repr(a) and "sbits=10" in repr(a)
    assert f"{a[1, 1]:.2f}" == "5.00"


def test_leaving_emulation_silently_is_refused():
    emu = Emulator(Format(10), components={"physics": 23})
    a = emu.asarray(np.ones(3))
    for leave in (np.asarray, np.array, lambda x: float(x[0]), lambda x: int(x[0]),
                  lambda x: x.astype(np.float32)):
        with pytest.raises(NotEmulatedError, match="to_float64"):
            leave(a)
    plain = np.zeros(3)
    with pytest.raises(NotEmulatedError):
        plain[:] = a
    assert type(emu.to_float64(a)) is np.ndarray


def test_foreign_containers_get_notimplemented_so_they_can_wrap_us():
    class Container:                                     # stands in for xarray/pandas/dask
        __array_ufunc__ = None

    emu = Emulator(Format(10))
    a = emu.asarray(np.ones(3))
    assert a.__array_ufunc__(np.multiply, "__call__", a, Container()) is NotImplemented
    assert a.__array_function__(np.concatenate, (type(a), Container), ([a],), {}) \
        is NotImplemented
    import xarray as xr                                  # a dependency: never skipped
    da = xr.DataArray(np.arange(3.0), dims="x")
    assert a.__array_ufunc__(np.add, "__call__", a, da) is NotImplemented


def test_arrays_of_two_emulators_do_not_mix():
    one, two = Emulator(Format(10)), Emulator(Format(10))
    a, b = one.asarray(np.ones(2)), two.asarray(np.ones(2))
    with pytest.raises(NotEmulatedError, match="two emulators"):
        a + b
    with pytest.raises(NotEmulatedError, match="two emulators"):
        np.concatenate([a, b])


def test_float64_emulator_is_plain_numpy():
    emu = Emulator(lowprec.FLOAT64, components={"physics": 52})
    emu.declare_components(["physics"])
    a = emu.asarray([0.1, 0.2])
    assert type(a) is np.ndarray and a.dtype == np.float64
    c = emu.const(0.1)
    assert type(c) is np.float64 and c == 0.1
    with emu.component("physics"):
        assert type(a * 3.0) is np.ndarray
    assert emu.is_float64
    assert not Emulator(lowprec.FLOAT64, components={"physics": 10}).is_float64


def test_const_of_a_scalar_stays_emulated():
    fmt = Format(4)
    emu = Emulator(fmt)
    k = emu.const(1 / 3)
    assert isinstance(k, EmulatedArray) and k.ndim == 0
    assert emu.to_float64(k) == lowprec.round(1 / 3, fmt)
    product = k * k                                      # must be rounded, not float64
    r = lowprec.round(1 / 3, fmt)
    assert emu.to_float64(product) == lowprec.round(r * r, fmt)


def test_copy_deepcopy_and_pickle_keep_values_and_the_emulator():
    emu = Emulator(Format(8))
    a = emu.asarray(np.linspace(0, 1, 4))
    for b in (copy.copy(a), copy.deepcopy(a)):
        assert b.emulator is emu and same_bits(emu.to_float64(b), emu.to_float64(a))
    b = pickle.loads(pickle.dumps(a))
    assert same_bits(b.emulator.to_float64(b), emu.to_float64(a))
    assert b.emulator.fmt == emu.fmt


def test_complex_values_are_rounded_by_component():
    fmt = Format(5)
    emu = Emulator(fmt)
    z = emu.asarray(np.array([1 / 3 + 2j / 3, 0.1 - 0.7j]))
    got = emu.to_float64(z)
    assert same_bits(got.real, lowprec.round(np.array([1 / 3, 0.1]), fmt))
    assert same_bits(got.imag, lowprec.round(np.array([2 / 3, -0.7]), fmt))
    w = emu.to_float64(z * z)
    raw = got * got
    assert same_bits(w.real, lowprec.round(raw.real.copy(), fmt))
    assert same_bits(w.imag, lowprec.round(raw.imag.copy(), fmt))
