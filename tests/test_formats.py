"""Format: the values each format can hold, presets against numpy's finfo, and input checking."""
import math

import numpy as np
import pytest

from lowprec.errors import FormatError
from lowprec.formats import BFLOAT16, FLOAT16, FLOAT32, FLOAT64, PRESETS, Format, as_format


@pytest.mark.parametrize("fmt, dtype", [(FLOAT64, np.float64), (FLOAT32, np.float32),
                                        (FLOAT16, np.float16)])
def test_ieee_presets_match_numpy_finfo(fmt, dtype):
    info = np.finfo(dtype)
    assert fmt.sbits == info.nmant
    assert fmt.max_finite == float(info.max)
    assert fmt.min_normal == float(info.smallest_normal)
    assert fmt.min_subnormal == float(info.smallest_subnormal)
    assert fmt.unit_roundoff == float(info.eps) / 2
    assert fmt.emax == info.maxexp - 1 and fmt.emin == info.minexp


def test_bfloat16_and_small_formats():
    assert BFLOAT16.max_finite == (2 - 2**-7) * 2.0**127
    assert BFLOAT16.min_normal == 2.0**-126 and BFLOAT16.min_subnormal == 2.0**-133
    f = Format(2, ebits=3)                              # emax 3: 1.11b * 2**3 = 14
    assert (f.emax, f.emin, f.max_finite, f.min_normal, f.min_subnormal) == (3, -2, 14.0, 0.25,
                                                                              0.0625)
    assert Format(4, ebits=3, subnormals=False).min_subnormal == 0.25


def test_double_range_default():
    f = Format(10)
    assert (f.emax, f.emin, f.restricted) == (1023, -1022, False)
    assert f.max_finite == math.ldexp(2 - 2**-10, 1023) and math.isfinite(f.max_finite)
    assert f.kernel_args() == (10, -1022, 1023, False, True)
    assert Format(10, 11).kernel_args() == (10, -1022, 1023, False, True)
    assert FLOAT16.kernel_args() == (10, -14, 15, True, True)


def test_is_float64_and_storage():
    assert FLOAT64.is_float64 and Format(52, 11).is_float64
    assert not Format(51).is_float64 and not Format(52, 10).is_float64
    assert not Format(52, subnormals=False).is_float64
    assert FLOAT16.storage_dtype is np.float32 and BFLOAT16.storage_dtype is np.float32
    assert FLOAT32.storage_dtype is np.float32
    assert Format(10).storage_dtype is np.float64           # float64 range does not fit
    assert Format(24, 8).storage_dtype is np.float64
    assert Format(24).exact_emulation and not Format(25).exact_emulation


def test_presets_and_as_format():
    assert PRESETS["half"] is FLOAT16 and PRESETS["float16"] is FLOAT16
    assert as_format("Half") is FLOAT16 and as_format("bfloat16") is BFLOAT16
    assert as_format(10) == Format(10) and as_format(np.int64(7)) == Format(7)
    assert as_format({"sbits": 7, "ebits": 8}) == BFLOAT16
    assert as_format(FLOAT32) is FLOAT32
    assert str(FLOAT16) == "float16" and str(Format(10)) == "Format(sbits=10)"
    with pytest.raises(FormatError, match="known: .*bfloat16"):
        as_format("float8")
    with pytest.raises(FormatError, match="unknown format field.*'mode'"):
        as_format({"sbits": 10, "mode": "nearest"})
    with pytest.raises(FormatError, match="needs 'sbits'"):
        as_format({"ebits": 5})
    with pytest.raises(TypeError, match="cannot make a Format"):
        as_format(10.0)


def test_format_is_frozen_and_hashable():
    with pytest.raises(AttributeError):
        FLOAT16.sbits = 3
    assert len({Format(10), Format(10), FLOAT16}) == 2


@pytest.mark.parametrize("sbits, match", [
    (53, r"sbits = 53.*1\.\.52.*implicit bit.*Use 52"),
    (64, r"sbits = 64.*at most 52"),
    (0, r"sbits = 0.*at least 1"),
    (-3, r"sbits = -3.*1\.\.52"),
])
def test_bad_sbits(sbits, match):
    with pytest.raises(FormatError, match=match):
        Format(sbits)


@pytest.mark.parametrize("ebits, match", [(1, r"ebits = 1.*2\.\.11.*at least 2"),
                                          (12, r"ebits = 12.*ebits=None")])
def test_bad_ebits(ebits, match):
    with pytest.raises(FormatError, match=match):
        Format(10, ebits)


@pytest.mark.parametrize("kwargs", [{"sbits": 10.0}, {"sbits": True}, {"sbits": "10"},
                                    {"sbits": 10, "ebits": 5.0}, {"sbits": 10, "subnormals": 1}])
def test_wrong_types_are_type_errors(kwargs):
    with pytest.raises(TypeError):
        Format(**kwargs)


def test_format_error_is_a_value_error():
    with pytest.raises(ValueError):
        Format(53)
