"""Compound operations (sums, contractions, cumulative sums, FFTs) under both policies.

    fused       float64 inside (numpy's own algorithm: a wide accumulator, not an exact one;
                its error, about n·2**-53 relative, is far below the format's spacing, so the
                result is the exact one rounded once except within that distance of a
                rounding boundary), one rounding of each result element at the end: one
                counter value per call.
    sequential  every multiply and every add rounded, in the order `sequential.py` defines
                (left to right along the summed indices): also one counter value per call, the
                element-operations enumerated by the random-bit index.

The functions here take and return plain float64/complex128 ndarrays; `rules.py` enters the
operands and wraps the results. `emu` supplies the rounding: `emu._round(raw)` (fused) and
`emu._sequential_args()` (kernel arguments and a fresh counter value).

Sequential Fourier transforms are discrete Fourier transforms written as a sequential matrix
product: the twiddle factors cos(2πkn/N), sin(2πkn/N), with the normalisation (1/N, 1/√N)
and, for irfft, the Hermitian weights (2 for 0 < k < N/2) folded in, are constants rounded to
nearest in the active format (as a precomputed table would be). Complex values are handled as
interleaved (real, imaginary) pairs, so each term of the sum is a real product, rounded, and
each output's sum runs over the input pairs left to right. O(N²) per transform, affordable at
the sizes of the models here (N ≤ a few hundred). Sequential kernels always run in numba
(whatever the emulator's element-wise backend).
"""
from __future__ import annotations

import string
from typing import Any, Sequence

import numpy as np

from lowprec.emulated import sequential
from lowprec.rounding import kernels

__all__ = ["reduce_sum", "contract", "matmul", "cumulative_sum", "fourier"]


def _normalize_axes(axis: Any, ndim: int) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if np.ndim(axis) == 0 else tuple(axis)
    out = []
    for ax in axes:
        ax = int(ax)
        if not -ndim <= ax < max(ndim, 1):
            raise np.exceptions.AxisError(ax, ndim)
        out.append(ax % max(ndim, 1))
    if len(set(out)) != len(out):
        raise ValueError(f"duplicate value in 'axis': {axis!r}")
    return tuple(out)


# --- einsum subscripts -------------------------------------------------------------------------
def parse_subscripts(subscripts: str, shapes: Sequence[tuple[int, ...]]) -> tuple[list[str], str]:
    """Explicit per-operand letters and output letters, with '...' expanded to spare letters."""
    subscripts = subscripts.replace(" ", "")
    if "->" in subscripts:
        lhs, rhs = subscripts.split("->")
    else:
        lhs, rhs = subscripts, None
    inputs = lhs.split(",")
    if len(inputs) != len(shapes):
        raise ValueError(f"einsum subscripts {subscripts!r} name {len(inputs)} operands, "
                         f"got {len(shapes)}")
    used = set(subscripts) - set(".,->")
    spare = [c for c in string.ascii_letters if c not in used]
    n_ell = 0
    for sub, shape in zip(inputs, shapes):
        if "..." in sub:
            n_ell = max(n_ell, len(shape) - (len(sub) - 3))
    ell = "".join(spare[:n_ell])
    expanded = []
    for sub, shape in zip(inputs, shapes):
        if "..." in sub:
            k = len(shape) - (len(sub) - 3)
            sub = sub.replace("...", ell[n_ell - k:] if k else "")
        if len(sub) != len(shape):
            raise ValueError(f"einsum subscripts {sub!r} do not match an operand of shape {shape}")
        expanded.append(sub)
    if rhs is None:
        letters = "".join(expanded)
        once = sorted(c for c in set(letters) if letters.count(c) == 1 and c not in ell)
        out = ell + "".join(once)
    else:
        out = rhs.replace("...", ell)
    return expanded, out


