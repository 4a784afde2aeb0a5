"""Lorenz-63: an ensemble of trajectories of the Lorenz (1963) system, integrated with RK4.

    dx/dt = σ(y − x),   dy/dt = x(ρ − z) − y,   dz/dt = xy − βz,   σ = 10, ρ = 28, β = 8/3

Lorenz, E. N. (1963), J. Atmos. Sci. 20, 130–141. Dimensionless; time in model units ("1").
Classical RK4 with Δt = 0.01 (:func:`models.steppers.rk4`); under emulation every operation is
rounded, the stage combinations included.

Precision components:

- ``"tendencies"``: the right-hand side f(x, y, z) and its constants σ, ρ, β, 1/s.
- ``"timestepping"``: the RK4 stage combinations (y + Δt/2·k, the weighted sum of the k's, the
  update) and their constants Δt, Δt/2, Δt/6; the prognostic state x, y, z lives here (initial
  and restored states enter under this component).

Optional power-of-two scaling s (``Params.scale``): the model integrates x̃ = s·x, ỹ = s·y,
z̃ = s·z, for which the equations become

    dx̃/dt = σ(ỹ − x̃),   dỹ/dt = x̃(ρ − z̃/s) − ỹ,   dz̃/dt = x̃(ỹ/s) − βz̃.

Multiplying by a power of two is exact unless it leaves the exponent range, so s changes nothing
with float64's range and matters only with a restricted range (e.g. IEEE half). ỹ/s is taken
before the product so that no intermediate is larger than s times a state value. With s = 1 the
extra products by 1/s are exact and the run is bit-identical to the unscaled equations. Output
is always unscaled (x = x̃/s, exact in float64).

Initial state: ``np.random.default_rng(seed)`` draws points uniformly in the box
x, y ∈ [−20, 20], z ∈ [0, 50]; they are then integrated in float64 for ``prespin`` time units
(default 25) with the same scheme, and enter the emulator rounded. The points reach the attractor
within a few time units (volume contracts at σ + 1 + β ≈ 13.7 per unit), but the ensemble's
*distribution* relaxes to the attractor's invariant measure only in ~20 (measured, 1000 points
from the box: mean z 23.98 and std z 8.12 over the first 5 time units, 23.62 and 8.54 over
10–20, 23.55 and 8.62 from 20 on), hence 25. The harness's spin-up (≥ 10 time units, spec) then
runs under the experiment's arithmetic.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from models.base import FLOAT64, Arithmetic, Output, register
from models.state import FieldState
from models.steppers import RK4Weights, rk4


@dataclass(frozen=True)
class Params:
    sigma: float = 10.0         # Prandtl number σ, dimensionless
    rho: float = 28.0           # Rayleigh number ratio ρ, dimensionless
    beta: float = 8.0 / 3.0     # geometric factor β, dimensionless
    dt: float = 0.01            # RK4 time step, model time units
    particles: int = 1000       # trajectories integrated together (output dim "particle")
    scale: float = 1.0          # s: integrate s·(x, y, z); a power of two
    prespin: float = 25.0       # float64 integration of the random initial points, time units

    def __post_init__(self) -> None:
        if not (isinstance(self.particles, (int, np.integer)) and self.particles >= 1):
            raise ValueError(f"lorenz63 particles = {self.particles!r}: the number of trajectories "
                             "must be a positive integer (the spec uses 1000–10000).")
        if not (math.isfinite(self.dt) and self.dt > 0):
            raise ValueError(f"lorenz63 dt = {self.dt!r}: the time step must be positive and "
                             "finite (the spec uses 0.01).")
        mantissa, _ = math.frexp(self.scale) if math.isfinite(self.scale) else (0.0, 0)
        if mantissa != 0.5:
            raise ValueError(f"lorenz63 scale = {self.scale!r}: the scaling s must be a positive "
                             "power of two (e.g. 1, 0.25, 16) so that scaling is exact; "
                             "use scale = 1 for the unscaled equations.")
        if not (math.isfinite(self.prespin) and self.prespin >= 0):
            raise ValueError(f"lorenz63 prespin = {self.prespin!r}: must be a non-negative "
                             "number of time units (default 25).")


@dataclass(frozen=True)
class L63State(FieldState):
    x: Any      # s·x, shape (particle,)
    y: Any      # s·y, shape (particle,)
    z: Any      # s·z, shape (particle,)


@register("lorenz63")
class Lorenz63:
    """Lorenz (1963), dimensionless: dx/dt = σ(y − x), dy/dt = x(ρ − z) − y, dz/dt = xy − βz."""

    name = "lorenz63"
    Params = Params
    COMPONENTS = ("tendencies", "timestepping")
    SAMPLE_DIMS: tuple[str, ...] = ("particle",)    # trajectories: samples, pooled with time
    OUTPUTS = (
        Output("x", ("time", "particle"), units="1",
               long_name="Lorenz-63 x, proportional to the intensity of convective motion"),
        Output("y", ("time", "particle"), units="1",
               long_name="Lorenz-63 y, proportional to the horizontal temperature difference"),
        Output("z", ("time", "particle"), units="1",
               long_name="Lorenz-63 z, proportional to the distortion of the vertical "
                         "temperature profile"),
    )
    time_units = "1"

    def __init__(self, params: Params | None = None, emu: Arithmetic = FLOAT64) -> None:
        self.params = p = params if params is not None else Params()
        self.emu = emu
        self.dt = p.dt
        emu.declare_components(self.COMPONENTS)
        with emu.component("tendencies"):
            self.sigma = emu.const(p.sigma)
            self.rho = emu.const(p.rho)
            self.beta = emu.const(p.beta)       # 8/3 is inexact at every sbits: rounded once
            self.inv_s = emu.const(1.0 / p.scale)   # a power of two: exact
        with emu.component("timestepping"):
            self.weights = RK4Weights.from_dt(p.dt, emu)

    def tendency(self, s: L63State) -> L63State:
        """f(x̃, ỹ, z̃) of the scaled equations (module docstring)."""
        with self.emu.component("tendencies"):
            x, y, z = s.x, s.y, s.z
            return L63State(x=self.sigma * (y - x),
                            y=x * (self.rho - z * self.inv_s) - y,
                            z=x * (y * self.inv_s) - self.beta * z)

    def step(self, state: L63State) -> L63State:
        """One RK4 step of Δt."""
        with self.emu.component("timestepping"):
            return rk4(self.tendency, state, self.weights)

    def initial_state(self, seed: int) -> L63State:
        """Random points near the attractor from ``seed`` (module docstring), scaled by s."""
        p = self.params
        rng = np.random.default_rng(seed)
        n = p.particles
        box = L63State(x=rng.uniform(-20.0, 20.0, n), y=rng.uniform(-20.0, 20.0, n),
                       z=rng.uniform(0.0, 50.0, n))
        spinner = Lorenz63(replace(p, scale=1.0), FLOAT64)
        for _ in range(round(p.prespin / p.dt)):
            box = spinner.step(box)
        with self.emu.component("timestepping"):
            return L63State(x=self.emu.asarray(p.scale * box.x),
                            y=self.emu.asarray(p.scale * box.y),
                            z=self.emu.asarray(p.scale * box.z))

    def coords(self) -> dict[str, tuple[tuple[str, ...], np.ndarray, dict]]:
        index = np.arange(self.params.particles, dtype=np.float64)
        return {"particle": (("particle",), index,
                             {"long_name": "trajectory index within the ensemble", "units": "1"})}

    def diagnostics(self, state: L63State) -> dict[str, np.ndarray]:
        """x, y, z unscaled, float64, shape (particle,)."""
        s = self.params.scale
        return {name: np.array(self.emu.to_float64(getattr(state, name)), dtype=np.float64) / s
                for name in ("x", "y", "z")}

    def state_arrays(self, state: L63State) -> dict[str, np.ndarray]:
        """The scaled prognostic x̃, ỹ, z̃ as float64 copies (exact)."""
        return {name: np.array(self.emu.to_float64(getattr(state, name)), dtype=np.float64)
                for name in ("x", "y", "z")}

    def state_description(self) -> dict[str, tuple[tuple[str, ...], dict[str, str]]]:
        """Dims and CF attributes of each array of :meth:`state_arrays`."""
        return {name: (("particle",), {
            "long_name": f"scaled Lorenz-63 variable {name} times scale = "
                         f"{self.params.scale:g} (the prognostic form)", "units": "1"})
            for name in ("x", "y", "z")}

    def state_from_arrays(self, arrays: dict[str, np.ndarray]) -> L63State:
        """Inverse of :meth:`state_arrays` (values already in the format: entering is exact)."""
        missing = {"x", "y", "z"} - set(arrays)
        if missing:
            raise KeyError(f"lorenz63 restart lacks {sorted(missing)}; it has {sorted(arrays)}. "
                           "Expected the arrays written by Lorenz63.state_arrays.")
        shapes = {name: np.shape(arrays[name]) for name in ("x", "y", "z")}
        if any(shape != (self.params.particles,) for shape in shapes.values()):
            raise ValueError(f"lorenz63 restart shapes {shapes} do not match particles = "
                             f"{self.params.particles}; restart with the same particles.")
        with self.emu.component("timestepping"):
            return L63State(**{name: self.emu.asarray(np.asarray(arrays[name], dtype=np.float64))
                               for name in ("x", "y", "z")})
