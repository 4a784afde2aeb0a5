"""Shallow water: wind-driven turbulent flow in a zonal channel over a ridge, on an Arakawa C-grid.

The configuration of Klöwer, Düben & Palmer (2020, JAMES 12, e2020MS002246), as in
ShallowWaters.jl of that time. Vector-invariant equations for u, v (m s⁻¹) and η (m):

    ∂u/∂t =  q(hv) − ∂p/∂x + Fx + Dx        q = (f + ∂v/∂x − ∂u/∂y)/h    potential vorticity
    ∂v/∂t = −q(hu) − ∂p/∂y      + Dy        p = ½(u² + v²) + gη          Bernoulli potential
    ∂η/∂t = −∂(uh)/∂x − ∂(vh)/∂y            h = η + H(x),  f = f0 + β(y − Ly/2)
    D = −(c_D/h)|u|u − ν∇⁴u                 quadratic bottom drag and biharmonic viscosity

Grid (arrays indexed [y, x], spacing Δ = Lx/nx = Ly/ny, x eastward and y northward in metres
from the south-west corner of the channel; no map projection):

    η, h, p   cell centres ((i+½)Δ, (j+½)Δ)       shape (ny, nx)
    u         west faces   (iΔ, (j+½)Δ)           shape (ny, nx)      periodic in x
    v         south faces  ((i+½)Δ, jΔ), j=1..ny−1 shape (ny−1, nx)    v = 0 on the walls j = 0, ny
    q, ζ      corners      (iΔ, jΔ), j=0..ny      shape (ny+1, nx)

Walls: no-slip (ghost u = −u), no normal flow, zero normal gradient of h (ghost h = h).

Time stepping: classical RK4 for the non-dissipative terms, then drag and viscosity evaluated
once from the updated state and added (semi-implicit Euler), as ShallowWaters.jl does.
The default Δt is the largest step at or below the gravity-wave CFL step cfl·Δ/√(g H0) that
divides 6 hours (``dt_divides``): 21600/77 = 280.5 s at 100 × 50 and 21600/39 = 553.8 s at
50 × 25, instead of 282.8 s and 565.7 s. Then 6-hourly output falls on whole steps and a day is
a whole number of steps (308 and 156), so the output is truly 6-hourly, daily means cover 24 h and
the calendar does not drift (the exact CFL step gives 38 steps = 5.97 h at 50 × 25: daily means
over 23.9 h and a slip of about 1.8 days a year). ``dt_divides=None`` (0 in a TOML config) gives
the exact CFL step; ``dt`` sets the step directly.

Precision components (every arithmetic result is rounded to the active component's format):

- ``"tendencies"``: the right-hand side of the non-dissipative equations (the paper's 16-bit part).
- ``"prognostic"``: the state and its updates: the RK4 stage states, the weighted sum of the
  stages and its addition to the state, and the addition of dissipation (the paper's 32-bit part).
- ``"dissipation"``: the drag and viscosity tendencies.

The 2020 paper's mixed precision (Float16 tendencies, Float32 state) is
``components={"tendencies": 10, "dissipation": 10, "prognostic": 23}``.

Options (rounding-aware rewrites, STYLE §7): ``nondimensional`` gradients (Δ folded into the
constants, so gradients are plain differences and numbers stay O(1), as ShallowWaters.jl) and
``compensated`` (Kahan) summation of the increments into the state (the lost low-order bits are
carried to the next step in a residual that is part of the state).

Outputs: u, v, η interpolated to cell centres (simple for validation: one grid for all three), and
domain means of kinetic energy, potential energy and relative enstrophy.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, Callable, Iterable

import numpy as np

from models.base import FLOAT64, Arithmetic, Output, register
from models.state import FieldState
from models.steppers import RK4Weights, rk4

PV_SCHEMES = ("arakawa_hsu", "sadourny")
DAY = 86400.0           # s


@dataclass(frozen=True)
class ShallowWaterParams:
    """Parameters with the Klöwer et al. (2020) defaults; SI units."""

    nx: int = 100                   # grid cells in x (zonal, periodic)
    ny: int = 50                    # grid cells in y (meridional, walls); Lx/nx must equal Ly/ny
    Lx: float = 2.0e6               # channel length, m
    Ly: float = 1.0e6               # channel width, m
    latitude: float = 45.0          # latitude of the channel centre, degrees north
    Omega: float = 2 * math.pi / DAY  # rotation rate, s⁻¹ (0 for no rotation)
    R: float = 6.371e6              # Earth radius, m (for β)
    g: float = 10.0                 # gravity, m s⁻²
    H0: float = 500.0               # layer depth at rest away from the ridge, m
    ridge_height: float = 50.0      # height of the Gaussian ridge, m (0: flat bottom)
    ridge_width: float = 3.0e5      # standard deviation of the ridge in x, m
    F0: float = 0.12                # wind stress amplitude, Pa
    rho: float = 1000.0             # water density, kg m⁻³
    c_D: float = 1.0e-5             # quadratic bottom drag coefficient, 1
    nu: float = 1.33e11             # biharmonic viscosity at spacing nu_spacing, m⁴ s⁻¹
    nu_spacing: float = 2.0e4       # spacing at which nu applies; ν scales as Δ³, m
    cfl: float = 1.0                # Δt_CFL = cfl·Δ/√(g H0), the largest step allowed
    dt_divides: float | None = 21600.0  # s; Δt = dt_divides/⌈dt_divides/Δt_CFL⌉: the largest
                                    # step ≤ Δt_CFL dividing 6 h, so 6-hourly output and days are
                                    # whole steps (calendar and daily means exact); None or 0: Δt_CFL
    dt: float | None = None         # time step, s; overrides cfl and dt_divides when given
    pv_scheme: str = "arakawa_hsu"  # "arakawa_hsu" (energy and enstrophy) or "sadourny" (enstrophy)
    nondimensional: bool = False    # gradients as plain differences, Δ folded into the constants
    compensated: bool = False       # Kahan summation of the increments into the state
    initial_eta_amplitude: float = 1.0e-3   # std of the random initial η, m

    def __post_init__(self) -> None:
        if int(self.nx) != self.nx or int(self.ny) != self.ny or self.nx < 2 or self.ny < 2:
            raise ValueError(f"shallow_water: nx={self.nx}, ny={self.ny}: both must be integers "
                             f">= 2 (default 100 x 50; 50 x 25 is the cheap grid)")
        if not math.isclose(self.Lx / self.nx, self.Ly / self.ny, rel_tol=1e-12):
            raise ValueError(f"shallow_water: Lx/nx = {self.Lx / self.nx} m but Ly/ny = "
                             f"{self.Ly / self.ny} m: the grid must be square. Choose ny = "
                             f"nx·Ly/Lx = {self.nx * self.Ly / self.Lx:g}, or change Ly.")
        if self.pv_scheme not in PV_SCHEMES:
            raise ValueError(f"shallow_water: pv_scheme={self.pv_scheme!r}: choose one of "
                             f"{', '.join(PV_SCHEMES)}")
        if not (self.cfl > 0) or (self.dt is not None and not self.dt > 0):
            raise ValueError(f"shallow_water: cfl={self.cfl}, dt={self.dt}: both must be positive "
                             f"(the default cfl = 1 gives Δt = 280.5 s at Δ = 20 km)")
        if self.dt_divides is not None and not (self.dt_divides >= 0 and math.isfinite(self.dt_divides)):
            raise ValueError(f"shallow_water: dt_divides={self.dt_divides} s: must be a positive "
                             f"duration the time step divides (default 21600 s = 6 h), or "
                             f"None / 0 for the exact CFL step")

    @property
    def spacing(self) -> float:
        """Grid spacing Δ, m."""
        return self.Lx / self.nx

    @property
    def cfl_time_step(self) -> float:
        """Δt_CFL = cfl·Δ/√(g H0), s: the gravity-wave CFL step."""
        return self.cfl * self.spacing / math.sqrt(self.g * self.H0)

    @property
    def time_step(self) -> float:
        """Δt, s: the given dt; else the largest step ≤ Δt_CFL that divides dt_divides
        (dt_divides/n with n = ⌈dt_divides/Δt_CFL⌉); else (dt_divides None or 0) Δt_CFL."""
        if self.dt is not None:
            return self.dt
        if not self.dt_divides:
            return self.cfl_time_step
        # the 1e-9 keeps a CFL step that divides exactly, whose quotient may round to just above
        # an integer (so Δt may exceed Δt_CFL, by at most 1e-9/n relative)
        steps = max(1, math.ceil(self.dt_divides / self.cfl_time_step - 1e-9))
        return self.dt_divides / steps

    @property
    def viscosity(self) -> float:
        """Biharmonic ν at this grid's spacing, m⁴ s⁻¹ (scaled as Δ³)."""
        return self.nu * (self.spacing / self.nu_spacing) ** 3


