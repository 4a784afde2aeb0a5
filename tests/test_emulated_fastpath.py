"""The fast paths of emulated arithmetic give the general path's bits and counters.

Fast paths: the operators and the common ufunc call (`array._binary`/`_unary`), the in-place
kernel `kernels.round_into`, the cache of rounded constants, `np.concatenate`, and the component
switch object. The general path is `rules.apply_ufunc` (and the function rules); the oracle is
`lowprec.round` with the counter the operation should have taken.
"""
from __future__ import annotations

import numpy as np
import pytest

from lowprec.emulated import Emulator, rules
from lowprec.errors import FormatError
from lowprec.formats import FLOAT16, Format
from lowprec.rounding import MODE_CODES, kernels
from lowprec.rounding import round as lp_round

FORMATS = [Format(10), FLOAT16, Format(7, 4, subnormals=False)]
MODES = ["nearest", "stochastic", "toward_zero", "upward", "downward"]


def _bits(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.float64).view(np.uint64)


def _same(a, b) -> bool:
    return a.shape == b.shape and np.array_equal(_bits(a), _bits(b))


def _values(rng: np.random.Generator, shape) -> np.ndarray:
    """Magnitudes from 1e-9 to 1e6 (subnormal and overflow range of the small formats), signs,
    exact zeros of both signs."""
    x = np.asarray(rng.standard_normal(shape) * 10.0 ** rng.uniform(-9, 6, shape))
    flat = x.reshape(-1)
    if flat.size > 3:
        flat[:2] = [0.0, -0.0]
    return x


def _twins(fmt, mode):
    return [Emulator(fmt, mode=mode, seed=11) for _ in range(2)]


@pytest.mark.parametrize("fmt", FORMATS, ids=str)
@pytest.mark.parametrize("mode", MODES)
def test_round_into_in_place_matches_round(fmt, mode):
    rng = np.random.default_rng(1)
    for shape in [(), (7,), (3000,), (40, 37)]:
        x = _values(rng, shape)
        expected = lp_round(x, fmt, mode, seed=5, counter=123)
        in_place = x.copy()
        kernels.round_into(in_place, in_place, *fmt.kernel_args(), MODE_CODES[mode], 5, 123)
        out = np.empty_like(x)
        kernels.round_into(x, out, *fmt.kernel_args(), MODE_CODES[mode], 5, 123)
        assert _same(in_place, expected), (shape, fmt, mode)
        packed = x.copy()
        kernels.round_in_place(packed, kernels.round_params(fmt, MODE_CODES[mode], 5), 123)
        assert _same(packed, expected), (shape, fmt, mode)
        assert _same(out, expected), (shape, fmt, mode)


OPERAND_KINDS = ["array", "float", "int", "np.float64", "0-d"]


def _operand(kind, data, emu):
    if kind == "array":
        return emu.asarray(data)
    if kind == "0-d":
        return emu.const(float(data.reshape(-1)[3]))
    scalar = float(data.reshape(-1)[3])
    return {"float": scalar, "int": int(round(scalar * 1000)) or 3,
            "np.float64": np.float64(scalar)}[kind]


@pytest.mark.parametrize("fmt", FORMATS, ids=str)
@pytest.mark.parametrize("mode", ["nearest", "stochastic", "upward"])
@pytest.mark.parametrize("ufunc", [np.add, np.subtract, np.multiply, np.divide, np.power,
                                   np.maximum, np.hypot, np.less])
