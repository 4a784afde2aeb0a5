"""Emulated floating-point formats: significand bits, exponent range, gradual underflow.

A `Format` describes the set of values a low-precision number may take; the rounding modes that
map float64 values onto that set live in `lowprec.rounding`.

    Format(10)                      # 10 stored significand bits, float64's exponent range (as rpe)
    Format(10, ebits=5)             # IEEE binary16: overflow past 65504, subnormals below 2**-14
    Format(7, ebits=8, subnormals=False)

Bits are counted as IEEE 754 stores them: `sbits` excludes the implicit leading bit (float64 52,
float32 23, float16 10, bfloat16 7), the same count as pychop's `sig_bits`. Higham's chop counts
the implicit bit too (its t is sbits + 1).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from lowprec.errors import FormatError

__all__ = ["Format", "FLOAT64", "FLOAT32", "FLOAT16", "BFLOAT16", "PRESETS", "as_format"]

# float64's own limits: every emulated format lives inside float64.
FLOAT64_SBITS = 52
FLOAT64_EBITS = 11
FLOAT64_EMAX = 1023
FLOAT64_EMIN = -1022


def _check_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {value!r} ({type(value).__name__})")
    return int(value)


@dataclass(frozen=True)
class Format:
    """A binary floating-point format emulated inside float64.

    sbits: stored (explicit) significand bits, 1..52; unit roundoff u = 2**-(sbits + 1).
    ebits: exponent bits, 2..11, giving emax = 2**(ebits - 1) - 1 and emin = 1 - emax; None
        (the default) means float64's exponent range, as rpe and Paxton et al. (2022) used:
        no overflow or underflow effects beyond float64's own.
    subnormals: True for gradual underflow (values below 2**emin are multiples of
        2**(emin - sbits)); False to flush to zero. Flush-to-zero is applied to the *result*:
        a value is first rounded as with gradual underflow, then any nonzero result below
        2**emin becomes a zero of the same sign, in every mode (as hardware FTZ does; so the
        directed modes and stochastic rounding are not direction-faithful or unbiased there).

    Overflow (restricted range only; float64's range overflows as float64 does): a rounded result
    above max_finite becomes ±inf in the modes nearest and stochastic (stochastic rounding treats
    2**(emax + 1) as the upper neighbour of max_finite, so it rounds to inf with probability
    proportional to the distance past max_finite), ±max_finite toward zero, and follows the
    direction in upward/downward (+inf/-max_finite upward, +max_finite/-inf downward).
    """

    sbits: int
    ebits: int | None = None
    subnormals: bool = True

    def __post_init__(self) -> None:
        sbits = _check_int("sbits", self.sbits)
        if not 1 <= sbits <= FLOAT64_SBITS:
            if sbits == FLOAT64_SBITS + 1:
                hint = ("Counted the implicit bit, as chop's t does? Use 52 for float64 "
                        "(float32 23, float16 10, bfloat16 7).")
            elif sbits > FLOAT64_SBITS:
                hint = "lowprec emulates formats inside float64, so at most 52 stored bits."
            else:
                hint = "A format needs at least 1 stored significand bit."
            raise FormatError(
                f"sbits = {sbits}: sbits counts stored significand bits, allowed 1..52 "
                f"(float64 52, float32 23, float16 10, bfloat16 7). {hint}")
        object.__setattr__(self, "sbits", sbits)
        if self.ebits is not None:
            ebits = _check_int("ebits", self.ebits)
            if not 2 <= ebits <= FLOAT64_EBITS:
                hint = ("Use ebits=None (the default) for float64's exponent range."
                        if ebits > FLOAT64_EBITS else
                        "An exponent needs at least 2 bits (emax = 1, emin = 0).")
                raise FormatError(
                    f"ebits = {ebits}: allowed 2..11 or None (float64 11, float32 8, "
                    f"float16 5, bfloat16 8). {hint}")
            object.__setattr__(self, "ebits", ebits)
        if not isinstance(self.subnormals, (bool, np.bool_)):
            raise TypeError(f"subnormals must be True or False, got {self.subnormals!r}")
        object.__setattr__(self, "subnormals", bool(self.subnormals))

    # --- exponent range -------------------------------------------------------------------
    @property
    def emax(self) -> int:
        """Largest exponent: max_finite = (2 - 2**-sbits) * 2**emax."""
        if self.ebits is None:
            return FLOAT64_EMAX
        return 2 ** (self.ebits - 1) - 1

    @property
    def emin(self) -> int:
        """Smallest normal exponent: min_normal = 2**emin."""
        return 1 - self.emax

    @property
    def restricted(self) -> bool:
        """True if the exponent range is narrower than float64's (overflow/underflow matter)."""
        return self.emax < FLOAT64_EMAX

    # --- values ---------------------------------------------------------------------------
    @property
    def max_finite(self) -> float:
        """Largest finite value, (2 - 2**-sbits) * 2**emax."""
        return math.ldexp(2.0 - math.ldexp(1.0, -self.sbits), self.emax)

    @property
    def min_normal(self) -> float:
        """Smallest positive normal value, 2**emin."""
        return math.ldexp(1.0, self.emin)

    @property
    def min_subnormal(self) -> float:
        """Smallest positive value: 2**(emin - sbits), or min_normal if subnormals are flushed."""
        if not self.subnormals:
            return self.min_normal
        return math.ldexp(1.0, self.emin - self.sbits)

    @property
    def unit_roundoff(self) -> float:
        """u = 2**-(sbits + 1): the largest relative error of round-to-nearest (normal range)."""
        return math.ldexp(1.0, -(self.sbits + 1))

    @property
    def is_float64(self) -> bool:
        """True if rounding to this format changes nothing in float64 (52 bits, full range)."""
        return self.sbits == FLOAT64_SBITS and not self.restricted and self.subnormals

    @property
    def storage_dtype(self) -> type[np.floating]:
        """np.float32 if every value of the format is exactly a float32, else np.float64."""
        if self.sbits <= 23 and self.ebits is not None and self.ebits <= 8:
            return np.float32
        return np.float64

    @property
    def exact_emulation(self) -> bool:
        """True if one float64 operation rounded once to this format is correctly rounded.

        That holds for sbits <= 24 (53 >= 2 * (sbits + 1) + 2); above, double rounding (first
        to float64, then to sbits) can differ from a correctly rounded result in the last bit.
        """
        return self.sbits <= 24

    def kernel_args(self) -> tuple[int, int, int, bool, bool]:
        """(sbits, emin, emax, restricted, subnormals): the arguments of the numba kernels."""
        return (self.sbits, self.emin, self.emax, self.restricted, self.subnormals)

    def __str__(self) -> str:
        for name, preset in _CANONICAL.items():
            if preset == self:
                return name
        parts = [f"sbits={self.sbits}"]
        if self.ebits is not None:
            parts.append(f"ebits={self.ebits}")
        if not self.subnormals:
            parts.append("subnormals=False")
        return "Format(" + ", ".join(parts) + ")"


FLOAT64 = Format(52)
FLOAT32 = Format(23, 8)
FLOAT16 = Format(10, 5)
BFLOAT16 = Format(7, 8)

_CANONICAL = {"float64": FLOAT64, "float32": FLOAT32, "float16": FLOAT16, "bfloat16": BFLOAT16}
PRESETS: dict[str, Format] = {
    **_CANONICAL,
    "double": FLOAT64,
    "single": FLOAT32,
    "half": FLOAT16,
}


def as_format(spec: Format | int | str | dict) -> Format:
    """A Format from a Format, an int sbits (float64 range), a preset name, or a dict of fields.

    >>> as_format("half") == Format(10, 5)
    True
    """
    if isinstance(spec, Format):
        return spec
    if isinstance(spec, str):
        try:
            return PRESETS[spec.strip().lower()]
        except KeyError:
            raise FormatError(
                f"unknown format name {spec!r}; known: {', '.join(sorted(PRESETS))}, or give "
                f"sbits as an int (e.g. 10) or a dict like {{'sbits': 10, 'ebits': 5}}"
            ) from None
    if isinstance(spec, dict):
        allowed = ("sbits", "ebits", "subnormals")
        unknown = sorted(set(spec) - set(allowed))
        if unknown:
            raise FormatError(f"unknown format field(s) {unknown}; allowed: {', '.join(allowed)}")
        if "sbits" not in spec:
            raise FormatError(f"format dict {spec!r} needs 'sbits' (stored significand bits)")
        return Format(**spec)
    if isinstance(spec, (int, np.integer)) and not isinstance(spec, bool):
        return Format(int(spec))
    raise TypeError(
        f"cannot make a Format from {spec!r} ({type(spec).__name__}); give a Format, an int "
        f"sbits, a preset name ({', '.join(sorted(PRESETS))}) or a dict of fields")