@dataclass(frozen=True)
class ShallowWaterState(FieldState):
    """The prognostic fields (also used for tendencies, in m s⁻² and m s⁻¹)."""

    u: Any      # zonal velocity on west faces, (ny, nx), m s⁻¹
    v: Any      # meridional velocity on interior south faces, (ny−1, nx), m s⁻¹
    eta: Any    # sea surface height at cell centres, (ny, nx), m


@dataclass(frozen=True)
class CompensatedState:
    """State plus the Kahan residual: the part of past increments the state could not hold."""

    state: ShallowWaterState
    residual: ShallowWaterState


# --- Neighbours on the C-grid: x is periodic (axis 1); y (axis 0) is handled by each operator.
def east(a: Any) -> Any:
    """The value one cell east (i+1), periodic."""
    return np.concatenate((a[:, 1:], a[:, :1]), axis=1)


def west(a: Any) -> Any:
    """The value one cell west (i−1), periodic."""
    return np.concatenate((a[:, -1:], a[:, :-1]), axis=1)


class Grid:
    """Float64 coordinates of the C-grid points, m (see the module docstring)."""

    def __init__(self, p: ShallowWaterParams):
        self.nx, self.ny, self.spacing = p.nx, p.ny, p.spacing
        d = p.spacing
        self.x_centre = (np.arange(p.nx) + 0.5) * d      # η, h, p, and u, v as output
        self.y_centre = (np.arange(p.ny) + 0.5) * d
        self.x_face = np.arange(p.nx) * d                 # u, q
        self.y_face = np.arange(p.ny + 1) * d             # v (with the walls), q