def test_binary_fast_path_matches_general_path(fmt, mode, ufunc):
    rng = np.random.default_rng(2)
    x = _values(rng, (6, 5))
    y = _values(rng, (6, 5))
    if ufunc is np.power:
        x, y = np.abs(x) + 0.5, np.round(y % 3)
    for kind_a in OPERAND_KINDS:
        for kind_b in OPERAND_KINDS:
            if kind_a != "array" and kind_b != "array" and "0-d" not in (kind_a, kind_b):
                continue                    # two plain scalars never reach the emulator
            fast_emu, general_emu = _twins(fmt, mode)
            results = []
            for emu in (fast_emu, general_emu):
                a, b = _operand(kind_a, x, emu), _operand(kind_b, y, emu)
                emu.counter = 40
                with np.errstate(all="ignore"):
                    if emu is fast_emu:
                        r = ufunc(a, b)
                    else:
                        r = rules.apply_ufunc(ufunc, "__call__", (a, b), {}, emu)
                results.append((r, emu.counter))
            (fast, n_fast), (general, n_general) = results
            assert n_fast == n_general, (kind_a, kind_b)
            fast_data = fast._data if hasattr(fast, "_data") else fast
            general_data = general._data if hasattr(general, "_data") else general
            assert type(fast) is type(general)
            if fast_data.dtype == np.bool_:
                assert np.array_equal(fast_data, general_data)
            else:
                assert _same(fast_data, general_data), (kind_a, kind_b)


@pytest.mark.parametrize("mode", ["nearest", "stochastic"])
def test_operators_match_the_oracle(mode):
    """a op b and c op a: the constant takes counter n, the result n + 1 (lowprec.round)."""
    fmt = Format(10)
    emu = Emulator(fmt, mode=mode, seed=3)
    rng = np.random.default_rng(3)
    x = lp_round(rng.uniform(1, 2, (4, 9)), fmt)
    y = lp_round(rng.uniform(1, 2, (4, 9)), fmt)
    a, b = emu.asarray(x), emu.asarray(y)
    ops = {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide}
    for sym, ufunc in ops.items():
        n = emu.counter
        r = eval(f"a {sym} b")
        assert _same(r._data, lp_round(ufunc(x, y), fmt, mode, seed=3, counter=n))
        assert emu.counter == n + 1
        c = 0.1                                       # inexact: rounded as it enters
        r = eval(f"c {sym} a")
        c_in = lp_round(c, fmt, mode, seed=3, counter=n + 1)
        assert _same(r._data, lp_round(ufunc(c_in, x), fmt, mode, seed=3, counter=n + 2))
        r = eval(f"a {sym} c")
        c_in = lp_round(c, fmt, mode, seed=3, counter=n + 3)
        assert _same(r._data, lp_round(ufunc(x, c_in), fmt, mode, seed=3, counter=n + 4))
        assert emu.counter == n + 5
    neg = -a
    assert _same(neg._data, -x) and emu.counter == n + 5
    zero_d = -emu.const(2.5)
    assert type(zero_d._data) is np.ndarray and zero_d._data.shape == ()


def test_fortran_ordered_results_take_the_general_path_bits():
    """Stochastic bits follow C order: a transposed (F-ordered) result must still match."""
    fmt = Format(10)
    emu = Emulator(fmt, mode="stochastic", seed=4)
    x = lp_round(np.random.default_rng(4).uniform(1, 2, (5, 7)), fmt)     # enters exactly
    a = emu.asarray(x).T
    n = emu.counter
    r = a * a
    assert _same(r._data, lp_round(x.T * x.T, fmt, "stochastic", seed=4, counter=n))


def test_constant_cache_keeps_signed_zero_and_nan():
    emu = Emulator(Format(10))
    a = emu.asarray(np.array([1.0, 2.0]))
    assert not np.signbit((a * 0.0)._data).any()
    assert np.signbit((a * -0.0)._data).all()           # not the cached +0
    assert not np.signbit((a * 0.0)._data).any()
    assert np.isnan((a * float("nan"))._data).all()
    assert np.isnan((a * float("nan"))._data).all()


@pytest.mark.parametrize("mode", ["stochastic", "nearest"])
def test_constants_are_rounded_per_counter_and_component(mode):
    """An inexact constant entering under stochastic rounding draws fresh bits each time (never
    cached); every constant takes a counter value, cached or not; components keep their own."""
    fmt = Format(4)
    emu = Emulator(fmt, mode=mode, seed=9, components={"wide": 23})
    emu.declare_components(["wide"])
    a = emu.asarray(np.ones(3))
    seen = set()
    for _ in range(60):
        n = emu.counter
        r = a * 0.3
        expected = lp_round(0.3, fmt, mode, seed=9, counter=n)
        assert _same(r._data, lp_round(np.ones(3) * expected, fmt, mode, seed=9, counter=n + 1))
        assert emu.counter == n + 2
        seen.add(float(expected))
        with emu.component("wide"):
            w = a * 0.3
        assert _same(w._data, np.full(3, lp_round(0.3, Format(23), mode, seed=9,
                                                  counter=n + 2)))
    assert len(seen) == (2 if mode == "stochastic" else 1)


