"""Vertical discretisation in σ = p/p_s: Simmons & Burridge (1981), pure σ levels.

K layers between half levels 0 = σ_{1/2} < σ_{3/2} < ... < σ_{K+1/2} = 1 (the model top at p = 0).
Layer k (full level σ_k, here the mid-point of its half levels, as SPEEDY) has thickness
Δσ_k = σ_{k+1/2} − σ_{k−1/2}. With G_k = v_k·∇ln p_s and the partial column sums

    S_k = Σ_{j ≤ k} Δσ_j (D_j + G_j)                                    (S_0 = 0)

Simmons & Burridge's energy- and angular-momentum-conserving differences are, for pure σ:

    ∂ ln p_s/∂t = −S_K                                                  surface pressure
    σ̇_{k+1/2}  = σ_{k+1/2} S_K − S_k        (σ̇ = 0 at the top and the ground)    vertical velocity
    (σ̇ ∂X/∂σ)_k = [σ̇_{k+1/2}(X_{k+1} − X_k) + σ̇_{k−1/2}(X_k − X_{k−1})]/(2Δσ_k)
    (ω/p)_k    = G_k − [ln(σ_{k+1/2}/σ_{k−1/2}) S_{k−1} + α_k Δσ_k (D_k + G_k)]/Δσ_k
    Φ_k        = Φ_s + Σ_{j > k} R T_j ln(σ_{j+1/2}/σ_{j−1/2}) + α_k R T_k      hydrostatic
    α_k        = 1 − (σ_{k−1/2}/Δσ_k) ln(σ_{k+1/2}/σ_{k−1/2}),   α_1 = ln 2

(SB81 eqs. 3.6–3.12 with A = 0, B = σ.) The hydrostatic relation is linear in T: Φ = Φ_s + G·T
with the upper-triangular matrix G (:func:`hydrostatic_matrix`). The semi-implicit scheme needs the
terms of the temperature equation that are linear in D about a reference profile T_ref(σ) at rest,
−H·D (:func:`temperature_matrix`): the vertical advection of T_ref by the σ̇ of D alone and
κ T_ref (ω/p) of D alone. Both matrices are built here from the formulas above, written out again
as sums (tests check that the grid-point code linearises to them).

Reference profile (SPEEDY's): T_ref(σ) = 288 K · max(0.2, σ)^(R Γ/g), Γ = 6.5 K km⁻¹: a standard
atmosphere in the troposphere, 211 K above σ = 0.2. T departs from it as T′ = T − T_ref (small
numbers, so low-precision rounding errs less); the semi-implicit scheme linearises about it.

Default levels: SPEEDY's 8 layers, half levels 0, .05, .14, .26, .42, .60, .77, .90, 1
(full levels .025, .095, .2, .34, .51, .685, .835, .95).
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from models.base import FLOAT64, Arithmetic

SPEEDY_HALF_LEVELS = (0.0, 0.05, 0.14, 0.26, 0.42, 0.60, 0.77, 0.90, 1.0)


def half_levels(levels: int | Sequence[float]) -> np.ndarray:
    """Half levels σ_{k+1/2}: SPEEDY's for 8, K equal layers for another int, or the list given."""
    if isinstance(levels, (int, np.integer)) and not isinstance(levels, bool):
        if levels == 8:
            return np.array(SPEEDY_HALF_LEVELS)
        if levels < 1:
            raise ValueError(f"gcm: levels={levels}: need at least one layer (default 8, SPEEDY's)")
        return np.linspace(0.0, 1.0, int(levels) + 1)
    half = np.asarray(levels, dtype=np.float64)
    if (half.ndim != 1 or half.size < 2 or half[0] != 0.0 or half[-1] != 1.0
            or np.any(np.diff(half) <= 0)):
        raise ValueError(f"gcm: levels={list(levels)}: give the half levels σ from 0 (top) to 1 "
                         f"(ground), increasing, e.g. {list(SPEEDY_HALF_LEVELS)}, or a number of "
                         f"equal layers")
    return half


def reference_temperature(sigma: np.ndarray, R: float, g: float) -> np.ndarray:
    """T_ref(σ) = 288 K · max(0.2, σ)^(RΓ/g), Γ = 6.5e-3 K m⁻¹ (SPEEDY's reference profile), K."""
    return 288.0 * np.maximum(0.2, sigma) ** (R * 6.5e-3 / g)


