"""Sequential contractions of every shape the kernel's layouts distinguish, against a loop oracle.

The kernel (lowprec/emulated/sequential.py) walks the outputs along one "inner" output index
with the operands at fixed strides, chosen per call; these cases make it choose each kind of
index (a matmul's columns, a broadcast, a strided gather, the only index, none), at sizes above
its block, with a complex operand, three operands, broadcasting, diagonals, and a restricted
format whose values reach the subnormal range and overflow (the exact redo). The oracle is a
plain loop over the documented order: output elements p in C order, summed terms q in C order
over the summed indices (first appearance), each term's products left to right, every product
and every running-sum addition one `lowprec.round` with random-bit index (p·Q + q)·n + j.
"""
from __future__ import annotations

import itertools
import string

import numpy as np
import pytest

import lowprec
from lowprec import Emulator, Format
from lowprec.emulated import compound, sequential

SEED = 77


def oracle(subscripts, operands, fmt, mode, counter):
    """einsum(subscripts, *operands) by rounded loops (at most one complex operand)."""
    inputs, out = compound.parse_subscripts(subscripts, [np.shape(a) for a in operands])
    sizes = {}
    for sub, a in zip(inputs, operands):
        for letter, dim in zip(sub, np.shape(a)):
            if sizes.get(letter, 1) == 1:
                sizes[letter] = dim
    summed = []
    for sub in inputs:
        summed += [c for c in sub if c not in out and c not in summed]
    cplx = [j for j, a in enumerate(operands) if np.iscomplexobj(a)]
    parts = [operands] if not cplx else [
        [a.real if j == cplx[0] else a for j, a in enumerate(operands)],
        [a.imag if j == cplx[0] else a for j, a in enumerate(operands)]]
    n = len(operands)
    out_space = list(itertools.product(*[range(sizes[c]) for c in out]))
    q_space = list(itertools.product(*[range(sizes[c]) for c in summed]))
    P, Q = len(out_space), len(q_space)
    results = []
    for k, ops in enumerate(parts):
        offset = k * n * P * Q
        values = np.zeros(P)
        for p, o in enumerate(out_space):
            acc = 0.0
            for q, s in enumerate(q_space):
                index = dict(zip(out, o)) | dict(zip(summed, s))
                factors = []
                for sub, a in zip(inputs, ops):
                    at = tuple(index[c] if np.shape(a)[axis] > 1 else 0
                               for axis, c in enumerate(sub))
                    factors.append(float(np.asarray(a)[at]))
                base = offset + (p * Q + q) * n
                term = factors[0]
                for j in range(1, n):
                    term = float(lowprec.round(term * factors[j], fmt, mode, seed=SEED,
                                               counter=counter, offset=base + j - 1))
                acc = float(lowprec.round(acc + term, fmt, mode, seed=SEED, counter=counter,
                                          offset=base + n - 1))
            values[p] = acc
        results.append(values.reshape([sizes[c] for c in out]))
    if not cplx:
        return results[0]
    z = np.empty(results[0].shape, dtype=np.complex128)
    z.real, z.imag = results
    return z


def bits(a):
    a = np.asarray(a)
    parts = np.stack([a.real, a.imag]) if np.iscomplexobj(a) else a.astype(np.float64)
    return np.where(np.isnan(parts), np.nan, parts).view(np.uint64)


CASES = [   # (subscripts, operand shapes, complex operand or None); the inner index it takes
    ("ij,jk->ik", [(3, 5), (5, 20)], None),          # k: A broadcast, B contiguous
    ("ij,jk->ik", [(20, 5), (5, 3)], 0),             # k too small unit-stride vs i: gathers
    ("ij,jk->ki", [(4, 6), (6, 9)], 1),              # the output transposed
    ("bij,bjk->bik", [(2, 3, 4), (1, 4, 17)], None),  # batch broadcast
    ("ij,ij->i", [(12, 5), (12, 5)], None),          # strided along the inner index
    ("ij,j->i", [(2000, 3), (3,)], None),            # more outputs than a block (1024)
    ("ij->j", [(7, 1100)], None),                    # a sum over rows, above a block
    ("ijk->", [(3, 4, 5)], None),                    # a full sum: no output index
    ("ii->i", [(9, 9)], None),                       # a diagonal
    ("ij,jk,k->i", [(10, 4), (4, 3), (3,)], 2),      # three operands
    ("i,j->ij", [(9,), (11,)], 0),                   # an outer product: no summed index
]


@pytest.mark.parametrize("subscripts, shapes, cplx", CASES)
@pytest.mark.parametrize("mode", ["nearest", "stochastic", "upward"])
def test_sequential_einsum_matches_the_loop_oracle(subscripts, shapes, cplx, mode):
    rng = np.random.default_rng(len(subscripts) * 7 + len(shapes))
    operands = []
    for j, shape in enumerate(shapes):
        x = rng.standard_normal(shape)
        operands.append(x + 1j * rng.standard_normal(shape) if j == cplx else x)
    fmt = Format(6)
    emu = Emulator(fmt, mode=mode, seed=SEED, policy="sequential")
    entered = [emu.asarray(x) for x in operands]             # counters 0 .. n-1
    got = emu.to_float64(np.einsum(subscripts, *entered))   # counter n
    want = oracle(subscripts, [emu.to_float64(e) for e in entered], fmt, mode, len(shapes))
    assert got.shape == want.shape and np.array_equal(bits(got), bits(want))


