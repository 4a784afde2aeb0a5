"""The GCM's data: spectral prognostic state, its leapfrog pair, grid fields, physics tendencies.

Spectral fields are complex arrays (levels, T+1, T+1) indexed [k, m, l] (see ``spectral.py``); grid
fields are real (levels, nlat, nlon); surface fields have one level. Tracers (e.g. specific
humidity in a moist model) travel as a name → array mapping beside the dynamical fields, so a
forcing that declares tracers gets them transformed, advected, diffused and stepped without any
change to the core. A forcing sees the grid through ``GridGeometry``; the amounts it reports per
step (precipitation ...) are summed in float64 beside the leapfrog pair (``Accumulations``).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable, Mapping

import numpy as np


@dataclass(frozen=True)
class GridGeometry:
    """What a forcing may know of the grid: float64 coordinates and levels."""

    sinlat: np.ndarray          # sin φ_j, (nlat,)
    coslat: np.ndarray          # cos φ_j, (nlat,)
    sigma: np.ndarray           # full levels σ_k, (K,)
    sigma_half: np.ndarray      # half levels σ_{k+1/2}, (K+1,)
    nlon: int
    dt: float                   # the model's time step, s (for implicit physics)
    p0: float                   # reference pressure of ln(p_s/p0), Pa
    kappa: float                # R/c_p


@dataclass(frozen=True)
class SpectralState:
    """Prognostic variables in spectral space (also used for their tendencies, per second)."""

    vor: Any        # relative vorticity ζ, s⁻¹, (K, T+1, T+1)
    div: Any        # divergence D, s⁻¹
    temp: Any       # T′ = T − T_ref(σ), K
    lnps: Any       # ln(p_s/p0), (1, T+1, T+1)
    tracers: Mapping[str, Any] = field(default_factory=dict)   # name → (K, T+1, T+1)

    # Opt out of numpy's operator dispatch, so `constant * state` reaches __rmul__ below.
    __array_ufunc__ = None

    def map(self, f: Callable[[Any], Any]) -> "SpectralState":
        """f applied to every field (tracers included)."""
        return SpectralState(f(self.vor), f(self.div), f(self.temp), f(self.lnps),
                             {k: f(v) for k, v in self.tracers.items()})

    def zip(self, other: "SpectralState", f: Callable[[Any, Any], Any]) -> "SpectralState":
        """f applied field by field to this state and another with the same tracers."""
        return SpectralState(f(self.vor, other.vor), f(self.div, other.div),
                             f(self.temp, other.temp), f(self.lnps, other.lnps),
                             {k: f(v, other.tracers[k]) for k, v in self.tracers.items()})

    def __add__(self, other: "SpectralState") -> "SpectralState":
        return self.zip(other, lambda a, b: a + b)

    def __sub__(self, other: "SpectralState") -> "SpectralState":
        return self.zip(other, lambda a, b: a - b)

    def __mul__(self, c: Any) -> "SpectralState":
        return self.map(lambda a: c * a)      # scalar first: c * a and a * c round alike

    __rmul__ = __mul__

    def replace(self, **changes: Any) -> "SpectralState":
        return replace(self, **changes)

    def arrays(self) -> dict[str, Any]:
        """Name → array, tracers as ``tracer_<name>``."""
        out = {"vor": self.vor, "div": self.div, "temp": self.temp, "lnps": self.lnps}
        out.update({f"tracer_{k}": v for k, v in self.tracers.items()})
        return out


@dataclass(frozen=True)
class Accumulations:
    """Float64 sums over model steps of a forcing's per-step amounts (e.g. precipitation, mm).

    Each named amount (lat, lon) is summed three ways: over the output window in progress
    (``window``: ``steps`` steps of it done), over the last complete window (``last``: what a
    windowed output such as 6-hourly precipitation reports), and since the initial state
    (``total``: budgets). Diagnostics only: nothing here feeds back into the model, so the sums
    are plain float64 (outside emulation), added in step order (bit-identical on restart).
    """

    window: Mapping[str, np.ndarray] = field(default_factory=dict)
    last: Mapping[str, np.ndarray] = field(default_factory=dict)
    total: Mapping[str, np.ndarray] = field(default_factory=dict)
    steps: int = 0

    def add(self, amounts: Mapping[str, np.ndarray], window_steps: int) -> "Accumulations":
        """These sums plus one step's float64 amounts; a window of ``window_steps`` steps that
        this step completes becomes ``last`` and the next window starts from zero."""
        window = {n: self.window[n] + a for n, a in amounts.items()}
        total = {n: self.total[n] + a for n, a in amounts.items()}
        steps, last = self.steps + 1, self.last
        if steps == window_steps:
            window, last, steps = {n: np.zeros_like(a) for n, a in window.items()}, window, 0
        return Accumulations(window=window, last=last, total=total, steps=steps)

    @classmethod
    def zeros(cls, names: tuple[str, ...], shape: tuple[int, ...]) -> "Accumulations":
        def z() -> dict[str, np.ndarray]:
            return {n: np.zeros(shape) for n in names}
        return cls(window=z(), last=z(), total=z(), steps=0)


@dataclass(frozen=True)
class LeapfrogState:
    """The two time levels of the leapfrog scheme: X^{n−1} (RAW-filtered) and X^n, and the
    float64 sums of the forcing's amounts (none for a forcing without amounts).

    ``started`` is False before the first step, which is then a semi-implicit Euler step from
    ``now`` (``before`` equals ``now`` there).
    """

    before: SpectralState
    now: SpectralState
    started: bool
    sums: Accumulations = field(default_factory=Accumulations)


@dataclass(frozen=True)
class GridState:
    """The grid-point fields a step needs, transformed from ``SpectralState`` (all on the grid).

    U, V are the cos φ-weighted winds u cos φ, v cos φ; (dlnps_dx, dlnps_dy) = cos φ ∇ln p_s =
    ((1/a) ∂ln p_s/∂λ, (1/a) cos²φ ∂ln p_s/∂μ).
    """

    vor: Any        # ζ, s⁻¹, (K, nlat, nlon)
    div: Any        # D, s⁻¹
    temp: Any       # T′, K
    lnps: Any       # ln(p_s/p0), (1, nlat, nlon)
    U: Any          # u cos φ, m s⁻¹
    V: Any          # v cos φ, m s⁻¹
    dlnps_dx: Any   # (1/a) ∂ln p_s/∂λ, m⁻¹
    dlnps_dy: Any   # (1/a) cos²φ ∂ln p_s/∂μ, m⁻¹
    tracers: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PhysicalState:
    """What a forcing sees on the grid: winds, temperature, surface pressure, tracers."""

    u: Any          # eastward wind, m s⁻¹, (K, nlat, nlon)
    v: Any          # northward wind, m s⁻¹
    T: Any          # temperature, K
    lnps: Any       # ln(p_s/p0), (1, nlat, nlon)
    tracers: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PhysicsTendency:
    """Grid-point tendencies from a forcing; None: no tendency of that variable."""

    u: Any = None   # ∂u/∂t, m s⁻²
    v: Any = None   # ∂v/∂t, m s⁻²
    T: Any = None   # ∂T/∂t, K s⁻¹
    tracers: Mapping[str, Any] = field(default_factory=dict)   # ∂q/∂t per tracer, per second
    # amounts of the model step this tendency makes (e.g. precipitation, mm per step, (lat, lon)),
    # summed by the model in float64 (Accumulations); names as the forcing's ``amounts``
    amounts: Mapping[str, Any] = field(default_factory=dict)
