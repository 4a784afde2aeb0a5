"""Time steppers: small functions that know no physics (STYLE §6).

A stepper takes a tendency function ``f(state) -> tendency`` and a state, and returns the new
state. The state type must support ``a + b`` between states and ``c * a`` with a scalar
constant ``c`` (and ``a * c``), each field by field: e.g. a frozen dataclass of arrays deriving
from :class:`models.state.FieldState`, or a plain array.

Precision: the stepper performs only the stage combinations (one rounded operation each under
emulation). Its constants (Δt, Δt/2, Δt/6) enter once, rounded, through :meth:`RK4Weights.from_dt`
with the model's arithmetic; build them inside the ``with emu.component(...)`` under which the
stepper will run, and call :func:`rk4` inside that same component. The tendency function may open
its own component (e.g. ``"tendencies"``) around the physics.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, TypeVar

from models.base import FLOAT64, Arithmetic

S = TypeVar("S")


@dataclass(frozen=True)
class RK4Weights:
    """The constants of classical RK4 for one time step Δt (in the model's time units)."""

    dt: Any         # Δt
    half_dt: Any    # Δt/2 (exact in binary when Δt is representable)
    sixth_dt: Any   # Δt/6: the float64 value of Δt/6, rounded once as it enters

    @classmethod
    def from_dt(cls, dt: float, emu: Arithmetic = FLOAT64) -> "RK4Weights":
        """Enter Δt, Δt/2 and Δt/6 through ``emu.const`` (under the active component)."""
        return cls(dt=emu.const(dt), half_dt=emu.const(dt / 2), sixth_dt=emu.const(dt / 6))


def rk4(f: Callable[[S], S], state: S, dt: float | RK4Weights) -> S:
    """One classical fourth-order Runge–Kutta step of dy/dt = f(y).

        k1 = f(y),  k2 = f(y + Δt/2·k1),  k3 = f(y + Δt/2·k2),  k4 = f(y + Δt·k3)
        y ← y + Δt/6·(k1 + 2k2 + 2k3 + k4)

    Evaluation order (meaning under emulation): the weighted sum is ((k1 + 2k2) + 2k3) + k4,
    then scaled by Δt/6, then added to y; every operation is rounded once. ``2·k`` is exact.

    ``dt`` is either :class:`RK4Weights` (constants already entered through the arithmetic) or
    a plain float (float64 constants; under emulation they would be rounded where they meet an
    emulated array).
    """
    w = dt if isinstance(dt, RK4Weights) else RK4Weights.from_dt(dt)
    k1 = f(state)
    k2 = f(state + w.half_dt * k1)
    k3 = f(state + w.half_dt * k2)
    k4 = f(state + w.dt * k3)
    return state + w.sixth_dt * (k1 + 2 * k2 + 2 * k3 + k4)