def depth_at_rest(p: ShallowWaterParams, grid: Grid) -> np.ndarray:
    """H(x) = H0 − ridge_height·exp(−(x − Lx/2)²/(2·ridge_width²)) at the cell centres, m."""
    return p.H0 - p.ridge_height * np.exp(-(grid.x_centre - p.Lx / 2) ** 2 / (2 * p.ridge_width ** 2))


class Dynamics:
    """Right-hand side of the non-dissipative equations: PV flux, Bernoulli gradient, wind, continuity.

    Built under the "tendencies" component, so its constants are rounded to that format.
    In the nondimensional option the tendencies are Δ times the dimensional ones.
    """

    def __init__(self, p: ShallowWaterParams, grid: Grid, emu: Arithmetic):
        d = p.spacing
        scale = d if p.nondimensional else 1.0            # tendencies are scale × (m s⁻², m s⁻¹)
        f0 = 2 * p.Omega * math.sin(math.radians(p.latitude))
        beta = 2 * p.Omega * math.cos(math.radians(p.latitude)) / p.R
        f_q = f0 + beta * (grid.y_face - p.Ly / 2)                       # at corners, s⁻¹
        Fx = p.F0 / (p.rho * p.H0) * np.cos(np.pi * (grid.y_centre / p.Ly - 0.5)) ** 2  # m s⁻²
        self.half, self.quarter, self.twelfth = emu.const(0.5), emu.const(0.25), emu.const(1 / 12)
        self.g = emu.const(p.g)
        self.H = emu.const(depth_at_rest(p, grid)[None, :])   # (1, nx): depends on x only
        self.f_q = emu.const(scale * f_q[:, None])         # (ny+1, 1)
        self.Fx = emu.const(scale * Fx[:, None])           # (ny, 1)
        self.inv_spacing = None if p.nondimensional else emu.const(1 / d)
        self.zero_row = emu.asarray(np.zeros((1, p.nx)))
        self.pv_flux = self.arakawa_hsu if p.pv_scheme == "arakawa_hsu" else self.sadourny

    def gradient(self, difference: Any) -> Any:
        """A difference of neighbours as a gradient (÷Δ), or as itself when nondimensional."""
        return difference if self.inv_spacing is None else difference * self.inv_spacing

    def with_walls(self, a: Any) -> Any:
        """An interior-face field (ny−1, nx) with the zero wall rows added: (ny+1, nx)."""
        return np.concatenate((self.zero_row, a, self.zero_row), axis=0)

    def tendency(self, s: ShallowWaterState) -> ShallowWaterState:
        u, v, eta = s.u, s.v, s.eta
        half, quarter = self.half, self.quarter
        h = eta + self.H                                   # layer thickness at centres
        h_u = half * (h + west(h))                         # ... at u points
        h_v = half * (h[1:] + h[:-1])                      # ... at interior v points
        U = u * h_u                                        # zonal volume flux, m² s⁻¹
        V = self.with_walls(v * h_v)                       # meridional flux, zero at the walls

        deta = -(self.gradient(east(U) - U) + self.gradient(V[1:] - V[:-1]))

        v_walls = self.with_walls(v)
        u_ghost = np.concatenate((-u[:1], u, -u[-1:]), axis=0)     # no-slip walls
        dvdx = self.gradient(v_walls - west(v_walls))              # at corners
        dudy = self.gradient(u_ghost[1:] - u_ghost[:-1])           # at corners
        h_ghost = np.concatenate((h[:1], h, h[-1:]), axis=0)       # zero normal gradient
        h_y = h_ghost[1:] + h_ghost[:-1]
        h_q = quarter * (h_y + west(h_y))                          # h at corners
        q = (self.f_q + (dvdx - dudy)) / h_q                       # potential vorticity

        u2, v2 = u * u, v_walls * v_walls
        p = quarter * ((u2 + east(u2)) + (v2[1:] + v2[:-1])) + self.g * eta   # Bernoulli
        dpdx = self.gradient(p - west(p))                  # at u points
        dpdy = self.gradient(p[1:] - p[:-1])               # at interior v points

        qhv, qhu = self.pv_flux(q, U, V)
        du = (qhv - dpdx) + self.Fx
        dv = -(qhu + dpdy)
        return ShallowWaterState(u=du, v=dv, eta=deta)

    def arakawa_hsu(self, q: Any, U: Any, V: Any) -> tuple[Any, Any]:
        """q(hv) at u points and q(hu) at interior v points, Arakawa & Hsu (1990).

        Each pair of a u face and a v face of one cell is coupled by the coefficient
        (sum of q at three corners of the cell)/12: their shared corner and its two neighbours
        (the triads of ShallowWaters.jl). The same coefficient serves both equations, so the
        PV flux does no work: energy is conserved (tested); the paper shows potential enstrophy
        is too for non-divergent flux (not tested here).
        """
        t = self.twelfth
        qE = east(q)
        SW, SE, NW, NE = q[:-1], qE[:-1], q[1:], qE[1:]    # corners of each cell, (ny, nx)
        diag_sw_ne, diag_se_nw = SW + NE, SE + NW
        alpha = t * (NW + diag_sw_ne)      # west face with north face (shared NW corner)
        beta = t * (NE + diag_se_nw)       # east face with north face (NE)
        gamma = t * (SE + diag_sw_ne)      # east face with south face (SE)
        delta = t * (SW + diag_se_nw)      # west face with south face (SW)
        VN, VS, UE = V[1:], V[:-1], east(U)
        qhv = (alpha * VN + delta * VS) + west(beta * VN + gamma * VS)
        qhu_south = delta * U + gamma * UE                 # onto each cell's south face
        qhu_north = alpha * U + beta * UE                  # onto each cell's north face
        return qhv, qhu_south[1:] + qhu_north[:-1]

    def sadourny(self, q: Any, U: Any, V: Any) -> tuple[Any, Any]:
        """q(hv), q(hu) as Sadourny (1975), enstrophy conserving: PV averaged × flux averaged."""
        half, quarter = self.half, self.quarter
        q_u = half * (q[1:] + q[:-1])
        V_y = V[1:] + V[:-1]
        qhv = q_u * (quarter * (V_y + west(V_y)))
        q_v = half * (q[1:-1] + east(q[1:-1]))
        U_x = U + east(U)
        qhu = q_v * (quarter * (U_x[1:] + U_x[:-1]))
        return qhv, qhu


