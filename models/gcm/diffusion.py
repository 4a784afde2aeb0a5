"""Implicit horizontal hyperdiffusion ∇^(2n) (default ∇⁸) of vorticity, divergence, T′ and tracers.

    ∂X/∂t = … − K_l X,     K_l = (1/τ) (l(l+1) / (T(T+1)))^n

so the truncation wavenumber l = T is damped with e-folding time τ (2.4 h by default, as the spec)
and large scales hardly at all. Backward in time over the step 2c (2Δt for the leapfrog, Δt for
the Euler first step), applied to the tendency δ as SPEEDY does:

    X^{n+1} = X^{n−1} + 2c δ′,   δ′ = (δ − K_l X^{n−1}) / (1 + 2c K_l)   ⇔   X^{n+1} = X^{n−1} + 2c δ − 2c K_l X^{n+1}.

ln p_s is not diffused. Runs under the ``"diffusion"`` component.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from models.base import FLOAT64, Arithmetic
from models.gcm.state import SpectralState


def hyperdiffusion_rates(truncation: int, timescale: float, order: int) -> np.ndarray:
    """K_l = (1/τ)(l(l+1)/(T(T+1)))^order for l = 0..T, s⁻¹."""
    l = np.arange(truncation + 1, dtype=np.float64)
    return (l * (l + 1) / (truncation * (truncation + 1.0))) ** order / timescale


class HyperDiffusion:
    """Implicit ∇^(2·order) diffusion on the tendencies (module docstring)."""

    def __init__(self, truncation: int, *, timescale: float, order: int, dt: float,
                 emu: Arithmetic = FLOAT64):
        K = hyperdiffusion_rates(truncation, timescale, order)
        self.rate = emu.const(K)                                      # K_l, [l]
        # 1/(1 + 2cK_l) for the leapfrog (2c = 2Δt) and the first step (2c = Δt)
        self.factor = {False: emu.const(1.0 / (1.0 + 2 * dt * K)),
                       True: emu.const(1.0 / (1.0 + dt * K))}

    def damp(self, tend: SpectralState, before: SpectralState, first: bool) -> SpectralState:
        """δ′ = (δ − K_l X^{n−1}) / (1 + 2c K_l) for ζ, D, T′ and the tracers."""
        factor = self.factor[first]

        def damped(d: Any, x: Any) -> Any:
            return (d - self.rate * x) * factor

        return SpectralState(vor=damped(tend.vor, before.vor), div=damped(tend.div, before.div),
                             temp=damped(tend.temp, before.temp), lnps=tend.lnps,
                             tracers={n: damped(q, before.tracers[n])
                                      for n, q in tend.tracers.items()})
