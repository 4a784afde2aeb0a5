"""lowprec.round's interface: types in and out, and clear errors for bad input."""
import numpy as np
import pytest

import lowprec
import lowprec.rounding as rounding
from lowprec.errors import FormatError
from lowprec.formats import FLOAT16, Format


def test_modes_and_codes():
    assert rounding.MODES == ("nearest", "stochastic", "toward_zero", "upward", "downward")
    assert [rounding.MODE_CODES[m] for m in rounding.MODES] == [0, 1, 2, 3, 4]


def test_types_and_shapes_are_kept():
    x = np.linspace(-3, 3, 24).reshape(2, 3, 4)
    y = rounding.round(x, 4)
    assert isinstance(y, np.ndarray) and y.shape == x.shape and y.dtype == np.float64
    assert y is not x and np.array_equal(x, np.linspace(-3, 3, 24).reshape(2, 3, 4))
    assert type(rounding.round(1.1, 4)) is float
    assert type(rounding.round(np.float64(1.1), 4)) is np.float64
    assert type(rounding.round(np.float32(1.1), 4)) is np.float32
    z = rounding.round(np.array(1.1), 4)
    assert isinstance(z, np.ndarray) and z.shape == ()
    assert rounding.round(np.empty((0, 3)), 4).shape == (0, 3)


def test_format_specs_accepted():
    x = np.array([1.0009765625 + 2.0**-12])
    assert rounding.round(x, "half")[0] == rounding.round(x, FLOAT16)[0]
    assert rounding.round(x, {"sbits": 10, "ebits": 5})[0] == rounding.round(x, FLOAT16)[0]


def test_public_names():
    assert lowprec.round is rounding.round and lowprec.MODES == rounding.MODES
    assert lowprec.round(1.3, lowprec.Format(2)) == 1.25


def test_unknown_mode_lists_modes():
    with pytest.raises(FormatError, match="'nearest_even'.*nearest, stochastic, toward_zero"):
        rounding.round(1.0, 10, "nearest_even")


@pytest.mark.parametrize("x", [np.arange(3), np.ones(3, dtype=complex), np.array([1.0], dtype=object),
                               np.ones(2, dtype=np.float16), [1.0, 2.0], 1, 1 + 2j, "1.0"])
def test_non_float_input_is_a_type_error(x):
    with pytest.raises(TypeError, match="float"):
        rounding.round(x, 10)


def test_stochastic_needs_seed():
    with pytest.raises(ValueError, match="seed="):
        rounding.round(np.ones(3), 10, "stochastic")


@pytest.mark.parametrize("kwargs, error", [({"seed": -1}, ValueError), ({"seed": 2**64}, ValueError),
                                           ({"seed": 1.5}, TypeError), ({"counter": -2}, ValueError),
                                           ({"offset": -1}, ValueError)])
def test_bad_seed_counter_offset(kwargs, error):
    kwargs = {"seed": 1, **kwargs}
    with pytest.raises(error, match="2\\*\\*64"):
        rounding.round(np.ones(3), 10, "stochastic", **kwargs)


def test_unknown_backend():
    with pytest.raises(ValueError, match="'cupy'.*numba, numpy, pychop"):
        rounding.round(np.ones(3), 10, backend="cupy")


def test_bad_format_spec():
    with pytest.raises(FormatError, match="sbits = 53"):
        rounding.round(1.0, 53)