class Dissipation:
    """Quadratic bottom drag −(c_D/h)|u|u and biharmonic viscosity −ν∇⁴u (u and v only).

    ∇⁴ = L·L with the same wall condition in both Laplacians (ghost u = −u, v = 0 on the wall):
    L is then symmetric negative definite, so −νL² dissipates energy.
    Built under the "dissipation" component.
    """

    def __init__(self, p: ShallowWaterParams, grid: Grid, emu: Arithmetic):
        d = p.spacing
        self.half = emu.const(0.5)
        self.H = emu.const(depth_at_rest(p, grid)[None, :])
        if p.nondimensional:          # tendencies are Δ × dimensional; L is without 1/Δ²
            self.minus_c_D = emu.const(-p.c_D * d)
            self.minus_nu = emu.const(-p.viscosity / d ** 3)
            self.inv_spacing2 = None
        else:
            self.minus_c_D = emu.const(-p.c_D)
            self.minus_nu = emu.const(-p.viscosity)
            self.inv_spacing2 = emu.const(1 / d ** 2)
        self.zero_row = emu.asarray(np.zeros((1, p.nx)))

    def laplacian_u(self, a: Any) -> Any:
        """∇²a at u points, no-slip walls (ghost −a); differences from the centre (STYLE §7)."""
        a_ghost = np.concatenate((-a[:1], a, -a[-1:]), axis=0)
        lap = ((east(a) - a) + (west(a) - a)) + ((a_ghost[2:] - a) + (a_ghost[:-2] - a))
        return lap if self.inv_spacing2 is None else lap * self.inv_spacing2

    def laplacian_v(self, a: Any) -> Any:
        """∇²a at interior v points, a = 0 on the walls."""
        a_walls = np.concatenate((self.zero_row, a, self.zero_row), axis=0)
        lap = ((east(a) - a) + (west(a) - a)) + ((a_walls[2:] - a) + (a_walls[:-2] - a))
        return lap if self.inv_spacing2 is None else lap * self.inv_spacing2

    def tendency(self, s: ShallowWaterState) -> tuple[Any, Any]:
        """(Du, Dv), m s⁻² (× Δ when nondimensional), from the state after the RK4 step."""
        u, v, half = s.u, s.v, self.half
        h = s.eta + self.H
        v_walls = np.concatenate((self.zero_row, v, self.zero_row), axis=0)
        u2, v2 = u * u, v_walls * v_walls
        speed = np.sqrt(half * ((u2 + east(u2)) + (v2[1:] + v2[:-1])))   # |u| at centres
        drag_u = self.minus_c_D * (half * (speed + west(speed))) * u / (half * (h + west(h)))
        drag_v = self.minus_c_D * (half * (speed[1:] + speed[:-1])) * v / (half * (h[1:] + h[:-1]))
        visc_u = self.minus_nu * self.laplacian_u(self.laplacian_u(u))
        visc_v = self.minus_nu * self.laplacian_v(self.laplacian_v(v))
        return drag_u + visc_u, drag_v + visc_v


