"""The Emulator: components (mixed precision), the operation counter, state, configuration errors."""
from __future__ import annotations

import numpy as np
import pytest

import lowprec
from lowprec import ConfigError, Emulator, Format, FormatError


def bits(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float64).view(np.uint64)


def test_components_switch_the_format_nest_and_restore():
    emu = Emulator(Format(4), components={"physics": Format(sbits=23), "radiation": 2})
    x = np.array([1 / 3, 2 / 3, 0.1])
    with emu.component("physics"):
        a = emu.asarray(x)                               # entered at 23 bits
        assert emu.active == ("physics", Format(23), "nearest")
        with emu.component("radiation"):
            b = a * 1.0                                  # rounded to 2 bits
            assert emu.active[1] == Format(2)
        c = a * 1.0                                      # back to 23 bits
    d = a * 1.0                                          # the base: 4 bits
    assert emu.active == (None, Format(4), "nearest")
    A = lowprec.round(x, Format(23))
    assert np.array_equal(bits(emu.to_float64(a)), bits(A))
    assert np.array_equal(bits(emu.to_float64(b)), bits(lowprec.round(A, Format(2))))
    assert np.array_equal(bits(emu.to_float64(c)), bits(A))
    assert np.array_equal(bits(emu.to_float64(d)), bits(lowprec.round(A, Format(4))))


def test_component_restores_after_an_exception():
    emu = Emulator(Format(4), components={"physics": 23})
    with pytest.raises(RuntimeError):
        with emu.component("physics"):
            raise RuntimeError("boom")
    assert emu.active[0] is None


def test_unknown_component_lists_the_known_ones():
    emu = Emulator(Format(10), components={"physics": 23})
    emu.declare_components(["dynamics", "physics"])
    with pytest.raises(FormatError) as info:
        with emu.component("phsyics"):
            pass
    message = str(info.value)
    assert "'phsyics'" in message and "'dynamics'" in message and "'physics'" in message


def test_declared_components_use_the_base_format_and_overrides_are_visible():
    emu = Emulator(Format(10), mode="nearest", seed=3,
                   components={"physics": {"sbits": 5, "mode": "stochastic"}, "typo": 7})
    emu.declare_components(("dynamics", "physics"))
    assert emu.setting("dynamics").fmt == Format(10)
    assert emu.setting("physics").fmt == Format(5) and emu.setting("physics").mode == "stochastic"
    assert set(emu.components) == {"physics", "typo"}
    assert emu.declared_components == ("dynamics", "physics")
    assert emu.undeclared_overrides() == ["typo"]
    with emu.component("physics"):
        assert emu.active == ("physics", Format(5), "stochastic")


def test_component_dicts_take_ebits_and_subnormals():
    emu = Emulator(Format(10), components={"io": {"sbits": 10, "ebits": 5, "subnormals": False}})
    assert emu.components["io"].fmt == Format(10, 5, subnormals=False)
    with pytest.raises(FormatError, match="component 'io'"):
        Emulator(Format(10), components={"io": {"sbits": 10, "bits": 5}})
    with pytest.raises(FormatError, match="mode"):
        Emulator(Format(10), components={"io": {"sbits": 10, "mode": "round_half_up"}})


def test_configuration_errors_say_what_is_allowed():
    with pytest.raises(ConfigError, match="seed"):
        Emulator(Format(10), mode="stochastic")
    with pytest.raises(ConfigError, match="seed"):
        Emulator(Format(10), components={"physics": {"sbits": 5, "mode": "stochastic"}})
    with pytest.raises(ConfigError, match="sequential"):
        Emulator(Format(10), policy="pairwise")
    with pytest.raises(FormatError, match="nearest"):
        Emulator(Format(10), mode="round")
    with pytest.raises(FormatError, match="sbits"):
        Emulator(53)


def test_each_rounding_takes_one_counter_value():
    emu = Emulator(Format(10), mode="stochastic", seed=1)
    a = emu.asarray(np.ones(4))                          # 1
    b = a * a                                            # 2
    b = b + 2.0                                          # 3 (constant) and 4
    s = np.sum(b)                                        # 5
    m = np.mean(b)                                       # sum 6, count 7, divide 8
    np.maximum(a, b), a < b, a[1:], np.roll(a, 1)        # exact: no counter
    assert emu.counter == 8
    assert emu.get_state() == {"counter": 8}
    del s, m