@pytest.mark.parametrize("mode", ["nearest", "stochastic"])
def test_a_restricted_format_at_the_edges_of_its_range_matches_the_loop_oracle(mode):
    # IEEE half: products of ~2**-9 values are below 2**-14 (subnormal); products of ~2**7
    # values are ~2**14 and their sums overflow past 65504; the kernel redoes those rows exactly
    fmt = Format(10, 5)
    rng = np.random.default_rng(3)
    for scale in (2.0**-9, 2.0**7):
        x, y = rng.standard_normal((3, 40)) * scale, rng.standard_normal((40, 16)) * scale
        emu = Emulator(fmt, mode=mode, seed=SEED, policy="sequential")
        a, b = emu.asarray(x), emu.asarray(y)
        got = emu.to_float64(a @ b)
        want = oracle("ij,jk->ik", [emu.to_float64(a), emu.to_float64(b)], fmt, mode, 2)
        assert np.array_equal(bits(got), bits(want))
        values = np.abs(got[np.isfinite(got)])
        if scale > 1:
            assert (~np.isfinite(got)).any()                    # the overflow did happen
        else:
            assert ((values > 0) & (values < 2.0**-14)).any()  # so did the subnormal range


@pytest.mark.parametrize("subscripts, shapes", [
    ("ij,jk->ik", [(6, 7), (7, 20)]),                # A broadcast, B's row contiguous
    ("ij,kj->ik", [(6, 7), (20, 7)]),                # A broadcast, B's values strided
    ("bij,bjk->bik", [(3, 4, 5), (3, 5, 9)]),        # the GCM's Legendre sums: batched
])
@pytest.mark.parametrize("mode", ["nearest", "stochastic", "downward"])
def test_zero_broadcast_terms_take_the_exact_shortcut_bit_for_bit(subscripts, shapes, mode):
    """The kernel adds x·y unrounded where the broadcast x is ±0 (sequential.py, "Zero terms"):
    the oracle rounds every operation. Zeros of both signs in whole columns and scattered, a
    row of A all zeros (its outputs: +0, or NaN where B holds inf or NaN), sums that cancel to
    0 before a zero term, and B's infinities and NaN; IEEE half for the overflow redo."""
    rng = np.random.default_rng(11)
    x, y = rng.standard_normal(shapes[0]), rng.standard_normal(shapes[1])
    x[..., 1] = 0.0                                   # a summed index that is zero throughout
    x[..., 3] = -0.0
    x[x > 1.0] = 0.0                                  # and scattered zeros
    x[..., 0, :] = 0.0                                # an output row that is all zeros
    x[..., 2, 0], x[..., 2, 2] = 1.5, -1.5            # cancels to 0, then zero terms follow
    if "kj" in subscripts:                            # y[k, j]: the summed index is last
        y[:, 2] = y[:, 0]
    else:
        y[..., 2, :] = y[..., 0, :]
    flat = y.reshape(-1)
    flat[5], flat[8], flat[13] = np.inf, -np.inf, np.nan
    for fmt in (Format(6), Format(10, 5)):
        emu = Emulator(fmt, mode=mode, seed=SEED, policy="sequential")
        a, b = emu.asarray(x), emu.asarray(y)
        got = emu.to_float64(np.einsum(subscripts, a, b))
        want = oracle(subscripts, [emu.to_float64(a), emu.to_float64(b)], fmt, mode, 2)
        assert np.array_equal(bits(got), bits(want))
        assert np.isnan(got).any() and (got == 0).any()           # the cases did occur


def test_the_inner_index_is_chosen_as_documented():
    # a matmul walks its columns (A broadcast, B contiguous); with few columns and many rows,
    # the rows; a full sum has none
    (layout, shape) = compound.contraction_layout(["ij", "jk"], "ik", [(3, 5), (5, 20)])
    assert (layout.N, layout.pin, tuple(layout.strides)) == (20, 1, (0, 1)) and shape == (3, 20)
    (layout, _) = compound.contraction_layout(["ij", "jk"], "ik", [(40, 5), (5, 3)])
    assert (layout.N, layout.pin, tuple(layout.strides)) == (40, 3, (5, 0))
    (layout, shape) = compound.contraction_layout(["ijk"], "", [(3, 4, 5)])
    assert (layout.N, layout.size, shape) == (1, 1, ())
    assert isinstance(layout, sequential.ContractionLayout)


def test_letters_cover_the_alphabet_of_parse():
    # parse_subscripts expands '...' to spare letters; the oracle and the kernel agree on them
    shapes = [(2, 3, 4), (4, 5)]
    inputs, out = compound.parse_subscripts("...ij,jk->...ik", shapes)
    assert all(c in string.ascii_letters for c in "".join(inputs) + out)
    assert len(inputs[0]) == 3 and out.endswith("ik")