def contraction_offsets(operands: Sequence[np.ndarray], inputs: Sequence[str], out: str):
    """The flat buffer and element offsets (`sequential.contract`'s arguments), the out shape."""
    sizes: dict[str, int] = {}
    for sub, arr in zip(inputs, operands):
        for letter, dim in zip(sub, arr.shape):
            old = sizes.get(letter)
            if old is None or old == 1:
                sizes[letter] = dim
            elif dim not in (1, old):                   # size 1 broadcasts, as in numpy
                raise ValueError(f"einsum: index {letter!r} has sizes {old} and {dim}")
    for letter in out:
        if letter not in sizes:
            raise ValueError(f"einsum: output index {letter!r} appears in no operand")
    summed = []
    for sub in inputs:
        summed += [c for c in sub if c not in out and c not in summed]
    pieces, off_p, off_q, base = [], [], [], 0
    for sub, arr in zip(inputs, operands):
        arr = np.ascontiguousarray(arr, dtype=np.float64)
        stride = {}
        for axis, letter in enumerate(sub):
            s = arr.strides[axis] // arr.itemsize if arr.shape[axis] == sizes[letter] else 0
            stride[letter] = stride.get(letter, 0) + s      # a repeated letter: the diagonal
        off_p.append(base + _offsets(out, sizes, stride))
        off_q.append(_offsets(summed, sizes, stride))
        pieces.append(arr.reshape(-1))
        base += arr.size
    buf = np.concatenate(pieces) if pieces else np.zeros(0)
    return buf, np.stack(off_p), np.stack(off_q), tuple(sizes[c] for c in out)


def _offsets(letters: Sequence[str], sizes: dict[str, int], stride: dict[str, int]) -> np.ndarray:
    off = np.zeros([sizes[c] for c in letters], dtype=np.int64)
    for axis, letter in enumerate(letters):
        shape = [1] * len(letters)
        shape[axis] = sizes[letter]
        steps = np.arange(sizes[letter], dtype=np.int64) * stride.get(letter, 0)
        off = off + steps.reshape(shape)
    return off.reshape(-1)


def contract_sequential(emu: Any, inputs: Sequence[str], out: str,
                        operands: Sequence[np.ndarray], what: str) -> np.ndarray:
    """Sequentially rounded einsum of real operands (at most one complex: split into re, im)."""
    complex_at = [j for j, a in enumerate(operands) if np.iscomplexobj(a)]
    if len(complex_at) > 1:
        raise emu._refuse(what, "the sequential policy contracts at most one complex operand "
                          "(complex × complex products are not split into rounded real "
                          "operations); use policy='fused' for this call's emulator")
    kernel_args, mode_code, seed, counter = emu._sequential_args()
    if not complex_at:
        buf, off_p, off_q, shape = contraction_offsets(operands, inputs, out)
        return sequential.contract(buf, off_p, off_q, kernel_args, mode_code, seed,
                                   counter).reshape(shape)
    j = complex_at[0]
    parts = []
    offset = 0
    for part in (operands[j].real, operands[j].imag):
        ops = list(operands)
        ops[j] = part
        buf, off_p, off_q, shape = contraction_offsets(ops, inputs, out)
        parts.append(sequential.contract(buf, off_p, off_q, kernel_args, mode_code, seed,
                                         counter, offset).reshape(shape))
        offset += off_p.shape[0] * off_p.shape[1] * off_q.shape[1]
    return parts[0] + 1j * parts[1]


# --- the compound operations -------------------------------------------------------------------
def contract(emu: Any, subscripts: str, operands: Sequence[np.ndarray],
             optimize: Any = False) -> np.ndarray:
    """einsum(subscripts, *operands) under the emulator's policy."""
    if emu.policy == "fused":
        return emu._round(np.asarray(np.einsum(subscripts, *operands, optimize=optimize)))
    inputs, out = parse_subscripts(subscripts, [a.shape for a in operands])
    return contract_sequential(emu, inputs, out, operands, "numpy.einsum")


