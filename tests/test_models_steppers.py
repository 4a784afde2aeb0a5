"""models.steppers.rk4 and models.state.FieldState: order of accuracy, stages, fieldwise arithmetic."""
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import pytest

from models.state import FieldState
from models.steppers import RK4Weights, rk4


@dataclass(frozen=True)
class Oscillator(FieldState):
    q: np.ndarray
    p: np.ndarray


def rotate(s: Oscillator) -> Oscillator:
    return Oscillator(q=s.p, p=-s.q)        # dq/dt = p, dp/dt = −q: exact solution a rotation


def test_fieldstate_arithmetic_is_fieldwise():
    a = Oscillator(q=np.array([1.0, 2.0]), p=np.array([3.0, 4.0]))
    b = Oscillator(q=np.array([0.5, 0.25]), p=np.array([-1.0, 2.0]))
    for got, q, p in [(a + b, [1.5, 2.25], [2.0, 6.0]), (a - b, [0.5, 1.75], [4.0, 2.0]),
                      (2 * a, [2, 4], [6, 8]), (a * 0.5, [0.5, 1], [1.5, 2]), (-a, [-1, -2], [-3, -4])]:
        assert type(got) is Oscillator
        np.testing.assert_array_equal(got.q, q)
        np.testing.assert_array_equal(got.p, p)
    with pytest.raises(TypeError):
        a * b


def test_rk4_is_fourth_order_on_a_rotation():
    errors = []
    for steps in (20, 40, 80):
        dt = 2.0 / steps
        s = Oscillator(q=np.array([1.0]), p=np.array([0.0]))
        for _ in range(steps):
            s = rk4(rotate, s, dt)
        errors.append(np.hypot(s.q[0] - np.cos(2.0), s.p[0] + np.sin(2.0)))
    ratios = np.array(errors[:-1]) / np.array(errors[1:])
    assert np.all((ratios > 14) & (ratios < 18)), ratios      # 2**4 = 16 for a 4th-order method


def test_rk4_one_step_matches_the_taylor_polynomial_exactly():
    # For dy/dt = λy, one RK4 step multiplies y by 1 + h + h²/2 + h³/6 + h⁴/24 (h = λΔt).
    # Exact rationals: the stages, combined as printed, reproduce it to float64 roundoff.
    lam, dt = -0.75, 0.125
    got = rk4(lambda y: lam * y, np.array([1.0]), dt)[0]
    h = Fraction(lam) * Fraction(dt)
    want = 1 + h + h**2 / 2 + h**3 / 6 + h**4 / 24
    assert abs(got - float(want)) < 4e-16


def test_weights_enter_through_the_arithmetic():
    entered = []

    class Recorder:
        def const(self, x):
            entered.append(x)
            return x

    w = RK4Weights.from_dt(0.01, Recorder())
    assert entered == [0.01, 0.005, 0.01 / 6]
    assert (w.dt, w.half_dt, w.sixth_dt) == (0.01, 0.005, 0.01 / 6)