def test_restoring_the_counter_reproduces_stochastic_rounding_bit_for_bit():
    x = np.random.default_rng(11).standard_normal(64)

    def steps(emu, a, n):
        out = []
        for _ in range(n):
            a = a * 1.1 + 0.3 * np.roll(a, 1)
            with emu.component("physics"):
                a = a - np.sum(a) / 64.0
            out.append(emu.to_float64(a))
        return a, out

    emu = Emulator(Format(6), mode="stochastic", seed=2026, components={"physics": 4})
    emu.declare_components(["physics"])
    a, _ = steps(emu, emu.asarray(x), 3)
    saved_state, saved_a = emu.get_state(), emu.to_float64(a)
    _, first = steps(emu, a, 4)

    restarted = Emulator(Format(6), mode="stochastic", seed=2026, components={"physics": 4})
    restarted.declare_components(["physics"])
    restarted.set_state(saved_state)
    b = restarted.asarray(saved_a)                       # the restart file: exact values ...
    restarted.set_state(saved_state)                     # ... re-entered without using a counter
    _, second = steps(restarted, b, 4)
    for u, v in zip(first, second):
        assert np.array_equal(bits(u), bits(v))
    # and a different counter gives different bits (the test can fail)
    other = Emulator(Format(6), mode="stochastic", seed=2026, components={"physics": 4})
    other.declare_components(["physics"])
    other.set_state({"counter": saved_state["counter"] + 1})
    _, third = steps(other, other.asarray(saved_a), 4)
    assert not all(np.array_equal(bits(u), bits(v)) for u, v in zip(first, third))


def test_set_state_checks_its_input():
    emu = Emulator(Format(10))
    with pytest.raises(ValueError, match="counter"):
        emu.set_state({})
    with pytest.raises(ValueError):
        emu.set_state({"counter": -1})


def test_stochastic_emulated_multiply_is_unbiased():
    # (1 + 2**-5)(1 + 2**-7) = 1 + 2**-5 + 2**-7 + 2**-12: a quarter of the spacing 2**-10 past
    # a value of the format, so each product rounds up with probability 1/4
    emu = Emulator(Format(10), mode="stochastic", seed=77)
    a = emu.asarray(np.full(100_000, 1 + 2.0**-5))
    b = emu.asarray(np.full(100_000, 1 + 2.0**-7))
    r = emu.to_float64(a * b)
    low = 1 + 2.0**-5 + 2.0**-7
    assert set(np.unique(r)) == {low, low + 2.0**-10}
    p = np.mean(r > low)
    assert abs(p - 0.25) < 5 * np.sqrt(0.25 * 0.75 / r.size)   # 5 s.e.: < 1e-6 of seeds fail


def test_a_scalar_constant_is_rounded_once_for_all_elements():
    # the semantics of a constant: one value entering, rounded once (stochastically here)
    emu = Emulator(Format(10), mode="stochastic", seed=77)
    a = emu.asarray(np.ones(1000))
    r = emu.to_float64(a * (1 + 2.0**-12))
    assert np.unique(r).size == 1


def test_the_numpy_backend_gives_the_same_bits_as_numba():
    x = np.random.default_rng(12).standard_normal(50)
    results = []
    for backend in ("numba", "numpy"):
        emu = Emulator(Format(6), mode="stochastic", seed=8, backend=backend)
        a = emu.asarray(x)
        results.append(emu.to_float64(np.exp(a * 0.7 - a) + np.sum(a)))
    assert np.array_equal(bits(results[0]), bits(results[1]))


def test_a_float64_component_inside_a_low_precision_emulator_rounds_nothing():
    emu = Emulator(Format(4), components={"diagnostics": 52})
    x = np.random.default_rng(13).standard_normal(20)
    with emu.component("diagnostics"):
        a = emu.asarray(x)
        b = a * (1 / 3)
    assert np.array_equal(bits(emu.to_float64(a)), bits(x))
    assert np.array_equal(bits(emu.to_float64(b)), bits(x * (1 / 3)))
    c = emu.to_float64(a * 1.0)                          # the base format rounds again
    assert np.array_equal(bits(c), bits(lowprec.round(x, Format(4))))
