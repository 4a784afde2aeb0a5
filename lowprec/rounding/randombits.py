"""Counter-based random bits for stochastic rounding: a hash of (seed, counter, index).

The 64 random bits for element `index` (C order, counted from the start of the whole array) of
operation number `counter` under `seed` are

    key  = fmix64(fmix64(seed ^ SEED_SALT) ^ (counter * GOLDEN + COUNTER_SALT))   # per operation
    bits = fmix64(key ^ (index * GOLDEN))                                         # per element

where fmix64 is the splitmix64 output function (Steele, Lea & Flood, OOPSLA 2014; constants of
Stafford's "Mix13") and GOLDEN = 0x9E3779B97F4A7C15; all arithmetic is modulo 2**64. There is no
generator state: the bits do not depend on how an array is split into chunks, on threads or on a
scheduler, and a restart reproduces a run bit for bit once the operation counter is restored.
`mix` (numba, callable from other njit code) and `random_bits` (numpy) give the same bits.
"""
from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["mix", "stream_key", "random_bits", "fmix64", "as_uint64"]

_MASK = (1 << 64) - 1
_GOLDEN_INT = 0x9E3779B97F4A7C15
_M1_INT = 0xBF58476D1CE4E5B9
_M2_INT = 0x94D049BB133111EB
_SEED_SALT_INT = 0x5851F42D4C957F2D
_COUNTER_SALT_INT = 0x14057B7EF767814F

GOLDEN = np.uint64(_GOLDEN_INT)
_M1 = np.uint64(_M1_INT)
_M2 = np.uint64(_M2_INT)
_SEED_SALT = np.uint64(_SEED_SALT_INT)
_COUNTER_SALT = np.uint64(_COUNTER_SALT_INT)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)


def as_uint64(name: str, value: object) -> int:
    """Check that `value` is an int in [0, 2**64) (seed, counter, offset) and return it."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int in [0, 2**64), got {value!r} "
                        f"({type(value).__name__})")
    value = int(value)
    if not 0 <= value <= _MASK:
        raise ValueError(f"{name} = {value} is outside [0, 2**64); use a non-negative int")
    return value


@njit(cache=True)
def fmix64(z: np.uint64) -> np.uint64:
    """splitmix64's output function: a bijection of uint64 with good avalanche."""
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@njit(cache=True)
def stream_key(seed, counter) -> np.uint64:
    """The per-operation key: a hash of (seed, counter)."""
    s = np.uint64(seed)
    c = np.uint64(counter)
    return fmix64(fmix64(s ^ _SEED_SALT) ^ (c * GOLDEN + _COUNTER_SALT))


@njit(cache=True)
def mix(seed, counter, index) -> np.uint64:
    """64 random bits for element `index` of operation `counter` under `seed`."""
    return fmix64(stream_key(seed, counter) ^ (np.uint64(index) * GOLDEN))


# --- numpy (the reference; same bits) -----------------------------------------------------
def _fmix64_int(z: int) -> int:
    z = ((z ^ (z >> 30)) * _M1_INT) & _MASK
    z = ((z ^ (z >> 27)) * _M2_INT) & _MASK
    return z ^ (z >> 31)


def stream_key_int(seed: int, counter: int) -> int:
    """`stream_key` in Python integers (seed and counter in [0, 2**64))."""
    return _fmix64_int(_fmix64_int(seed ^ _SEED_SALT_INT)
                       ^ ((counter * _GOLDEN_INT + _COUNTER_SALT_INT) & _MASK))


def _fmix64_array(z: np.ndarray) -> np.ndarray:
    z = (z ^ (z >> _S30)) * _M1          # uint64 arrays wrap modulo 2**64, silently
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


def random_bits(seed: int, counter: int, n: int, offset: int = 0) -> np.ndarray:
    """Bits for elements offset .. offset+n-1 of operation `counter` under `seed` (numpy)."""
    seed = as_uint64("seed", seed)
    counter = as_uint64("counter", counter)
    offset = as_uint64("offset", offset)
    key = np.uint64(stream_key_int(seed, counter))
    index = np.arange(n, dtype=np.uint64) + np.uint64(offset)
    return _fmix64_array(key ^ (index * GOLDEN))