def kahan_add(state: ShallowWaterState, increment: ShallowWaterState,
              residual: ShallowWaterState) -> tuple[ShallowWaterState, ShallowWaterState]:
    """state + increment by compensated (Kahan) summation; returns (new state, new residual).

    The residual holds what the previous additions lost to rounding (with the sign to subtract);
    it is folded into this increment, so small increments accumulate instead of vanishing.
    """
    corrected = increment - residual
    new = state + corrected
    return new, (new - state) - corrected


def rk4_compensated(f: Callable[[ShallowWaterState], ShallowWaterState], state: ShallowWaterState,
                    residual: ShallowWaterState, w: RK4Weights
                    ) -> tuple[ShallowWaterState, ShallowWaterState]:
    """Classical RK4 (as models.steppers.rk4), its final update by compensated summation."""
    k1 = f(state)
    k2 = f(state + w.half_dt * k1)
    k3 = f(state + w.half_dt * k2)
    k4 = f(state + w.dt * k3)
    return kahan_add(state, w.sixth_dt * (k1 + 2 * k2 + 2 * k3 + k4), residual)


def _centre(a: np.ndarray, axis: int) -> np.ndarray:
    """Average of a face field (float64) onto cell centres: faces i and i+1 along `axis`."""
    if axis == 1:
        return 0.5 * (a + np.roll(a, -1, axis=1))
    return 0.5 * (a[1:] + a[:-1])


