"""Hardware arithmetic against lowprec's rounding, and the native arithmetic object itself.

The oracle of every comparison here is `lowprec.round` of the float64 result of one operation on
values already in the format: correctly rounded for sbits <= 24 (one float64 operation is exact
enough: 53 >= 2(sbits + 1) + 2). Inputs are bit patterns of the dtype, viewed as the dtype and
widened to float64 exactly, so that no conversion from float64 into ml_dtypes (which is not an
oracle: specs/emulation.md) enters a comparison; only the dtype's own arithmetic is tested.
"""
from __future__ import annotations

import warnings

import ml_dtypes
import numpy as np
import pytest

import lowprec
from lowprec import Format
from lowprec.errors import FormatError, NotEmulatedError
from lowprec.native import NATIVE_DTYPES, NativeArithmetic, native_dtype

# dtype name -> Format whose conventions it has exactly (lowprec/native.py's table, restated
# here independently so that an edit of the table is noticed)
HARDWARE = {
    "float16": Format(10, 5),
    "bfloat16": Format(7, 8),
    "float8_e5m2": Format(2, 5),
    "float8_e4m3": Format(3, 4),
    "float8_e3m4": Format(4, 3),
}
BINARY = {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide}


def dtype_of(name: str) -> np.dtype:
    return np.dtype(np.float16) if name == "float16" else np.dtype(getattr(ml_dtypes, name))


def all_values(name: str) -> np.ndarray:
    """Every value of the dtype (every bit pattern, NaNs and infinities included)."""
    dt = dtype_of(name)
    uint = np.uint8 if dt.itemsize == 1 else np.uint16
    return np.arange(2 ** (8 * dt.itemsize), dtype=np.uint64).astype(uint).view(dt)


def random_values(name: str, n: int, rng: np.random.Generator) -> np.ndarray:
    dt = dtype_of(name)
    uint = np.uint8 if dt.itemsize == 1 else np.uint16
    return rng.integers(0, 2 ** (8 * dt.itemsize), n, dtype=np.uint64).astype(uint).view(dt)