def matmul(emu: Any, a: np.ndarray, b: np.ndarray, what: str = "numpy.matmul") -> np.ndarray:
    """a @ b with numpy's matmul rules (1-D promotion, batch broadcasting)."""
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"{what}: input operand does not have enough dimensions (use *)")
    if emu.policy == "fused":
        return emu._round(np.asarray(np.matmul(a, b)))
    sub_a = "k" if a.ndim == 1 else "...mk"
    sub_b = "k" if b.ndim == 1 else "...kn"
    sub_out = "..." + ("m" if a.ndim > 1 else "") + ("n" if b.ndim > 1 else "")
    inputs, out = parse_subscripts(f"{sub_a},{sub_b}->{sub_out}", [a.shape, b.shape])
    return contract_sequential(emu, inputs, out, [a, b], what)


def reduce_sum(emu: Any, a: np.ndarray, axis: Any = None, keepdims: bool = False) -> np.ndarray:
    """Sum over `axis` (None: all), left to right (C order over the summed axes) if sequential."""
    axes = _normalize_axes(axis, a.ndim)
    if emu.policy == "fused":
        return emu._round(np.asarray(np.sum(a, axis=axes, keepdims=keepdims)))
    letters = string.ascii_letters[:a.ndim]
    out = "".join(c for i, c in enumerate(letters) if i not in axes)
    result = contract_sequential(emu, [letters], out, [a], "numpy.sum")
    if keepdims:
        result = np.expand_dims(result, axes)
    return result


def cumulative_sum(emu: Any, a: np.ndarray, axis: Any = None) -> np.ndarray:
    """Partial sums along `axis` (None: the flattened array), each one rounded."""
    if axis is None:
        a, axis = a.reshape(-1), 0
    (axis,) = _normalize_axes(axis, a.ndim)
    if emu.policy == "fused":
        return emu._round(np.cumsum(a, axis=axis))
    if np.iscomplexobj(a):
        raise emu._refuse("numpy.cumsum", "the sequential cumulative sum is real only; "
                          "use policy='fused' or sum the real and imaginary parts apart")
    kernel_args, mode_code, seed, counter = emu._sequential_args()
    moved = np.moveaxis(a, axis, -1)
    rows = moved.reshape(-1, moved.shape[-1]) if moved.size else moved.reshape(0, 0)
    result = sequential.cumulative_sum(rows, kernel_args, mode_code, seed, counter)
    return np.moveaxis(result.reshape(moved.shape), -1, axis)


# --- Fourier transforms ------------------------------------------------------------------------
_NORMS = {None: "backward", "backward": "backward", "ortho": "ortho", "forward": "forward"}


def _scale(norm: str, n: int, inverse: bool) -> float:
    if norm == "ortho":
        return 1.0 / np.sqrt(n)
    if (norm == "backward") == inverse:
        return 1.0 / n
    return 1.0


