"""Leapfrog with the Robert–Asselin–Williams filter, and the Euler first step (STYLE §6).

    X^{n+1} = X^{n−1} + 2Δt δ
    d = (ν/2)(X^{n−1} − 2X^n + X^{n+1})           the filter's displacement (Williams 2009)
    X^n ← X^n + α d,   X^{n+1} ← X^{n+1} − (1 − α) d

ν = 0.05, α = 0.53 by default (α = 1 is the Robert–Asselin filter; α = ½ conserves the mean of
the three levels). The first step is X^1 = X^0 + Δt δ. These functions know no physics: the state
is anything that adds and scales (``SpectralState``). Run under ``"timestepping"``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from models.base import FLOAT64, Arithmetic

S = TypeVar("S")


@dataclass(frozen=True)
class LeapfrogWeights:
    """The constants of one step, entered through the arithmetic once."""

    dt: Any                 # Δt (the Euler first step)
    two_dt: Any             # 2Δt
    half_nu: Any            # ν/2
    alpha: Any              # α
    one_minus_alpha: Any    # 1 − α

    @classmethod
    def from_dt(cls, dt: float, nu: float = 0.05, alpha: float = 0.53,
                emu: Arithmetic = FLOAT64) -> "LeapfrogWeights":
        return cls(dt=emu.const(dt), two_dt=emu.const(2 * dt), half_nu=emu.const(nu / 2),
                   alpha=emu.const(alpha), one_minus_alpha=emu.const(1 - alpha))


def leapfrog_raw(before: S, now: S, tendency: S, w: LeapfrogWeights) -> tuple[S, S]:
    """One leapfrog step with the RAW filter: returns (filtered X^n, filtered X^{n+1})."""
    after = before + w.two_dt * tendency
    d = w.half_nu * ((before - 2 * now) + after)
    return now + w.alpha * d, after - w.one_minus_alpha * d


def euler(now: S, tendency: S, w: LeapfrogWeights) -> S:
    """X^1 = X^0 + Δt δ."""
    return now + w.dt * tendency
