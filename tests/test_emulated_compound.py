"""Compound operations under the two policies.

fused: numpy's float64 result rounded once. sequential: the same as a pure-Python loop of
rounded operations (each one `lowprec.round` of a float64 sum or product) in the documented
order, with stochastic bits for operation i from (seed, counter, i) -- see
lowprec/emulated/sequential.py for the enumeration.
"""
from __future__ import annotations

import numpy as np
import pytest

import lowprec
from lowprec import Emulator, EmulatedArray, Format, NotEmulatedError

SEED = 4242


def bits(x) -> np.ndarray:
    return np.asarray(x).view(np.uint64)


def same_bits(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    if np.iscomplexobj(a) or np.iscomplexobj(b):
        return same_bits(a.real.copy(), b.real.copy()) and same_bits(a.imag.copy(), b.imag.copy())
    return a.shape == b.shape and np.array_equal(bits(a.astype(np.float64)),
                                                 bits(b.astype(np.float64)))


def r(x, fmt, mode, counter, i=0):
    """One rounded operation: the oracle's only primitive."""
    return lowprec.round(float(x), fmt, mode, seed=SEED, counter=counter, offset=i)


def emulator(sbits, mode, policy):
    return Emulator(Format(sbits), mode=mode, seed=SEED, policy=policy)


MODES = ["nearest", "stochastic"]


# --- sums ---------------------------------------------------------------------------------------
def test_sequential_sum_stagnates_where_fused_does_not():
    # 1 + 2**-11 is a tie at 10 sbits and ties go to even (1.0): a sequential sum never moves
    x = np.concatenate([[1.0], np.full(1000, 2.0**-11)])
    exact = 1 + 1000 * 2.0**-11
    seq = emulator(10, "nearest", "sequential")
    fused = emulator(10, "nearest", "fused")
    assert seq.to_float64(np.sum(seq.asarray(x))) == 1.0
    assert fused.to_float64(np.sum(fused.asarray(x))) == lowprec.round(exact, Format(10)) != 1.0
    # stochastic rounding does not stagnate (it would stay at 1.0 if it did)
    stochastic = emulator(10, "stochastic", "sequential")
    assert abs(stochastic.to_float64(np.sum(stochastic.asarray(x))) - exact) < 0.1


@pytest.mark.parametrize("mode", MODES)
def test_sequential_sum_is_a_left_to_right_loop_of_rounded_adds(mode):
    fmt = Format(6)
    x = np.random.default_rng(1).standard_normal(37)
    emu = emulator(6, mode, "sequential")
    a = emu.asarray(x)                                   # counter 0
    got = emu.to_float64(np.sum(a))                      # counter 1
    X = emu.to_float64(a)
    acc = 0.0
    for q in range(X.size):
        acc = r(acc + X[q], fmt, mode, counter=1, i=q)  # index (p*Q + q)*1 + 0, p = 0
    assert got.shape == () and same_bits(got, acc)


@pytest.mark.parametrize("mode", MODES)
def test_sequential_sum_along_an_axis(mode):
    fmt = Format(5)
    x = np.random.default_rng(2).standard_normal((4, 6))
    emu = emulator(5, mode, "sequential")
    a = emu.asarray(x)
    got = emu.to_float64(np.sum(a, axis=0))              # counter 1; output p = column j
    X = emu.to_float64(a)
    Q = X.shape[0]
    expected = []
    for p in range(X.shape[1]):
        acc = 0.0
        for q in range(Q):
            acc = r(acc + X[q, p], fmt, mode, counter=1, i=p * Q + q)
        expected.append(acc)
    assert same_bits(got, np.array(expected))
    assert np.sum(a, axis=(0, 1), keepdims=True).shape == (1, 1)
    assert np.sum(a, axis=-1).shape == (4,)


@pytest.mark.parametrize("mode", MODES)
def test_fused_sum_and_mean_round_once(mode):
    fmt = Format(7)
    x = np.random.default_rng(3).standard_normal((5, 8))
    emu = emulator(7, mode, "fused")
    a = emu.asarray(x)                                   # counter 0
    X = emu.to_float64(a)
    s = emu.to_float64(np.sum(a, axis=1))                # counter 1
    assert same_bits(s, lowprec.round(X.sum(axis=1), fmt, mode, seed=SEED, counter=1))
    m = emu.to_float64(np.mean(a))                       # sum 2, count 3, divide 4
    total = lowprec.round(np.asarray(X.sum()), fmt, mode, seed=SEED, counter=2)
    count = r(40.0, fmt, mode, counter=3)
    assert same_bits(m, lowprec.round(np.asarray(total / count), fmt, mode, seed=SEED,
                                      counter=4))
    assert emu.counter == 5


def test_ufunc_reduce_reaches_the_same_rule_as_np_sum():
    x = np.random.default_rng(4).standard_normal((3, 9))
    for policy in ("fused", "sequential"):
        e1, e2 = emulator(6, "stochastic", policy), emulator(6, "stochastic", policy)
        a1, a2 = e1.asarray(x), e2.asarray(x)
        assert same_bits(e1.to_float64(np.add.reduce(a1)), e2.to_float64(np.sum(a2, axis=0)))
        assert same_bits(e1.to_float64(a1.sum(axis=1)), e2.to_float64(np.add.reduce(a2, axis=1)))
        n = e1.counter
        assert same_bits(e1.to_float64(np.maximum.reduce(a1, axis=1)),
                         e1.to_float64(a1).max(axis=1))
        assert e1.counter == n                           # max is exact: nothing rounded


@pytest.mark.parametrize("mode", MODES)
def test_cumsum_under_both_policies(mode):
    fmt = Format(5)
    x = np.random.default_rng(5).standard_normal((3, 7))
    fused = emulator(5, mode, "fused")
    a = fused.asarray(x)
    X = fused.to_float64(a)
    assert same_bits(fused.to_float64(np.cumsum(a, axis=1)),
                     lowprec.round(np.cumsum(X, axis=1), fmt, mode, seed=SEED, counter=1))
    seq = emulator(5, mode, "sequential")
    b = seq.asarray(x)
    got = seq.to_float64(np.add.accumulate(b, axis=1))   # counter 1
    K = X.shape[1]
    expected = np.zeros_like(X)
    for m in range(X.shape[0]):
        acc = 0.0
        for k in range(K):
            acc = expected[m, k] = r(acc + X[m, k], fmt, mode, counter=1, i=m * K + k)
    assert same_bits(got, expected)
    assert np.cumsum(b).shape == (21,)


def test_diff_is_rounded_subtraction_repeated():
    fmt = Format(4)
    x = np.random.default_rng(6).standard_normal(10)
    emu = emulator(4, "nearest", "fused")
    a = emu.asarray(x)
    X = emu.to_float64(a)
    d1 = lowprec.round(X[1:] - X[:-1], fmt)
    assert same_bits(emu.to_float64(np.diff(a)), d1)
    assert same_bits(emu.to_float64(np.diff(a, n=2)), lowprec.round(d1[1:] - d1[:-1], fmt))
    p = lowprec.round(0.3, fmt)
    assert same_bits(emu.to_float64(np.diff(a, prepend=0.3)),
                     lowprec.round(np.diff(np.concatenate([[p], X])), fmt))


# --- contractions -------------------------------------------------------------------------------
def seq_matmul_oracle(A, B, fmt, mode, counter):
    """Batched (b, M, K) @ (b, K, N) as rounded loops; output element p in C order."""
    nb, M, K = A.shape
    N = B.shape[2]
    out = np.zeros((nb, M, N))
    for b in range(nb):
        for i in range(M):
            for j in range(N):
                p = (b * M + i) * N + j
                acc = 0.0
                for q in range(K):
                    base = (p * K + q) * 2
                    term = r(A[b, i, q] * B[b, q, j], fmt, mode, counter, base)
                    acc = r(acc + term, fmt, mode, counter, base + 1)
                out[b, i, j] = acc
    return out


@pytest.mark.parametrize("mode", MODES)
def test_sequential_matmul_is_the_loop_of_rounded_products_and_sums(mode):
    fmt = Format(5)
    rng = np.random.default_rng(7)
    x, y = rng.standard_normal((2, 3, 4)), rng.standard_normal((4, 5))
    emu = emulator(5, mode, "sequential")
    a, b = emu.asarray(x), emu.asarray(y)                # counters 0, 1
    got = emu.to_float64(a @ b)                          # counter 2 (batch broadcast of b)
    A, B = emu.to_float64(a), emu.to_float64(b)
    assert same_bits(got, seq_matmul_oracle(A, np.broadcast_to(B, (2, 4, 5)), fmt, mode, 2))
    # dot and matmul agree for 2-D and 1-D operands
    e2 = emulator(5, mode, "sequential")
    a2, b2 = e2.asarray(x[0]), e2.asarray(y)
    e3 = emulator(5, mode, "sequential")
    a3, b3 = e3.asarray(x[0]), e3.asarray(y)
    assert same_bits(e2.to_float64(np.dot(a2, b2)), e3.to_float64(np.matmul(a3, b3)))
    v = e2.to_float64(np.dot(a2[0], b2[:, 0]))           # 1-D · 1-D: a scalar
    assert v.shape == ()


def test_sequential_matmul_differs_from_fused_where_rounding_order_matters():
    rng = np.random.default_rng(8)
    x, y = rng.standard_normal((6, 40)), rng.standard_normal((40, 6))
    fused, seq = emulator(8, "nearest", "fused"), emulator(8, "nearest", "sequential")
    f = fused.to_float64(fused.asarray(x) @ fused.asarray(y))
    s = seq.to_float64(seq.asarray(x) @ seq.asarray(y))
    X, Y = fused.to_float64(fused.asarray(x)), fused.to_float64(fused.asarray(y))
    assert same_bits(f, lowprec.round(X @ Y, Format(8)))
    assert not same_bits(f, s)
    # both are close to the exact product: sequential within ~K·u, fused within u
    u = 2.0**-9
    assert np.max(np.abs(f - X @ Y) / np.abs(X @ Y)) <= u * 1.0000001
    assert np.max(np.abs(s - X @ Y)) < 40 * 2 * u * np.max(np.abs(X) @ np.abs(Y))


@pytest.mark.parametrize("mode", MODES)
def test_sequential_einsum_of_three_operands(mode):
    fmt = Format(6)
    rng = np.random.default_rng(9)
    x, y, z = rng.standard_normal((3, 4)), rng.standard_normal((4, 5)), rng.standard_normal(5)
    emu = emulator(6, mode, "sequential")
    a, b, c = emu.asarray(x), emu.asarray(y), emu.asarray(z)
    got = emu.to_float64(np.einsum("ij,jk,k->i", a, b, c))   # counter 3
    A, B, C = emu.to_float64(a), emu.to_float64(b), emu.to_float64(c)
    Q = 4 * 5                                            # summed (j, k) in C order
    expected = []
    for p in range(3):
        acc = 0.0
        for q in range(Q):
            j, k = divmod(q, 5)
            base = (p * Q + q) * 3
            term = r(A[p, j] * B[j, k], fmt, mode, 3, base)
            term = r(term * C[k], fmt, mode, 3, base + 1)
            acc = r(acc + term, fmt, mode, 3, base + 2)
        expected.append(acc)
    assert same_bits(got, np.array(expected))


def test_einsum_forms_agree_with_numpy_at_high_precision():
    rng = np.random.default_rng(10)
    x, y = rng.standard_normal((2, 3, 4)), rng.standard_normal((4, 3))
    emu = emulator(50, "nearest", "sequential")
    a, b = emu.asarray(x), emu.asarray(y)
    for subscripts, ops in [("...ij,jk->...ik", (a, b)), ("bij,ji->b", (a, b)), ("bii->bi",
                            (a[:, :, :3],)), ("ij", (b,)), ("bij,jk", (a, b)), ("ij->", (b,)),
                            ("i,j->ij", (b[:, 0], b[0]))]:
        got = emu.to_float64(np.einsum(subscripts, *ops))
        want = np.einsum(subscripts, *(emu.to_float64(o) for o in ops))
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12, err_msg=subscripts)