def test_constant_cache_is_bounded():
    emu = Emulator(Format(10))
    a = emu.asarray(np.ones(2))
    for k in range(5000):
        a * (1.0 + k / 7.0)
    assert len(emu._active.consts) <= 4096


def test_concatenate_fast_path_matches_general_path():
    fmt = Format(10)
    emu = Emulator(fmt, mode="stochastic", seed=1)
    a = emu.asarray(np.arange(6.0).reshape(2, 3))
    b = emu.asarray(np.arange(3.0).reshape(1, 3) + 0.5)
    n = emu.counter
    fast = np.concatenate((a, b), axis=0)
    assert emu.counter == n
    general = rules.call_function_rule(rules.FUNCTION_RULES[np.concatenate], np.concatenate,
                                       ((a, b),), {"axis": 0}, emu)
    assert _same(fast._data, general._data)
    for args, kwargs in ((((a, b), 0), {}), (([a, b],), {})):
        assert _same(np.concatenate(*args, **kwargs)._data, general._data)
    # a plain array among them enters as a constant (general path): one counter value
    mixed = np.concatenate((a, np.full((1, 3), 0.1)))
    assert emu.counter == n + 1
    assert _same(mixed._data[2], np.full(3, lp_round(0.1, fmt, "stochastic", seed=1,
                                                     counter=n)))


def test_component_switch_nests_reenters_and_restores():
    emu = Emulator(Format(10), components={"a": 23, "b": 5})
    emu.declare_components(["a", "b", "c"])
    with emu.component("a"):
        assert emu.active[1] == Format(23)
        with emu.component("b"):
            with emu.component("a"):
                assert emu.active[1] == Format(23)
            assert emu.active[1] == Format(5)
        with pytest.raises(RuntimeError):
            with emu.component("c"):
                assert emu.active[1] == Format(10)
                raise RuntimeError("boom")
        assert emu.active[0] == "a"
    assert emu.active == (None, Format(10), "nearest")
    with pytest.raises(FormatError, match="unknown precision component 'z'"):
        with emu.component("z"):
            pass


@pytest.mark.parametrize("fmt", FORMATS, ids=str)
@pytest.mark.parametrize("mode", MODES)
def test_scalar_constants_enter_as_0d_arrays_do(fmt, mode):
    """emu.const(float or int) (scalar fast path, cached) == emu.const(0-d array) (general)."""
    rng = np.random.default_rng(6)
    values = list(_values(rng, (40,))) + [7, -3, 2**60 + 1, float("inf"), 1e-320, 0.1, 0.1]
    fast_emu, general_emu = _twins(fmt, mode)
    for v in values:
        v = v if isinstance(v, int) else float(v)
        fast = fast_emu.const(v)
        general = general_emu.const(np.array(v, dtype=np.float64))
        assert type(fast._data) is np.ndarray and fast._data.shape == ()
        assert _same(fast._data, general._data), v
        assert fast_emu.counter == general_emu.counter


@pytest.mark.parametrize("fmt", FORMATS, ids=str)
@pytest.mark.parametrize("mode", ["nearest", "stochastic"])
def test_numba_fast_path_matches_numpy_backend(fmt, mode):
    """The numpy backend (the reference kernel, general rounding path) gives the same bits."""
    results = []
    for backend in ("numba", "numpy"):
        emu = Emulator(fmt, mode=mode, seed=8, backend=backend)
        x = emu.asarray(_values(np.random.default_rng(8), (30, 20)))
        with np.errstate(all="ignore"):
            y = ((x * 0.3 + x.T.T) / (x + 2)) - 1e-7
        results.append((y._data, emu.counter))
    assert _same(results[0][0], results[1][0]) and results[0][1] == results[1][1]
