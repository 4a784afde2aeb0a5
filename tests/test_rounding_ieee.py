"""Round-to-nearest against numpy's correctly rounded float16 and float32 casts."""
import numpy as np

import lowprec.rounding as rounding
from lowprec.formats import FLOAT16, FLOAT32, Format


def bits(a):
    return np.asarray(a, dtype=np.float64).view(np.uint64)


def all_float16_midpoints_and_neighbours():
    """Every finite float16, the midpoint of each adjacent pair (exact in float64), the
    float64 neighbours of each midpoint, and the same past the top (overflow to inf)."""
    h = np.arange(0, 0x7C00, dtype=np.uint16).view(np.float16).astype(np.float64)   # 0 .. 65504
    h = np.append(h, 65536.0)                            # the grid continues one step past max
    mid = (h[:-1] + h[1:]) / 2
    x = np.concatenate([h[:-1], mid, np.nextafter(mid, 0), np.nextafter(mid, np.inf),
                        [65520.0 * 1.5, 1e300]])
    return np.concatenate([x, -x])


def test_float16_nearest_equals_numpy_cast_exhaustively():
    x = all_float16_midpoints_and_neighbours()
    with np.errstate(over="ignore"):
        want = x.astype(np.float16).astype(np.float64)
    for backend in ("numba", "numpy"):
        got = rounding.round(x, FLOAT16, "nearest", backend=backend)
        assert np.array_equal(bits(got), bits(want)), backend
    assert rounding.round(Format(10, 5).max_finite + 16.0, FLOAT16) == np.inf   # 65520: a tie


def test_float32_nearest_equals_numpy_cast_on_midpoints():
    rng = np.random.default_rng(20261129)
    n = 200_000
    raw = rng.integers(0, 0x7F800000, size=n, dtype=np.uint32)          # all finite float32
    raw[: n // 10] = rng.integers(0, 0x00800000, size=n // 10)           # subnormals
    f = raw.view(np.float32).astype(np.float64)
    up = np.nextafter(raw.view(np.float32), np.float32(np.inf)).astype(np.float64)
    mid = (f + up) / 2                                                    # up may be inf: mid inf
    x = np.concatenate([f, mid, np.nextafter(mid, 0), np.nextafter(mid, np.inf)])
    x = x[np.isfinite(x)]
    x = np.concatenate([x, -x])
    with np.errstate(over="ignore"):
        want = x.astype(np.float32).astype(np.float64)
    for backend in ("numba", "numpy"):
        got = rounding.round(x, FLOAT32, "nearest", backend=backend)
        assert np.array_equal(bits(got), bits(want)), backend


def test_float32_input_rounds_like_its_float64_values():
    rng = np.random.default_rng(5)
    x32 = (rng.standard_normal(5000) * 10.0 ** rng.integers(-45, 39, 5000)).astype(np.float32)
    for fmt in (Format(10), Format(10, 5), Format(30), Format(7, 8, subnormals=False)):
        for mode in rounding.MODES:
            got = rounding.round(x32, fmt, mode, seed=9)
            assert got.dtype == np.float32
            # the same values as float64 under the format's range intersected with float32's
            wide = Format(min(fmt.sbits, 23), min(fmt.ebits or 8, 8), fmt.subnormals)
            want = rounding.round(x32.astype(np.float64), wide, mode, seed=9)
            assert np.array_equal(bits(got), bits(want)), (fmt, mode)
    assert np.array_equal(rounding.round(x32, Format(30)), x32)      # sbits > 23: no change