def same_values(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Elementwise: equal as float64 bits (so −0 ≠ +0), or both NaN (payloads carry no meaning)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return (a.view(np.uint64) == b.view(np.uint64)) | (np.isnan(a) & np.isnan(b))


def pairs(name: str) -> tuple[np.ndarray, np.ndarray]:
    """All pairs for 8-bit types (65 536); 200 000 random pairs for 16-bit types."""
    if dtype_of(name).itemsize == 1:
        v = all_values(name)
        return np.repeat(v, v.size), np.tile(v, v.size)
    rng = np.random.default_rng(20261201)
    return random_values(name, 200_000, rng), random_values(name, 200_000, rng)


@pytest.mark.parametrize("op", list(BINARY))
@pytest.mark.parametrize("name", list(HARDWARE))
def test_dtype_arithmetic_is_correctly_rounded(name, op):
    """numpy float16 (via float32) and ml_dtypes (via float32) + − × ÷ equal lowprec.round of
    the float64 result: exhaustive for float8, 200 000 random bit patterns for 16-bit types.
    A dtype that rounded through float32 badly, truncated, or flushed subnormals would fail."""
    a, b = pairs(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)      # overflow, inf - inf, 0/0
        hardware = BINARY[op](a, b).astype(np.float64)
        exact = BINARY[op](a.astype(np.float64), b.astype(np.float64))
    rounded = lowprec.round(exact, HARDWARE[name], "nearest")
    bad = ~same_values(hardware, rounded)
    assert not bad.any(), (f"{name} {op}: {bad.sum()} of {bad.size} differ, e.g. "
                           f"{a[bad][:3]} {op} {b[bad][:3]} = {hardware[bad][:3]}, "
                           f"correctly rounded {rounded[bad][:3]}")


@pytest.mark.parametrize("name", list(HARDWARE))
def test_dtype_sqrt_is_correctly_rounded_on_every_value(name):
    v = all_values(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)      # sqrt of negatives: NaN
        hardware = np.sqrt(v).astype(np.float64)
        rounded = lowprec.round(np.sqrt(v.astype(np.float64)), HARDWARE[name], "nearest")
    assert same_values(hardware, rounded).all()


def test_float32_arithmetic_is_the_emulator_at_23_sbits():
    """float32 hardware against Format(23, 8): random float32 bit patterns, all four operations."""
    rng = np.random.default_rng(7)
    a = rng.integers(0, 2**32, 200_000, dtype=np.uint64).astype(np.uint32).view(np.float32)
    b = rng.integers(0, 2**32, 200_000, dtype=np.uint64).astype(np.uint32).view(np.float32)
    for op, f in BINARY.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            hardware = f(a, b).astype(np.float64)
            exact = f(a.astype(np.float64), b.astype(np.float64))
        assert same_values(hardware, lowprec.round(exact, Format(23, 8))).all(), op


def test_e4m3fn_agrees_with_format_3_4_only_below_its_overflow():
    """OCP e4m3fn has no infinities and finite values up to 448; lowprec's Format(3, 4) (IEEE-
    like, = ml_dtypes.float8_e4m3) overflows at 248. On every pair of e4m3fn values within ±240
    (Format(3, 4)'s own values) the products, sums and quotients agree whenever the exact
    result is below 248 in magnitude; above, e4m3fn gives 256..448 or NaN where Format(3, 4)
    gives inf. This is why e4m3fn is no native dtype of a Format."""
    v = all_values("float8_e4m3fn")
    v64 = v.astype(np.float64)
    v = v[np.isfinite(v64) & (np.abs(v64) <= 240)]
    a, b = np.repeat(v, v.size), np.tile(v, v.size)
    for op, f in BINARY.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            hardware = f(a, b).astype(np.float64)
            exact = f(a.astype(np.float64), b.astype(np.float64))
        rounded = lowprec.round(exact, Format(3, 4), "nearest")
        inside = np.abs(exact) < 248
        assert same_values(hardware[inside], rounded[inside]).all(), op
        if op == "*":   # and outside they differ: 16 × 16 = 256 is finite in e4m3fn only
            outside = ~inside & np.isfinite(exact)
            assert not same_values(hardware[outside], rounded[outside]).any()


@pytest.mark.parametrize("fmt", list(NATIVE_DTYPES), ids=str)
def test_entering_rounds_correctly_including_near_ties(fmt):
    """const/asarray round float64 values to nearest (ties to even) as lowprec.round does, for
    values a float32 detour would double-round: just above a midpoint of the format by less
    than a float32 ulp, and exact midpoints."""
    arith = NativeArithmetic(fmt)
    rng = np.random.default_rng(3)
    x = rng.standard_normal(20_000) * 2.0 ** rng.integers(-20, 20, 20_000)
    on = lowprec.round(x, fmt)
    with np.errstate(divide="ignore", invalid="ignore"):     # log2(0), inf - inf: dropped below
        e = np.floor(np.log2(np.abs(on)))
        midpoint = on + np.sign(on) * 2.0 ** (e - fmt.sbits - 1)
        values = np.concatenate([x, midpoint, midpoint + np.sign(on) * 2.0 ** (e - 40),
                                 midpoint - np.sign(on) * 2.0 ** (e - 40), [0.0, -0.0, np.inf]])
    values = values[~np.isnan(values)]
    entered = arith.asarray(values)
    assert entered.dtype == arith.dtype
    assert same_values(entered.astype(np.float64), lowprec.round(values, fmt)).all()
    assert same_values(arith.const(values[:50]).astype(np.float64), lowprec.round(values[:50], fmt)).all()
    one = float(values[len(x)])                  # a midpoint, as a Python float
    assert arith.const(one).dtype == arith.dtype
    assert same_values(np.float64(arith.const(one)), lowprec.round(one, fmt))


def test_the_protocol_a_model_uses():
    arith = NativeArithmetic("float32")
    arith.declare_components(("tendencies", "timestepping"))
    with arith.component("tendencies"):
        x = arith.asarray([1.0, 2.0, 3.0])
        c = arith.const(0.1)
    assert x.dtype == np.float32 and isinstance(c, np.float32)
    y = c * x + 1.0
    assert y.dtype == np.float32
    out = arith.to_float64(y)
    assert out.dtype == np.float64 and np.array_equal(out, y.astype(np.float64))
    assert not np.signbit(arith.const(0.0)) and np.signbit(arith.const(-0.0))   # cache keeps −0
    assert arith.get_state() == {}
    arith.set_state({})
    arith.set_state({"counter": 7})       # an emulator's state: nothing to restore natively
    with pytest.raises(FormatError, match="unknown precision component 'physics'"):
        arith.component("physics")


def test_to_float64_refuses_arrays_that_left_the_dtype():
    """A float64 operand promotes numpy's result to float64: that run did not run in float32."""
    arith = NativeArithmetic("float32")
    x = arith.asarray(np.ones(4))
    escaped = x * np.full(4, 0.1)                 # a constant that did not enter through const
    assert escaped.dtype == np.float64
    with pytest.raises(NotEmulatedError, match="float64 under NativeArithmetic"):
        arith.to_float64(escaped)
    spectrum = np.fft.rfft(x)                     # complex64: float32's own complex type
    assert arith.to_float64(spectrum).dtype == np.complex128
    half = NativeArithmetic("float16")
    with pytest.raises(NotEmulatedError, match="np.fft"):
        half.to_float64(np.fft.irfft(np.fft.rfft(half.asarray(np.ones(8)))))   # float32 back


@pytest.mark.parametrize("fmt, mode, message", [
    (Format(10, 5), "stochastic", "nearest .* only"),
    (Format(23, 8), "upward", "nearest .* only"),
    (Format(12), "nearest", r"Format\(sbits=12\) has no native dtype"),
    (Format(12, 8), "nearest", "has no native dtype"),
    (Format(10), "nearest", "native with ebits 5: float16"),
    (Format(7, 8, subnormals=False), "nearest", "flush-to-zero"),
])
def test_formats_and_modes_without_a_native_dtype_are_refused(fmt, mode, message):
    with pytest.raises(FormatError, match=message) as err:
        NativeArithmetic(fmt, mode=mode)
    assert "\n" not in str(err.value) and "emulated" in str(err.value)


def test_component_mixtures_are_refused_and_repeats_of_the_base_accepted():
    with pytest.raises(FormatError, match="component 'tendencies' is float16 .* one dtype"):
        NativeArithmetic("float32", components={"tendencies": "float16"})
    with pytest.raises(FormatError, match="component 'physics'.*stochastic"):
        NativeArithmetic("float32", components={"physics": {"sbits": 23, "ebits": 8,
                                                             "mode": "stochastic"}})
    same = NativeArithmetic("float32", components={"tendencies": {"sbits": 23, "ebits": 8}})
    same.declare_components(["tendencies"])
    with same.component("tendencies"):
        assert same.asarray([1.0]).dtype == np.float32


def test_native_dtypes_match_the_format_conventions():
    """The table's dtypes have the Format's largest value, smallest subnormal and infinities."""
    for fmt in NATIVE_DTYPES:
        dt = native_dtype(fmt)
        info = ml_dtypes.finfo(dt) if dt.kind == "V" else np.finfo(dt)
        assert float(info.max) == fmt.max_finite, fmt
        assert float(info.smallest_subnormal) == fmt.min_subnormal, fmt
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            assert np.isinf(np.array([info.max], dt) * np.array([2], dt)).all(), fmt


@pytest.mark.parametrize("make", [
    lambda components: NativeArithmetic("float32", components=components),
    lambda components: lowprec.Emulator(Format(23, 8), components=components),
], ids=["native", "emulated"])
def test_components_are_declared_and_checked_alike_by_both_arithmetics(make):
    """The harness asks either arithmetic the same questions about a model's components."""
    arith = make({"physics": "float32", "phyiscs": "float32"})      # the second a typo
    arith.declare_components("dynamics")                             # one name as a string
    arith.declare_components(("physics", "dynamics", "diffusion"))
    assert arith.declared_components == ("dynamics", "physics", "diffusion")  # order, no repeats
    assert arith.undeclared_overrides() == ["phyiscs"]
    with arith.component("diffusion"), arith.component("phyiscs"):   # declared; configured
        pass
    with pytest.raises(FormatError, match=r"'radiation'; known: 'diffusion', 'dynamics', "
                                          r"'phyiscs', 'physics'\."):
        arith.component("radiation")
    with pytest.raises(TypeError, match="component names are strings, got 3"):
        arith.declare_components([3])