def _angles(n_in: int, n_out: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """cos and sin of 2π k t / n on the grid (t < n_in, k < n_out), with k t reduced mod n."""
    kt = np.outer(np.arange(n_in), np.arange(n_out)) % n
    theta = 2 * np.pi * kt / n
    c, s = np.cos(theta), np.sin(theta)
    # exact zeros and ones at multiples of a quarter turn (sin(π) is 1.2e-16 in float64, and
    # irfft must ignore the imaginary parts of X_0 and X_{n/2} exactly, as numpy does)
    quarter = np.where(4 * kt % n == 0, 4 * kt // n, -1)
    c[quarter == 0], s[quarter == 0] = 1.0, 0.0
    c[quarter == 1], s[quarter == 1] = 0.0, 1.0
    c[quarter == 2], s[quarter == 2] = -1.0, 0.0
    c[quarter == 3], s[quarter == 3] = 0.0, -1.0
    return c, s


def dft_matrix(kind: str, n: int, norm: str) -> np.ndarray:
    """The real matrix W with  output = input @ W  (complex values as interleaved pairs), float64.

    rfft:  real x (n) -> interleaved X (2(n//2+1)):  Re X_k = Σ x_t cos, Im X_k = -Σ x_t sin
    irfft: interleaved X (2F) -> real x (n), F = n//2 + 1:  x_t = Σ_k w_k (Re X_k cos - Im X_k sin)
    fft / ifft: interleaved z (2n) -> interleaved Z (2n), with e^(∓2πi kt/n)
    """
    if kind == "rfft":
        f = n // 2 + 1
        c, s = _angles(n, f, n)
        w = np.empty((n, 2 * f))
        w[:, 0::2], w[:, 1::2] = c, -s
        return w * _scale(norm, n, inverse=False)
    if kind == "irfft":
        f = n // 2 + 1
        c, s = _angles(f, n, n)                   # rows: frequency k, columns: time t
        weight = np.full(f, 2.0)
        weight[0] = 1.0
        if n % 2 == 0:
            weight[-1] = 1.0
        w = np.empty((2 * f, n))
        w[0::2, :] = weight[:, None] * c
        w[1::2, :] = -weight[:, None] * s
        return w * _scale(norm, n, inverse=True)
    inverse = kind == "ifft"
    c, s = _angles(n, n, n)                       # rows: input index t, columns: output index k
    s = s if inverse else -s                      # e^(-iθ) = cos θ - i sin θ forward
    w = np.empty((2 * n, 2 * n))
    w[0::2, 0::2], w[0::2, 1::2] = c, s           # Re z_t contributes Re: c, Im: s
    w[1::2, 0::2], w[1::2, 1::2] = -s, c          # Im z_t contributes Re: -s, Im: c
    return w * _scale(norm, n, inverse)


_DFT_CACHE: dict[tuple, np.ndarray] = {}


def _rounded_dft(kind: str, n: int, norm: str, fmt: Any) -> np.ndarray:
    key = (kind, n, norm, fmt)
    if key not in _DFT_CACHE:
        if len(_DFT_CACHE) > 64:
            _DFT_CACHE.clear()
        _DFT_CACHE[key] = kernels.round_array(dft_matrix(kind, n, norm), fmt, 0)
    return _DFT_CACHE[key]


def fourier(emu: Any, kind: str, a: np.ndarray, n: int | None = None, axis: int = -1,
            norm: str | None = None) -> np.ndarray:
    """numpy.fft.<kind>(a, n, axis, norm) under the emulator's policy (rfft, irfft, fft, ifft)."""
    what = f"numpy.fft.{kind}"
    if norm not in _NORMS:
        raise ValueError(f"{what}: norm={norm!r}; allowed: None, 'backward', 'ortho', 'forward'")
    if emu.policy == "fused":
        return emu._round(np.asarray(getattr(np.fft, kind)(a, n=n, axis=axis, norm=norm)))
    if n is not None:
        raise emu._refuse(what, "the sequential DFT takes the length from the data; pad or "
                          "slice the input instead of passing n=")
    if kind == "rfft" and np.iscomplexobj(a):
        raise emu._refuse(what, "rfft of complex input discards the imaginary part; use fft")
    moved = np.moveaxis(a, axis, -1)
    length = moved.shape[-1]
    if kind == "rfft":
        x, size = np.ascontiguousarray(moved, dtype=np.float64), length
    else:
        x = np.ascontiguousarray(moved, dtype=np.complex128).view(np.float64)
        size = 2 * (length - 1) if kind == "irfft" else length
    if size < 1:
        raise ValueError(f"{what}: invalid number of data points ({size}) specified")
    w = _rounded_dft(kind, size, _NORMS[norm], emu._active.fmt)
    inputs, out = parse_subscripts("...t,tk->...k", [x.shape, w.shape])
    y = contract_sequential(emu, inputs, out, [x, w], what)
    if kind != "irfft":
        y = np.ascontiguousarray(y).view(np.complex128)
    return np.moveaxis(y, -1, axis)
