"""The GCM: parameters, wiring of the components, the step as a recipe, state, output.

See the package docstring (``models/gcm/__init__.py``) for the equations and the choices.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from models.base import FLOAT64, Arithmetic, Float64, Output, register
from models.gcm.diffusion import HyperDiffusion
from models.gcm.dynamics import PrimitiveEquations
from models.gcm.forcing import FORCINGS, GridGeometry
from models.gcm.semi_implicit import SemiImplicit
from models.gcm.spectral import SpectralTransform
from models.gcm.state import Accumulations, LeapfrogState, SpectralState
from models.gcm.timestepping import LeapfrogWeights, euler, leapfrog_raw
from models.gcm.vertical import SigmaLevels, half_levels, reference_temperature

SIX_HOURS = 21600.0     # s: the time step divides it, so 6-hourly output and days are whole steps
DT_TIMES_T = 75600.0    # s: the default Δt is the largest divisor of 6 h ≤ 75600 s / T
                        # (2400 s = 40 min at T31, 3600 s at T21, the spec's; 1800 s at T42)
INERTIAL = 0.8          # ... and ≤ 0.8/(2Ω): the leapfrog's explicit Coriolis term is unstable
                        # for 2ΩΔt ≥ 1 (5400 s below T14 on Earth)


@dataclass(frozen=True)
class GCMParams:
    """Parameters with the spec's defaults (specs/models.md §4); SI units unless stated."""

    truncation: int = 31            # triangular truncation T (T31 on 96 x 48; T21 on 64 x 32)
    levels: int = 8                 # σ layers: 8 = SPEEDY's half levels; other n: n equal layers
    sigma_half: tuple[float, ...] | None = None   # half levels 0..1 (overrides levels)
    dt: float | None = None         # time step, s, dividing 6 h, 2ΩΔt < 1; None: the spec's (below)
    physics: str = "held_suarez"    # "held_suarez" | "moist" (TJ16) | "none" (adiabatic, inviscid
                                    # but diffusion)
    radius: float = 6.371e6         # a, m
    Omega: float = 7.292e-5         # rotation rate, s⁻¹
    gravity: float = 9.81           # g, m s⁻² (only in the reference profile T_ref)
    R: float = 287.0                # gas constant of dry air, J kg⁻¹ K⁻¹
    kappa: float = 2.0 / 7.0        # R/c_p
    p0: float = 1.0e5               # reference pressure of ln(p_s/p0) and of Held–Suarez, Pa
    diffusion_timescale: float = 2.4 * 3600.0   # e-folding of ∇⁸ at l = T, s
    diffusion_order: int = 4        # n of ∇^(2n) (4: ∇⁸)
    robert_filter: float = 0.05     # ν of the Robert–Asselin–Williams filter
    williams_alpha: float = 0.53    # α of the RAW filter (1: plain Robert–Asselin)
    semi_implicit_temperature: float = 300.0   # isothermal T of the semi-implicit linearisation, K
    initial_perturbation: float = 0.1   # std of the white noise in the initial T′ (from the seed), K
    # Held & Suarez (1994)
    sigma_b: float = 0.7            # top of the frictional layer, σ
    k_f: float = 1.0                # friction at the surface, day⁻¹
    k_a: float = 1.0 / 40.0         # Newtonian cooling aloft, day⁻¹
    k_s: float = 1.0 / 4.0          # ... at the equatorial surface, day⁻¹
    T_max: float = 315.0            # K
    T_min: float = 200.0            # K
    dT_y: float = 60.0              # K
    dtheta_z: float = 10.0          # K
    # Thatcher & Jablonowski (2016), physics = "moist" only (moist_forcing.py)
    moist_T_max: float = 294.0      # T_max of TJ16's modified relaxation, K
    moist_dT_y: float = 65.0        # ΔT_y of TJ16's modified relaxation, K
    initial_relative_humidity: float = 0.5   # initial q / q_sat(T_ref(σ), σ p0)

    def __post_init__(self) -> None:
        if (isinstance(self.truncation, bool) or int(self.truncation) != self.truncation
                or self.truncation < 2):
            raise ValueError(f"gcm: truncation={self.truncation!r}: a triangular truncation T is "
                             f"an integer >= 2 (31 is the spec's; 21 is the cheap one)")
        object.__setattr__(self, "truncation", int(self.truncation))
        if self.sigma_half is not None:
            object.__setattr__(self, "sigma_half", tuple(float(s) for s in self.sigma_half))
        half_levels(self.sigma_half if self.sigma_half is not None else self.levels)  # checks
        if self.physics not in FORCINGS:
            raise ValueError(f"gcm: physics={self.physics!r}: choose one of "
                             f"{', '.join(map(repr, FORCINGS))}")
        if self.dt is not None:
            steps = SIX_HOURS / self.dt if self.dt > 0 else 0.0
            if not (self.dt > 0 and abs(steps - round(steps)) < 1e-9 * steps):
                below = SIX_HOURS / math.ceil(steps) if self.dt > 0 else 2400.0
                raise ValueError(f"gcm: dt={self.dt} s must divide 6 hours (21600 s) a whole number "
                                 f"of times, so that 6-hourly output and days are whole steps; e.g. "
                                 f"{below:g} s")
            if 2 * self.Omega * self.dt >= 1:
                raise ValueError(f"gcm: dt={self.dt} s with Omega={self.Omega} s⁻¹: the leapfrog's "
                                 f"explicit Coriolis term needs 2·Omega·dt < 1 (dt < "
                                 f"{0.5 / self.Omega:.0f} s); leave dt out for the default")
        for name in ("radius", "R", "kappa", "p0", "gravity", "diffusion_timescale",
                     "semi_implicit_temperature"):
            if not getattr(self, name) > 0:
                raise ValueError(f"gcm: {name}={getattr(self, name)!r} must be positive")
        if not 0 <= self.initial_relative_humidity <= 1:
            raise ValueError(f"gcm: initial_relative_humidity={self.initial_relative_humidity!r}: "
                             f"a fraction of saturation in [0, 1] (default 0.5; physics='moist')")
        if int(self.diffusion_order) != self.diffusion_order or self.diffusion_order < 1:
            raise ValueError(f"gcm: diffusion_order={self.diffusion_order!r}: an integer >= 1 "
                             f"(4 gives ∇⁸)")
        if not (0 <= self.robert_filter < 1 and 0 < self.williams_alpha <= 1):
            raise ValueError(f"gcm: robert_filter={self.robert_filter}, williams_alpha="
                             f"{self.williams_alpha}: need 0 <= ν < 1 and 0 < α <= 1 (defaults "
                             f"0.05 and 0.53)")

    @property
    def time_step(self) -> float:
        """Δt, s: the given dt, else the largest divisor of 6 h at or below both 75600 s / T
        and 0.8/(2Ω)."""
        if self.dt is not None:
            return float(self.dt)
        longest = DT_TIMES_T / self.truncation
        if self.Omega > 0:
            longest = min(longest, INERTIAL / (2 * self.Omega))
        return SIX_HOURS / math.ceil(SIX_HOURS / longest)