_SPATIAL = ("time", "y", "x")
OUTPUTS = (
    Output("u", _SPATIAL, "m s-1", "zonal velocity u, averaged from west faces to cell centres",
           standard_name="sea_water_x_velocity", cell_methods="time: point"),
    Output("v", _SPATIAL, "m s-1", "meridional velocity v, averaged from south faces to cell centres",
           standard_name="sea_water_y_velocity", cell_methods="time: point"),
    Output("eta", _SPATIAL, "m", "sea surface height anomaly eta at cell centres",
           standard_name="sea_surface_height_above_geoid", cell_methods="time: point"),
    Output("kinetic_energy", ("time",), "J m-2",
           "domain mean kinetic energy per unit area, rho h (u^2 + v^2)/2",
           cell_methods="time: point area: mean", interval="1 day"),
    Output("potential_energy", ("time",), "J m-2",
           "domain mean available potential energy per unit area, rho g eta^2/2",
           cell_methods="time: point area: mean", interval="1 day"),
    Output("enstrophy", ("time",), "s-2",
           "domain mean relative enstrophy, zeta^2/2 with zeta = dv/dx - du/dy at cell corners",
           cell_methods="time: point area: mean", interval="1 day"),
)


@register("shallow_water")
class ShallowWater:
    """Wind-driven channel flow over a ridge (Klöwer et al. 2020); see the module docstring.

    ``ShallowWater(ShallowWaterParams(nx=50, ny=25), emu)``; ``dt`` is in seconds.
    """

    name = "shallow_water"
    Params = ShallowWaterParams
    COMPONENTS = ("prognostic", "tendencies", "dissipation")
    OUTPUTS = OUTPUTS
    time_units = "s"

    def __init__(self, params: ShallowWaterParams | None = None, emu: Arithmetic = FLOAT64):
        p = params if params is not None else ShallowWaterParams()
        self.params, self.emu = p, emu
        emu.declare_components(self.COMPONENTS)
        self.grid = Grid(p)
        self.dt = p.time_step                                     # s
        # nondimensional: tendencies are Δ × dimensional, so the stepper advances by Δt/Δ
        step_length = self.dt / p.spacing if p.nondimensional else self.dt
        with emu.component("tendencies"):
            self.dynamics = Dynamics(p, self.grid, emu)
        with emu.component("dissipation"):
            self.dissipation = Dissipation(p, self.grid, emu)
        with emu.component("prognostic"):
            self.weights = RK4Weights.from_dt(step_length, emu)

    # --- state
    def initial_state(self, seed: int) -> ShallowWaterState | CompensatedState:
        """Rest, with η a tiny white noise (std initial_eta_amplitude, m) drawn from the seed."""
        p = self.params
        rng = np.random.default_rng(seed)
        eta = p.initial_eta_amplitude * rng.standard_normal((p.ny, p.nx))
        return self._enter({"u": np.zeros((p.ny, p.nx)), "v": np.zeros((p.ny - 1, p.nx)),
                            "eta": eta})

    def _enter(self, arrays: dict[str, np.ndarray]) -> ShallowWaterState | CompensatedState:
        with self.emu.component("prognostic"):
            s = ShallowWaterState(**{k: self.emu.asarray(arrays[k]) for k in ("u", "v", "eta")})
            if not self.params.compensated:
                return s
            residual = {k: arrays.get(f"{k}_residual", np.zeros_like(arrays[k]))
                        for k in ("u", "v", "eta")}
            return CompensatedState(s, ShallowWaterState(
                **{k: self.emu.asarray(r) for k, r in residual.items()}))

    def state_arrays(self, state: ShallowWaterState | CompensatedState) -> dict[str, np.ndarray]:
        """u (ny, nx), v (ny−1, nx), eta (ny, nx) as float64 copies on their native points
        (plus u_residual, v_residual, eta_residual with the compensated option)."""
        f64 = self.emu.to_float64
        if isinstance(state, CompensatedState):
            out = {f.name: np.array(f64(getattr(state.state, f.name))) for f in fields(state.state)}
            out |= {f"{f.name}_residual": np.array(f64(getattr(state.residual, f.name)))
                    for f in fields(state.residual)}
            return out
        return {f.name: np.array(f64(getattr(state, f.name))) for f in fields(state)}

    def state_description(self) -> dict[str, tuple[tuple[str, ...], dict[str, str]]]:
        """Dims and CF attributes of each array of :meth:`state_arrays` (native C-grid points:
        u's rows are those of the centres, its columns the west faces; its own dims, y_u and x_u,
        keep the centres' coordinates y and x off it)."""
        fields = {"u": (("y_u", "x_u"), "zonal velocity u on the west faces of the cells", "m s-1"),
                  "v": (("y_v", "x"), "meridional velocity v on the interior south faces of the "
                        "cells", "m s-1"),
                  "eta": (("y", "x"), "sea surface height anomaly eta at cell centres", "m")}
        out = {k: (dims, {"long_name": text, "units": units})
               for k, (dims, text, units) in fields.items()}
        if self.params.compensated:
            out |= {f"{k}_residual": (dims, {"long_name": f"compensated-summation residual of "
                                             f"{k} (the part of its increments not yet added)",
                                             "units": units})
                    for k, (dims, _, units) in fields.items()}
        return out

    def state_from_arrays(self, arrays: dict[str, np.ndarray]) -> ShallowWaterState | CompensatedState:
        p = self.params
        shapes = {"u": (p.ny, p.nx), "v": (p.ny - 1, p.nx), "eta": (p.ny, p.nx)}
        for k, shape in shapes.items():
            if k not in arrays:
                raise ValueError(f"shallow_water restart: no array {k!r} (have {sorted(arrays)}); "
                                 f"a restart holds u, v and eta")
            if np.shape(arrays[k]) != shape:
                raise ValueError(f"shallow_water restart: {k} has shape {np.shape(arrays[k])}, "
                                 f"this grid (nx={p.nx}, ny={p.ny}) needs {shape}")
        return self._enter({k: np.asarray(a, dtype=np.float64) for k, a in arrays.items()})

    # --- time stepping
    def tendency(self, s: ShallowWaterState) -> ShallowWaterState:
        """Non-dissipative tendencies (∂u/∂t, ∂v/∂t, ∂η/∂t), under the "tendencies" component."""
        with self.emu.component("tendencies"):
            return self.dynamics.tendency(s)

    def step(self, state: ShallowWaterState | CompensatedState) -> ShallowWaterState | CompensatedState:
        """One Δt: RK4 for the non-dissipative terms, then drag and viscosity from the new state."""
        emu, w = self.emu, self.weights
        with emu.component("prognostic"):
            if isinstance(state, CompensatedState):
                s, residual = rk4_compensated(self.tendency, state.state, state.residual, w)
            else:
                s, residual = rk4(self.tendency, state, w), None
        with emu.component("dissipation"):
            Du, Dv = self.dissipation.tendency(s)
        with emu.component("prognostic"):                  # semi-implicit Euler: added, × Δt
            if residual is None:
                return ShallowWaterState(u=s.u + w.dt * Du, v=s.v + w.dt * Dv, eta=s.eta)
            dissipated = ShallowWaterState(u=w.dt * Du, v=w.dt * Dv, eta=s.eta - s.eta)
            return CompensatedState(*kahan_add(s, dissipated, residual))

    # --- output
    def coords(self) -> dict[str, tuple[tuple[str, ...], np.ndarray, dict]]:
        g = self.grid
        return {
            "x": (("x",), g.x_centre.copy(), {
                "units": "m", "axis": "X", "standard_name": "projection_x_coordinate", "long_name": "eastward distance of cell centres from "
                "the western end of the periodic channel (no map projection)"}),
            "y": (("y",), g.y_centre.copy(), {
                "units": "m", "axis": "Y", "standard_name": "projection_y_coordinate", "long_name": "northward distance of cell centres from "
                "the southern wall of the channel (no map projection)"}),
        }

    def diagnostics(self, state: ShallowWaterState | CompensatedState) -> dict[str, np.ndarray]:
        """Output name -> float64 array, computed in float64 from copies of the state."""
        p = self.params
        a = self.state_arrays(state)
        u, eta = a["u"], a["eta"]
        zero = np.zeros((1, p.nx))
        v = np.concatenate((zero, a["v"], zero))                   # with the walls
        h = eta + depth_at_rest(p, self.grid)[None, :]
        u2, v2 = u * u, v * v
        kinetic = 0.5 * p.rho * h * (_centre(u2, 1) + _centre(v2, 0))     # J m⁻² per cell
        u_ghost = np.concatenate((-u[:1], u, -u[-1:]))
        zeta = ((v - np.roll(v, 1, axis=1)) - (u_ghost[1:] - u_ghost[:-1])) / p.spacing
        corner_area = np.ones((p.ny + 1, 1))
        corner_area[[0, -1]] = 0.5                                  # half cells on the walls
        enstrophy = np.sum(corner_area * 0.5 * zeta ** 2) / (np.sum(corner_area) * p.nx)
        return {
            "u": _centre(u, 1), "v": _centre(v, 0), "eta": eta.copy(),
            "kinetic_energy": np.asarray(kinetic.mean()),
            "potential_energy": np.asarray((0.5 * p.rho * p.g * eta ** 2).mean()),
            "enstrophy": np.asarray(enstrophy),
        }