def test_sequential_contraction_splits_one_complex_operand():
    fmt = Format(6)
    rng = np.random.default_rng(11)
    p_real = rng.standard_normal((3, 4))
    f = rng.standard_normal(4) + 1j * rng.standard_normal(4)
    emu = emulator(6, "stochastic", "sequential")
    P, F = emu.asarray(p_real), emu.asarray(f)           # counters 0, 1
    got = emu.to_float64(np.einsum("mk,k->m", P, F))     # counter 2
    Pv, Fv = emu.to_float64(P), emu.to_float64(F)
    offset = 3 * 4 * 2                                   # the imaginary part's indices follow
    for part, start in ((Fv.real, 0), (Fv.imag, offset)):
        expected = []
        for p in range(3):
            acc = 0.0
            for q in range(4):
                base = start + (p * 4 + q) * 2
                term = r(Pv[p, q] * part[q], fmt, "stochastic", 2, base)
                acc = r(acc + term, fmt, "stochastic", 2, base + 1)
            expected.append(acc)
        assert same_bits(got.real if start == 0 else got.imag, np.array(expected))
    with pytest.raises(NotEmulatedError, match="complex"):
        np.einsum("k,k->", F, F)


def test_fused_contractions_round_numpys_result_once():
    fmt = Format(9)
    rng = np.random.default_rng(12)
    x, y = rng.standard_normal((4, 6)), rng.standard_normal((6, 3))
    emu = emulator(9, "stochastic", "fused")
    a, b = emu.asarray(x), emu.asarray(y)
    A, B = emu.to_float64(a), emu.to_float64(b)
    assert same_bits(emu.to_float64(a @ b), lowprec.round(A @ B, fmt, "stochastic", seed=SEED,
                                                          counter=2))
    assert same_bits(emu.to_float64(np.einsum("ij,jk->ki", a, b)),
                     lowprec.round(np.einsum("ij,jk->ki", A, B), fmt, "stochastic", seed=SEED,
                                   counter=3))