_GRID = ("time", "lev", "lat", "lon")
OUTPUTS = (
    Output("u", _GRID, "m s-1", "eastward wind", standard_name="eastward_wind",
           cell_methods="time: point"),
    Output("v", _GRID, "m s-1", "northward wind", standard_name="northward_wind",
           cell_methods="time: point"),
    Output("T", _GRID, "K", "air temperature", standard_name="air_temperature",
           cell_methods="time: point", units_metadata="temperature: on_scale"),
    Output("ps", ("time", "lat", "lon"), "Pa", "surface pressure",
           standard_name="surface_air_pressure", cell_methods="time: point"),
    # Zonal means: the mean over longitude is said in long_name, not as "longitude: mean" in
    # cell_methods (valid CF, as CMIP's zonal-mean tables, but compliance-checker accepts only
    # dimensions and coordinates of the variable there).
    Output("u_zonal_mean", ("time", "lev", "lat"), "m s-1",
           "zonal mean (over all longitudes) of the eastward wind", standard_name="eastward_wind",
           cell_methods="time: point", interval="1 day"),
    Output("T_zonal_mean", ("time", "lev", "lat"), "K",
           "zonal mean (over all longitudes) of the air temperature",
           standard_name="air_temperature", cell_methods="time: point",
           units_metadata="temperature: on_scale", interval="1 day"),
    # The moist tier's (physics = "moist"; zero for a dry physics, which has no water). precip
    # is summed in float64 over the 6 hours ending at each 6-hour boundary of model time (the
    # last complete window at the output time: write it 6-hourly), state.Accumulations.
    Output("precip", ("time", "lat", "lon"), "mm",
           "large-scale precipitation accumulated over the 6 hours ending at the time (liquid "
           "water equivalent thickness)", standard_name="lwe_thickness_of_precipitation_amount",
           cell_methods="time: sum"),
    Output("T_lowest", ("time", "lat", "lon"), "K",
           "air temperature at the lowest model level (sigma = 0.95 with the default 8 levels; "
           "lev[-1])", standard_name="air_temperature", cell_methods="time: point",
           units_metadata="temperature: on_scale"),
    Output("q", _GRID, "kg kg-1", "specific humidity (zero for a dry physics)",
           standard_name="specific_humidity", cell_methods="time: point"),
)
PRECIPITATION_WINDOW = SIX_HOURS    # s: the window of the precip output's sums