class SigmaLevels:
    """The σ levels and the float64 coefficients of the Simmons–Burridge differences."""

    def __init__(self, levels: int | Sequence[float] = 8):
        self.half = half_levels(levels)                     # σ_{k+1/2}, k = 0..K
        self.K = self.half.size - 1
        self.full = 0.5 * (self.half[1:] + self.half[:-1])  # σ_k
        self.thickness = np.diff(self.half)                 # Δσ_k
        with np.errstate(divide="ignore"):
            log_ratio = np.log(self.half[1:] / self.half[:-1])
        self.log_ratio = np.where(self.half[:-1] > 0, log_ratio, np.inf)   # ln(σ_{k+1/2}/σ_{k−1/2})
        alpha = 1.0 - self.half[:-1] / self.thickness * np.where(np.isfinite(self.log_ratio),
                                                                 self.log_ratio, 0.0)
        alpha[0] = math.log(2.0) if self.half[0] == 0.0 else alpha[0]
        self.alpha = alpha                                  # α_k

    def hydrostatic_matrix(self, R: float) -> np.ndarray:
        """G with Φ_k − Φ_s = Σ_j G_kj T_j: R α_k on the diagonal, R ln(σ_{j+1/2}/σ_{j−1/2}) above."""
        K = self.K
        G = np.zeros((K, K))
        for k in range(K):
            G[k, k] = R * self.alpha[k]
            for j in range(k + 1, K):
                G[k, j] = R * self.log_ratio[j]
        return G

    def temperature_matrix(self, T_ref: np.ndarray, kappa: float) -> np.ndarray:
        """H with (∂T′/∂t)_linear = −H·D: vertical advection of T_ref by the σ̇ of D, minus
        κ T_ref (ω/p) of D (the terms of the temperature equation linear in D about rest)."""
        K, ds, half = self.K, self.thickness, self.half
        # σ̇_{k+1/2} of D alone = Σ_j s[k+1/2, j] D_j, k = 0..K (zero at the top and the ground)
        s = np.zeros((K + 1, K))
        for k in range(1, K):
            for j in range(K):
                s[k, j] = ds[j] * (half[k] - (1.0 if j < k else 0.0))
        H = np.zeros((K, K))
        for k in range(K):
            below = T_ref[k + 1] - T_ref[k] if k + 1 < K else 0.0
            above = T_ref[k] - T_ref[k - 1] if k > 0 else 0.0
            for j in range(K):
                advection = (s[k + 1, j] * below + s[k, j] * above) / (2 * ds[k])
                omega_over_p = -((self.log_ratio[k] * ds[j] if j < k else 0.0)
                                 + (self.alpha[k] * ds[k] if j == k else 0.0)) / ds[k]
                H[k, j] = advection - kappa * T_ref[k] * omega_over_p
        return H


class VerticalOperators:
    """The Simmons–Burridge grid-point operations under emulation, on fields (K, nlat, nlon).

    Constants enter through ``emu`` under the component active at construction (``"dynamics"``).
    """

    def __init__(self, levels: SigmaLevels, T_ref: np.ndarray, emu: Arithmetic = FLOAT64):
        column = (slice(None), None, None)
        K = levels.K
        self.K = K
        self.thickness = emu.const(levels.thickness[column])                     # Δσ_k
        self.half_interior = emu.const(levels.half[1:-1][column])                # σ_{k+1/2}, k < K
        self.inv_2thickness = emu.const((0.5 / levels.thickness)[column])        # 1/(2Δσ_k)
        log_ratio = np.where(np.isfinite(levels.log_ratio), levels.log_ratio, 0.0)
        self.A_above = emu.const((log_ratio / levels.thickness)[1:][column])     # k ≥ 2 (S_0 = 0)
        self.alpha = emu.const(levels.alpha[column])                             # α_k
        self.dT_ref = emu.const(np.diff(T_ref)[column])                          # T_ref,k+1 − T_ref,k
        self.zero_layer = emu.asarray(np.zeros((1, 1, 1)))

    def column_sums(self, div_plus_adv: Any) -> Any:
        """S_k = Σ_{j ≤ k} Δσ_j (D_j + G_j), k = 1..K (S_K is the whole column)."""
        return np.cumsum(self.thickness * div_plus_adv, axis=0)

    def sigma_dot(self, S: Any) -> Any:
        """σ̇ at the interior half levels σ_{k+1/2}, k = 1..K−1: σ_{k+1/2} S_K − S_k, s⁻¹."""
        return self.half_interior * S[-1:] - S[:-1]

    def omega_over_p(self, adv: Any, div_plus_adv: Any, S: Any) -> Any:
        """(ω/p)_k = G_k − ln(σ_{k+1/2}/σ_{k−1/2})/Δσ_k · S_{k−1} − α_k (D_k + G_k), s⁻¹."""
        from_above = np.concatenate([_zeros_like_layer(self.zero_layer, S),
                                     self.A_above * S[:-1]], axis=0)
        return adv - from_above - self.alpha * div_plus_adv

    def advection(self, X: Any, sigma_dot: Any, dX_ref: Any = None) -> Any:
        """(σ̇ ∂X/∂σ)_k with the differences X_{k+1} − X_k (plus those of a reference profile)."""
        dX = X[1:] - X[:-1]
        if dX_ref is not None:
            dX = dX + dX_ref
        flux = sigma_dot * dX                                        # at σ_{k+1/2}, k = 1..K−1
        zero = _zeros_like_layer(self.zero_layer, flux)
        return (np.concatenate([flux, zero], axis=0) + np.concatenate([zero, flux], axis=0)) \
            * self.inv_2thickness


def _zeros_like_layer(zero: Any, like: Any) -> Any:
    """A zero layer (1, nlat, nlon) shaped like one layer of `like` (a broadcast view)."""
    return np.broadcast_to(zero, (1,) + tuple(like.shape[1:]))
