"""Soil-column heat diffusion, forward Euler: the case where round-to-nearest stagnates.

    ∂T/∂t = D ∂²T/∂z²,     T_i ← T_i + ξ (T_{i+1} − 2T_i + T_{i−1}),     ξ = DΔt/Δz²

Nodes z_i = iΔz, i = 0..M, depth positive down (default 61 nodes, 0–60 m, Δz = 1 m, Δt = 1800 s,
D = 7×10⁻⁷ m² s⁻¹, so ξ = 1.26×10⁻³). Boundaries, as the spec:

- top (i = 0): T = 280 K fixed, or the optional diurnal cycle
  T_top(t) = 273.15 K + 6.85 K · ½(1 + sin(2πt / 86400 s)); or ``top = "insulated"``
  (T_0 ← T_0 + ξ(T_1 − T_0)), used to test conservation.
- bottom (i = M): zero flux, T_M ← T_M + ξ(T_{M−1} − T_M). This is a cell-centred finite volume:
  node M is the centre of a full cell whose lower face carries no flux, so the plain sum Σ T_i is
  conserved when the top is insulated.

Initial state: 273.15 K at every interior node, the top node at its boundary value at t = 0.
The state holds the step count, so the diurnal forcing restarts exactly.

Temperatures are in Kelvin on purpose (spec §2): at 10 sbits the spacing in [256, 512) K is
0.25 K, so round-to-nearest loses every increment smaller than 0.125 K. ``anomaly = True``
integrates θ = T − 273.15 K instead (a classic mitigation, and no cure: at 10 sbits nearest it
only moves the stall, T(5 m) stuck at 273.65 K from year 1 to year 60, as the increments shrink
below half a spacing of θ); output is T in K either way.

Precision component ``"diffusion"``: the whole update (stencil, boundaries, the constant ξ, and
the top boundary value, which is computed in float64 from the time and rounded as it enters,
like forcing read from a file). The prognostic T (or θ) lives in this component.

Evaluation order (meaning under emulation): the stencil is ((T_{i+1} − 2T_i) + T_{i−1}) as
printed in the spec, then multiplied by ξ, then added to T_i. Near 280 K at 10 sbits the two
differences are exact; the other grouping, (T_{i+1} + T_{i−1}) − 2T_i, rounds at the size of 2T.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from models.base import FLOAT64, Arithmetic, Output, register

TOP_BOUNDARIES = ("fixed", "insulated")


@dataclass(frozen=True)
class Params:
    D: float = 7e-7                 # thermal diffusivity, m² s⁻¹
    depth: float = 60.0             # column depth (deepest node), m
    dz: float = 1.0                 # node spacing Δz, m
    dt: float = 1800.0              # time step Δt, s
    T_top: float = 280.0            # fixed top temperature, K
    T_initial: float = 273.15       # initial temperature, K
    anomaly: bool = False           # integrate θ = T − T_ref instead of T
    T_ref: float = 273.15           # reference temperature of the anomaly, K
    diurnal: bool = False           # top follows T_top(t) below instead of the fixed T_top
    diurnal_mean_low: float = 273.15    # T_top(t) = low + amplitude·½(1 + sin(2πt/period)), K
    diurnal_amplitude: float = 6.85     # K
    diurnal_period: float = 86400.0     # s
    top: str = "fixed"              # "fixed" (Dirichlet, T_top or diurnal) or "insulated"

    def __post_init__(self) -> None:
        for name in ("D", "depth", "dz", "dt"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"heat {name} = {value!r}: must be a positive finite number.")
        nodes = self.depth / self.dz
        if abs(nodes - round(nodes)) > 1e-9 * nodes or round(nodes) < 2:
            raise ValueError(f"heat depth = {self.depth!r} m, dz = {self.dz!r} m: depth must be "
                             "a whole number (≥ 2) of node spacings, e.g. depth 60, dz 1.")
        if self.xi >= 0.5:
            raise ValueError(
                f"heat: ξ = DΔt/Δz² = {self.D!r}·{self.dt!r}/{self.dz!r}² = {self.xi:.4g} ≥ 1/2: "
                "forward Euler is unstable. Use dt < "
                f"{0.5 * self.dz**2 / self.D:.6g} s, or a larger dz (spec: dt 1800 s, dz 1 m).")
        if self.top not in TOP_BOUNDARIES:
            raise ValueError(f"heat top = {self.top!r}: known top boundaries are "
                             f"{', '.join(TOP_BOUNDARIES)}.")
        if self.diurnal and self.top != "fixed":
            raise ValueError("heat: diurnal = true needs top = 'fixed' (the diurnal cycle is a "
                             f"prescribed top temperature); got top = {self.top!r}.")

    @property
    def xi(self) -> float:
        """ξ = DΔt/Δz², dimensionless (float64)."""
        return self.D * self.dt / self.dz**2

    @property
    def nodes(self) -> int:
        return round(self.depth / self.dz) + 1


@dataclass(frozen=True)
class HeatState:
    T: Any      # prognostic temperature (θ = T − T_ref if anomaly), K, shape (depth,)
    n: int      # steps taken since t = 0 (time t = nΔt)


@register("heat")
class HeatColumn:
    """∂T/∂t = D ∂²T/∂z² on a soil column; forward Euler, centred differences (module doc)."""

    name = "heat"
    Params = Params
    COMPONENTS = ("diffusion",)
    OUTPUTS = (
        Output("T", ("time", "depth"), units="K", long_name="soil temperature",
               standard_name="soil_temperature", units_metadata="temperature: on_scale"),
    )
    time_units = "s"

    def __init__(self, params: Params | None = None, emu: Arithmetic = FLOAT64) -> None:
        self.params = p = params if params is not None else Params()
        self.emu = emu
        self.dt = p.dt
        self.offset = p.T_ref if p.anomaly else 0.0     # prognostic = T − offset, float64
        emu.declare_components(self.COMPONENTS)
        with emu.component("diffusion"):
            self.xi = emu.const(p.xi)                    # 1.26e-3: rounded once, here

    def top_temperature(self, n: int) -> float:
        """Prescribed top temperature at t = nΔt, K, float64 (the forcing, before rounding)."""
        p = self.params
        if not p.diurnal:
            return p.T_top
        t = n * p.dt
        return p.diurnal_mean_low + p.diurnal_amplitude * 0.5 * (
            1.0 + math.sin(2.0 * math.pi * t / p.diurnal_period))

    def step(self, state: HeatState) -> HeatState:
        """One forward-Euler step of Δt."""
        emu, xi = self.emu, self.xi
        with emu.component("diffusion"):
            T = state.T
            T_new = T.copy()
            # one-node slices (not scalars) keep every piece an array of the arithmetic
            top, below_top, interior = slice(0, 1), slice(1, 2), slice(1, -1)
            above_bottom, bottom = slice(-2, -1), slice(-1, None)
            T_new[interior] = T[interior] + xi * (T[2:] - 2 * T[1:-1] + T[:-2])
            T_new[bottom] = T[bottom] + xi * (T[above_bottom] - T[bottom])     # zero-flux face
            if self.params.top == "insulated":
                T_new[top] = T[top] + xi * (T[below_top] - T[top])
            else:
                T_new[top] = emu.const(self.top_temperature(state.n + 1) - self.offset)
        return HeatState(T=T_new, n=state.n + 1)

    def initial_state(self, seed: int) -> HeatState:
        """Uniform T_initial with the top at its boundary value; ``seed`` is unused (deterministic)."""
        p = self.params
        T = np.full(p.nodes, p.T_initial, dtype=np.float64)
        if p.top == "fixed":
            T[0] = self.top_temperature(0)
        with self.emu.component("diffusion"):
            return HeatState(T=self.emu.asarray(T - self.offset), n=0)

    def depth(self) -> np.ndarray:
        """Node depths z_i = iΔz, m, positive down."""
        return np.arange(self.params.nodes, dtype=np.float64) * self.params.dz

    def coords(self) -> dict[str, tuple[tuple[str, ...], np.ndarray, dict]]:
        attrs = {"standard_name": "depth", "long_name": "depth below the surface", "units": "m",
                 "positive": "down", "axis": "Z"}
        return {"depth": (("depth",), self.depth(), attrs)}

    def diagnostics(self, state: HeatState) -> dict[str, np.ndarray]:
        """T in K, float64, shape (depth,) (the anomaly plus T_ref when ``anomaly``)."""
        return {"T": np.array(self.emu.to_float64(state.T), dtype=np.float64) + self.offset}

    def state_arrays(self, state: HeatState) -> dict[str, np.ndarray]:
        """The prognostic field (``T`` or ``T_anomaly``) and the step count ``n``, float64."""
        key = "T_anomaly" if self.params.anomaly else "T"
        return {key: np.array(self.emu.to_float64(state.T), dtype=np.float64),
                "n": np.array(float(state.n))}

    def state_description(self) -> dict[str, tuple[tuple[str, ...], dict[str, str]]]:
        """Dims and CF attributes of each array of :meth:`state_arrays`."""
        if self.params.anomaly:
            T = {"long_name": f"soil temperature anomaly T - {self.params.T_ref:g} K at the nodes "
                              "(the prognostic form)", "units": "K",
                 "units_metadata": "temperature: difference"}
        else:
            T = {"long_name": "soil temperature T at the nodes (prognostic)", "units": "K",
                 "units_metadata": "temperature: on_scale"}
        return {"T_anomaly" if self.params.anomaly else "T": (("depth",), T),
                "n": ((), {"long_name": "time steps taken since the initial state",
                           "units": "1"})}

    def state_from_arrays(self, arrays: dict[str, np.ndarray]) -> HeatState:
        """Inverse of :meth:`state_arrays`; refuses a restart of the other formulation."""
        key = "T_anomaly" if self.params.anomaly else "T"
        if key not in arrays or "n" not in arrays:
            raise KeyError(f"heat restart (anomaly = {self.params.anomaly}) needs arrays {key!r} "
                           f"and 'n'; it has {sorted(arrays)}. Restart with the same anomaly "
                           "setting that wrote it.")
        T = np.asarray(arrays[key], dtype=np.float64)
        if T.shape != (self.params.nodes,):
            raise ValueError(f"heat restart {key} has shape {T.shape}; this column has "
                             f"{self.params.nodes} nodes (depth {self.params.depth} m, dz "
                             f"{self.params.dz} m).")
        n = float(np.asarray(arrays["n"]))
        if n != int(n) or n < 0:
            raise ValueError(f"heat restart n = {n!r}: the step count must be a whole number ≥ 0.")
        with self.emu.component("diffusion"):
            return HeatState(T=self.emu.asarray(T), n=int(n))
