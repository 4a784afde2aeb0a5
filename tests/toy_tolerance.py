"""A toy model whose precision components have known tolerances: the tuner's synthetic oracle.

Registered as ``"toy_tolerance"`` when imported (``models.base.register``; models/ is not
touched). The "climate" is a rotation of the circle, computed in float64 outside emulation, so it
is the same in every format:

    x ← (x + γ) mod 1,   γ = (√5 − 1)/2,   x₀ uniform from the member's seed     (particle,)

The output is x shifted by the error of each component's arithmetic, amplified:

    y = x + A · (e_alpha + e_beta + e_window)

- ``alpha`` and ``beta`` each hold one constant that needs exactly k significand bits,
  κ = 1 + 2⁻ᵏ (``k_alpha``, ``k_beta``), and compute e = ((κ̃ − 1) − 2⁻ᵏ) · 2ᵏ in their own
  arithmetic every step, κ̃ being κ as it entered (rounded to the component's format once, at
  construction). Every operation after the entry is exact (a difference of nearby numbers, a
  power of two), so e = 0 exactly at sbits ≥ k and the run is bit-identical to float64; below k,
  round-to-nearest gives κ̃ = 1 (1 + 2⁻ᵏ is at most a tie, which goes to the even 1) and e = −1,
  stochastic rounding κ̃ ∈ {1, 1 + 2⁻ˢ} and |e| ≥ ½. So the component breaks below k bits,
  sharply, in both modes: the tuner must find k.
- ``window`` holds two such constants, κ_low (needs ``window_low`` bits) and κ_high (needs
  ``window_high``), and computes e_high − e_low. Under round-to-nearest the two errors cancel
  below window_low, so the component fails only for window_low ≤ sbits < window_high: a response
  that is not monotone in sbits, for the tuner's coarse-to-fine scan. Under stochastic rounding
  each member's two errors are random, and cancel in the members where both constants happen to
  round down: below window_low the response is random from member to member. window_low =
  window_high = 0: never fails.
- Interaction: alpha and beta also hold one constant each needing ``pair_alpha`` and
  ``pair_beta`` bits; their errors multiply (A · e_pair_alpha · e_pair_beta), so the pair shifts y
  only when both components are below their pair bits: each passes alone, together they may not.
- Outside every component: a constant needing ``uncovered`` bits, its error in the base format
  (what a model must not do; the tuner's design check looks for it). 0: none.

Outputs: y (time, particle); the particles are samples (``SAMPLE_DIMS``), pooled with time by
the validator. Dimensionless time, Δt = 1.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from models.base import FLOAT64, Arithmetic, Output, register

GAMMA = (math.sqrt(5.0) - 1.0) / 2.0     # the golden rotation: x is equidistributed on [0, 1)


@dataclass(frozen=True)
class Params:
    k_alpha: int = 7            # component alpha breaks below this many sbits
    k_beta: int = 13            # component beta breaks below this many sbits
    window_low: int = 0         # component window breaks for window_low <= sbits < window_high
    window_high: int = 0        #   (round-to-nearest); 0, 0: never
    pair_alpha: int = 0         # alpha and beta together break when alpha < pair_alpha and
    pair_beta: int = 0          #   beta < pair_beta sbits; 0: never
    uncovered: int = 0          # a constant outside every component needs this many sbits
    particles: int = 200        # samples per output
    amplitude: float = 1.0      # A: shift of y per unit of error (x spans [0, 1))

    def __post_init__(self) -> None:
        for name in ("k_alpha", "k_beta", "window_low", "window_high", "pair_alpha", "pair_beta",
                     "uncovered"):
            if not 0 <= getattr(self, name) <= 52:
                raise ValueError(f"toy_tolerance: {name} = {getattr(self, name)}: 0..52")
        if self.window_high < self.window_low:
            raise ValueError(f"toy_tolerance: window_high = {self.window_high} < window_low = "
                             f"{self.window_low}")


class _NeedsBits:
    """One constant κ = 1 + 2⁻ᵏ that needs k sbits; ``error()`` is e = ((κ̃ − 1) − 2⁻ᵏ)·2ᵏ."""

    def __init__(self, k: int, emu: Arithmetic) -> None:
        self.k = k
        self.kappa = emu.const(1.0 + 2.0 ** -k)    # rounded here, once, to the active format

    def error(self) -> object:
        return ((self.kappa - 1.0) - 2.0 ** -self.k) * 2.0 ** self.k


@register("toy_tolerance")
class ToyTolerance:
    """A rotation of the circle shifted by each component's amplified error (module docstring)."""

    name = "toy_tolerance"
    Params = Params
    COMPONENTS = ("alpha", "beta", "window")
    SAMPLE_DIMS = ("particle",)
    OUTPUTS = (Output("y", ("time", "particle"), units="1",
                      long_name="rotation of the circle shifted by the components' errors"),)
    time_units = "1"

    def __init__(self, params: Params | None = None, emu: Arithmetic = FLOAT64) -> None:
        self.params = p = params if params is not None else Params()
        self.emu = emu
        self.dt = 1.0
        emu.declare_components(self.COMPONENTS)
        with emu.component("alpha"):
            self.alpha, self.pair_alpha = _NeedsBits(p.k_alpha, emu), _NeedsBits(p.pair_alpha, emu)
        with emu.component("beta"):
            self.beta, self.pair_beta = _NeedsBits(p.k_beta, emu), _NeedsBits(p.pair_beta, emu)
        with emu.component("window"):
            self.window_low = _NeedsBits(p.window_low, emu)
            self.window_high = _NeedsBits(p.window_high, emu)
        self.uncovered = _NeedsBits(p.uncovered, emu)        # in the base format

    def initial_state(self, seed: int) -> dict[str, np.ndarray]:
        x = np.random.default_rng(seed).uniform(0.0, 1.0, self.params.particles)
        return self.step({"x": x, "shift": np.zeros(1)})

    def step(self, state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The rotation in float64; each component's error in its own arithmetic."""
        emu = self.emu
        with emu.component("alpha"):
            e_alpha, e_pair_alpha = self.alpha.error(), self.pair_alpha.error()
        with emu.component("beta"):
            e_beta, e_pair_beta = self.beta.error(), self.pair_beta.error()
        with emu.component("window"):
            e_window = self.window_high.error() - self.window_low.error()
        e_uncovered = self.uncovered.error()
        f64 = lambda e: float(emu.to_float64(e))                     # noqa: E731
        errors = (f64(e_alpha) + f64(e_beta) + f64(e_window) + f64(e_uncovered)
                  + f64(e_pair_alpha) * f64(e_pair_beta))
        return {"x": np.mod(state["x"] + GAMMA, 1.0),
                "shift": np.full(1, self.params.amplitude * errors)}

    def coords(self) -> dict[str, tuple[tuple[str, ...], np.ndarray, dict]]:
        index = np.arange(self.params.particles, dtype=np.float64)
        return {"particle": (("particle",), index, {"long_name": "sample index", "units": "1"})}

    def diagnostics(self, state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {"y": state["x"] + state["shift"][0]}

    def state_arrays(self, state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {k: np.array(v, dtype=np.float64) for k, v in state.items()}

    def state_from_arrays(self, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {k: np.array(arrays[k], dtype=np.float64) for k in ("x", "shift")}