FIELDS = ("vor", "div", "temp", "lnps")


@register("gcm")
class GCM:
    """Spectral primitive-equation model with Held–Suarez, TJ16 moist or no forcing (package
    docstring).

    ``GCM(GCMParams(truncation=21), emu)``; ``dt`` is in seconds.
    """

    name = "gcm"
    Params = GCMParams
    COMPONENTS = ("transforms", "dynamics", "physics", "diffusion", "timestepping")
    OUTPUTS = OUTPUTS
    time_units = "s"

    def __init__(self, params: GCMParams | None = None, emu: Arithmetic = FLOAT64):
        p = params if params is not None else GCMParams()
        self.params, self.emu = p, emu
        emu.declare_components(self.COMPONENTS)
        self.levels = SigmaLevels(p.sigma_half if p.sigma_half is not None else p.levels)
        self.T_ref = reference_temperature(self.levels.full, p.R, p.gravity)   # K, float64
        self.dt = p.time_step
        with emu.component("transforms"):
            self.transform = SpectralTransform(p.truncation, p.radius, emu)
        tr = self.transform
        self.geometry = GridGeometry(sinlat=tr.mu, coslat=tr.coslat, sigma=self.levels.full,
                                     sigma_half=self.levels.half, nlon=tr.nlon, dt=self.dt,
                                     p0=p.p0, kappa=p.kappa)
        with emu.component("dynamics"):
            self.dynamics = PrimitiveEquations(tr, self.levels, self.T_ref, Omega=p.Omega, R=p.R,
                                               kappa=p.kappa, emu=emu)
        with emu.component("physics"):
            self.forcing = FORCINGS[p.physics](p, self.geometry, emu)
        with emu.component("diffusion"):
            self.diffusion = HyperDiffusion(p.truncation, timescale=p.diffusion_timescale,
                                            order=int(p.diffusion_order), dt=self.dt, emu=emu)
        with emu.component("timestepping"):
            T_si = np.full(self.levels.K, p.semi_implicit_temperature)
            self.implicit = SemiImplicit(self.levels, T_si, tr.laplacian_eigenvalues(),
                                         R=p.R, kappa=p.kappa, dt=self.dt, emu=emu)
            self.weights = LeapfrogWeights.from_dt(self.dt, p.robert_filter, p.williams_alpha, emu)
        self.window_steps = round(PRECIPITATION_WINDOW / self.dt)   # dt divides 6 h (checked)
        # float64 twin of the transform: initial states and output, outside emulation
        self.transform64 = (tr if isinstance(emu, Float64) else
                            SpectralTransform(p.truncation, p.radius, FLOAT64))

    @property
    def tracers(self) -> tuple[str, ...]:
        """Prognostic tracers the forcing asked for (none for Held–Suarez)."""
        return tuple(self.forcing.tracers)

    # --- the step ----------------------------------------------------------------------------
    def step(self, s: LeapfrogState) -> LeapfrogState:
        """One Δt: tendencies at time n, semi-implicit solve, diffusion, leapfrog + RAW filter.

        A lagged forcing (moist) is given X^{n−1} on the grid (X^0 in the Euler first step), the
        others X^n; the amounts it reports are summed in float64 into the new state."""
        emu, dyn, first = self.emu, self.dynamics, not s.started
        with emu.component("transforms"):
            g = dyn.to_grid(s.now)                             # ζ, D, T′, ln p_s, U, V, ∇ln p_s
            columns = (dyn.columns_to_grid(s.before) if self.forcing.lagged and not first
                       else g)
        with emu.component("dynamics"):
            grid_tend = dyn.grid_tendencies(g)                 # products: fluxes, F_U, F_V, E
            physical = dyn.physical_state(columns)             # u, v, T for the physics
        with emu.component("physics"):
            forced = self.forcing.tendency(physical, first)    # Held–Suarez, TJ16: on the grid
        sums = self._accumulate(s.sums, forced.amounts)
        with emu.component("dynamics"):
            grid_tend = dyn.add_forcing(grid_tend, forced)
        with emu.component("transforms"):
            scalars, curl_div, divs = dyn.to_spectral(grid_tend)
        with emu.component("dynamics"):
            tend = dyn.spectral_tendencies(s.now, scalars, curl_div, divs)   # full, at time n
        with emu.component("timestepping"):
            tend = self.implicit.solve(tend, s.before, s.now, first)        # gravity waves centred
        with emu.component("diffusion"):
            tend = self.diffusion.damp(tend, s.before, first)               # implicit ∇⁸
        with emu.component("timestepping"):
            if first:
                return LeapfrogState(before=s.now, now=euler(s.now, tend, self.weights),
                                     started=True, sums=sums)
            now, after = leapfrog_raw(s.before, s.now, tend, self.weights)
            return LeapfrogState(before=now, now=after, started=True, sums=sums)

    def _accumulate(self, sums: Accumulations, amounts: dict) -> Accumulations:
        """The forcing's amounts of this step added to the float64 sums (outside emulation:
        diagnostics, never fed back)."""
        if not amounts:
            return sums
        f64 = self.emu.to_float64
        return sums.add({n: np.asarray(f64(a), dtype=np.float64) for n, a in amounts.items()},
                        self.window_steps)

    # --- states ------------------------------------------------------------------------------
    def initial_state(self, seed: int) -> LeapfrogState:
        """Rest, T = T_ref(σ) plus white noise of std ``initial_perturbation`` K (from the seed,
        truncated to the model's scales), p_s = p0; the forcing's initial tracers."""
        p, tr = self.params, self.transform64
        rng = np.random.default_rng(seed)
        noise = p.initial_perturbation * rng.standard_normal((self.levels.K, tr.nlat, tr.nlon))
        zeros = np.zeros((self.levels.K,) + tr.spectral_shape, dtype=np.complex128)
        now = {"vor": zeros, "div": zeros, "temp": tr.spectral(noise),
               "lnps": np.zeros((1,) + tr.spectral_shape, dtype=np.complex128)}
        now.update({f"tracer_{n}": tr.spectral(q) for n, q in self.forcing.initial_tracers().items()})
        return self._enter(now, now, started=False, sums=self._zero_sums())

    def state_from_grid(self, u: np.ndarray, v: np.ndarray, T: np.ndarray, ps: np.ndarray,
                        tracers: dict[str, np.ndarray] | None = None) -> LeapfrogState:
        """A state (not started: the first step is Euler) from float64 grid fields: u, v, T of
        shape (K, nlat, nlon) in m s⁻¹ and K, ps (nlat, nlon) in Pa; tracers (K, nlat, nlon),
        by default the forcing's initial ones."""
        tr = self.transform64
        cos = tr.coslat[:, None]
        vor, div = tr.vorticity_divergence(np.asarray(u) * cos, np.asarray(v) * cos)
        now = {"vor": vor, "div": div,
               "temp": tr.spectral(np.asarray(T) - self.T_ref[:, None, None]),
               "lnps": tr.spectral(np.log(np.asarray(ps)[None] / self.params.p0))}
        if tracers is None:
            tracers = self.forcing.initial_tracers()
        now.update({f"tracer_{n}": tr.spectral(np.asarray(q)) for n, q in tracers.items()})
        return self._enter(now, now, started=False, sums=self._zero_sums())

    def _zero_sums(self) -> Accumulations:
        return Accumulations.zeros(tuple(self.forcing.amounts), self.transform64.grid_shape)

    def _enter(self, now: dict[str, np.ndarray], before: dict[str, np.ndarray],
               started: bool, sums: Accumulations) -> LeapfrogState:
        """Spectral float64 arrays into the arithmetic (the prognostic state: "timestepping");
        the float64 sums as they are."""
        def state(arrays: dict[str, np.ndarray]) -> SpectralState:
            e = self.emu.asarray
            return SpectralState(*(e(arrays[f]) for f in FIELDS),
                                 tracers={n: e(arrays[f"tracer_{n}"]) for n in self.tracers})
        with self.emu.component("timestepping"):
            return LeapfrogState(before=state(before), now=state(now), started=started, sums=sums)

    def state_arrays(self, state: LeapfrogState) -> dict[str, np.ndarray]:
        """Both time levels, every spectral field as float64 (..., T+1, T+1, 2) = (re, im),
        ``started`` (1.0 after the first step), and the forcing's float64 sums (moist:
        ``window_<amount>``, ``last_<amount>``, ``total_<amount>`` (nlat, nlon) and
        ``window_steps``)."""
        f64 = self.emu.to_float64
        out = {}
        for level in ("now", "before"):
            for name, a in getattr(state, level).arrays().items():
                c = np.asarray(f64(a))
                out[f"{level}_{name}"] = np.stack([c.real, c.imag], axis=-1)
        out["started"] = np.array(1.0 if state.started else 0.0)
        sums = state.sums
        for kind in ("window", "last", "total"):
            out.update({f"{kind}_{n}": a.copy() for n, a in getattr(sums, kind).items()})
        if self.forcing.amounts:
            out["window_steps"] = np.array(float(sums.steps))
        return out

    def state_description(self) -> dict[str, tuple[tuple[str, ...], dict[str, str]]]:
        """Dims and CF attributes of each array of :meth:`state_arrays`."""
        what = {"vor": ("relative vorticity", "s-1"), "div": ("divergence", "s-1"),
                "temp": ("temperature minus the reference profile T_ref(sigma)", "K"),
                "lnps": ("ln(p_s/p0)", "1")}
        what |= {f"tracer_{n}": (f"tracer {n}", "1") for n in self.tracers}
        out = {}
        for level, when in (("now", "at the current time step"),
                            ("before", "at the previous time step (leapfrog)")):
            for f, (text, units) in what.items():
                vertical = "surface" if f == "lnps" else "level"
                out[f"{level}_{f}"] = ((vertical, "m", "l", "real_imaginary"), {
                    "long_name": f"spherical-harmonic coefficients of {text} {when}; last "
                                 "dimension: real, imaginary part", "units": units})
        out["started"] = ((), {"long_name": "1 after the first (forward) step, else 0",
                               "units": "1"})
        return out

    def state_from_arrays(self, arrays: dict[str, np.ndarray]) -> LeapfrogState:
        names = list(FIELDS) + [f"tracer_{n}" for n in self.tracers]
        M, L = self.transform.spectral_shape
        levels = {f: (1 if f == "lnps" else self.levels.K) for f in names}
        parts = {}
        for level in ("now", "before"):
            parts[level] = {}
            for f in names:
                key, shape = f"{level}_{f}", (levels[f], M, L, 2)
                if key not in arrays:
                    raise ValueError(f"gcm restart: no array {key!r} (have {sorted(arrays)}); a "
                                     f"restart holds both leapfrog levels of {', '.join(names)}")
                a = np.asarray(arrays[key], dtype=np.float64)
                if a.shape != shape:
                    raise ValueError(f"gcm restart: {key} has shape {a.shape}, this model (T"
                                     f"{self.params.truncation}, {self.levels.K} levels) needs "
                                     f"{shape}")
                parts[level][f] = a[..., 0] + 1j * a[..., 1]
        if "started" not in arrays:
            raise ValueError("gcm restart: no array 'started' (1.0 after the first step)")
        return self._enter(parts["now"], parts["before"], started=bool(arrays["started"] > 0.5),
                           sums=self._sums_from_arrays(arrays))

    def _sums_from_arrays(self, arrays: dict[str, np.ndarray]) -> Accumulations:
        amounts = tuple(self.forcing.amounts)
        if not amounts:
            return Accumulations()
        keys = [f"{k}_{n}" for k in ("window", "last", "total") for n in amounts]
        missing = [k for k in keys + ["window_steps"] if k not in arrays]
        if missing:
            raise ValueError(f"gcm restart: no array {missing[0]!r}: a restart of physics="
                             f"{self.params.physics!r} holds the sums {', '.join(keys)} and "
                             f"window_steps (was it written by a dry run?)")
        shape = self.transform64.grid_shape
        for k in keys:
            if np.shape(arrays[k]) != shape:
                raise ValueError(f"gcm restart: {k} has shape {np.shape(arrays[k])}, this model "
                                 f"needs {shape}")

        def part(kind: str) -> dict[str, np.ndarray]:
            return {n: np.array(arrays[f"{kind}_{n}"], dtype=np.float64) for n in amounts}
        return Accumulations(window=part("window"), last=part("last"), total=part("total"),
                             steps=int(round(float(arrays["window_steps"]))))

    # --- output ------------------------------------------------------------------------------
    def grid_fields(self, state: LeapfrogState) -> dict[str, np.ndarray]:
        """u, v, T, the tracers (K, nlat, nlon) and ps (nlat, nlon) of the current time level,
        float64 (tracers as transformed: small negative q from spectral ripples included)."""
        tr, f64 = self.transform64, self.emu.to_float64
        now = state.now
        names = list(now.tracers)
        (temp, lnps, *tracers), ((U, V),), _ = tr.to_grid(
            scalars=[f64(now.temp), f64(now.lnps), *(f64(now.tracers[n]) for n in names)],
            vectors=[(f64(now.vor), f64(now.div))])
        cos = tr.coslat[:, None]
        out = {"u": U / cos, "v": V / cos, "T": temp + self.T_ref[:, None, None],
               "ps": self.params.p0 * np.exp(lnps[0])}
        out.update(zip(names, tracers))
        return out

    def default_outputs(self) -> tuple[str, ...]:
        """What a run writes when ``[run] variables`` is not given: a dry physics has no water,
        so no precipitation and no specific humidity (a zero (lev, lat, lon) field per output)."""
        dry = () if self.params.physics == "moist" else ("precip", "q")
        return tuple(o.name for o in self.OUTPUTS if o.name not in dry)

    def diagnostics(self, state: LeapfrogState) -> dict[str, np.ndarray]:
        """Output name -> float64 array (in OUTPUTS order), computed in float64."""
        g = self.grid_fields(state)
        dry = np.zeros_like(g["ps"])
        return {"u": g["u"], "v": g["v"], "T": g["T"], "ps": g["ps"],
                "u_zonal_mean": g["u"].mean(axis=-1), "T_zonal_mean": g["T"].mean(axis=-1),
                "precip": state.sums.last.get("precipitation", dry).copy(),
                "T_lowest": g["T"][-1], "q": g.get("q", np.zeros_like(g["T"]))}

    def coords(self) -> dict[str, tuple[tuple[str, ...], np.ndarray, dict]]:
        tr = self.transform64
        return {
            "lat": (("lat",), tr.latitude.copy(), {
                "units": "degrees_north", "standard_name": "latitude", "axis": "Y",
                "long_name": "latitude (Gaussian grid)"}),
            "lon": (("lon",), tr.longitude.copy(), {
                "units": "degrees_east", "standard_name": "longitude", "axis": "X",
                "long_name": "longitude"}),
            "lev": (("lev",), self.levels.full.copy(), {
                "units": "1", "standard_name": "atmosphere_sigma_coordinate", "axis": "Z",
                "positive": "down", "long_name": "sigma = p/ps at the full levels",
                "computed_standard_name": "air_pressure",
                "formula_terms": "sigma: lev ps: ps ptop: ptop"}),
            "ptop": ((), np.array(0.0), {
                "units": "Pa", "long_name": "pressure at the model top"}),
        }