def integrate(model: ShallowWater, state: Any, steps: int) -> Any:
    """`steps` time steps from `state`; returns the final state."""
    for _ in range(steps):
        state = model.step(state)
    return state


def spin_up(params: ShallowWaterParams | None = None, days: float = 5 * 365, seed: int = 0,
            restart_days: Iterable[float] | None = None,
            progress: Callable[[float], None] | None = None) -> dict[float, dict[str, np.ndarray]]:
    """Integrate in float64 from rest (tiny random η from `seed`) for `days` (86400 s each).

    Returns {day: state arrays} at each of `restart_days` (default: the end only), taken at the
    step nearest that day; the harness writes them as restart files. `progress(day)` is called
    about every 30 simulated days.
    """
    model = ShallowWater(params, FLOAT64)
    wanted = sorted(set(restart_days) if restart_days is not None else {days})
    if wanted and (wanted[0] < 0 or wanted[-1] > days):
        raise ValueError(f"spin_up: restart_days {wanted} must lie within 0..days={days}")
    steps_at = {d: round(d * DAY / model.dt) for d in wanted}
    state, done, out = model.initial_state(seed), 0, {}
    every = max(1, round(30 * DAY / model.dt))
    for d in wanted:
        while done < steps_at[d]:
            n = min(steps_at[d] - done, every - done % every)
            state = integrate(model, state, n)
            done += n
            if progress is not None and done % every == 0:
                progress(done * model.dt / DAY)
        out[d] = model.state_arrays(state)
    return out