# --- Fourier transforms ---------------------------------------------------------------------------
@pytest.mark.parametrize("n", [8, 9])
def test_sequential_fft_is_numpys_at_high_precision(n):
    rng = np.random.default_rng(13)
    x = rng.standard_normal((3, n))
    z = x + 1j * rng.standard_normal((3, n))
    emu = emulator(50, "nearest", "sequential")
    a, c = emu.asarray(x), emu.asarray(z)
    X, Z = emu.to_float64(a), emu.to_float64(c)
    for norm in (None, "ortho", "forward"):
        checks = [(np.fft.rfft(a, norm=norm), np.fft.rfft(X, norm=norm)),
                  (np.fft.rfft(a.T, axis=0, norm=norm), np.fft.rfft(X.T, axis=0, norm=norm)),
                  (np.fft.fft(c, norm=norm), np.fft.fft(Z, norm=norm)),
                  (np.fft.ifft(c, norm=norm), np.fft.ifft(Z, norm=norm))]
        spectrum = np.fft.rfft(X, norm=norm)
        spectrum[:, 0] += 0.5j                           # numpy ignores Im X_0 (and Im X_n/2)
        checks.append((np.fft.irfft(emu.asarray(spectrum), norm=norm),
                       np.fft.irfft(spectrum, norm=norm)))
        for got, want in checks:
            assert isinstance(got, EmulatedArray)
            np.testing.assert_allclose(emu.to_float64(got), want, rtol=0, atol=1e-12)


# The sequential FFT's operation-by-operation semantics (mixed-radix butterflies, replacing the
# former rounded DFT) are tested against a step-by-step reference in test_emulated_fourier.py.


def test_fused_fft_rounds_numpys_result_and_round_trips_within_a_few_ulps():
    fmt = Format(10)
    x = np.random.default_rng(15).standard_normal(16)
    emu = emulator(10, "nearest", "fused")
    a = emu.asarray(x)
    X = emu.to_float64(a)
    spectrum = np.fft.rfft(a)
    want = np.fft.rfft(X)
    got = emu.to_float64(spectrum)
    assert same_bits(got.real.copy(), lowprec.round(want.real.copy(), fmt))
    assert same_bits(got.imag.copy(), lowprec.round(want.imag.copy(), fmt))
    back = emu.to_float64(np.fft.irfft(spectrum))
    assert np.max(np.abs(back - X)) < 8 * 2.0**-11 * np.max(np.abs(X))
    seq = emulator(10, "nearest", "sequential")
    b = seq.asarray(x)
    back = seq.to_float64(np.fft.irfft(np.fft.rfft(b)))
    assert np.max(np.abs(back - X)) < 16 * 16 * 2.0**-11 * np.max(np.abs(X))


def test_sequential_fft_refuses_what_it_cannot_do():
    emu = emulator(10, "nearest", "sequential")
    with pytest.raises(NotEmulatedError, match="numpy.fft.rfft"):
        np.fft.rfft(emu.asarray(np.ones(8) + 1j))
    with pytest.raises(ValueError, match="invalid number of data points"):
        np.fft.irfft(emu.asarray(np.ones(1) + 0j))
