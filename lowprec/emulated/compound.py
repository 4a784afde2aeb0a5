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
`emu._sequential_params()` (the packed rounding parameters, a fresh counter value and the
kernels' rounding flavour).

Sequential Fourier transforms are rounded FFTs (`fourier.py`): mixed-radix Cooley–Tukey
butterflies, every multiply and add rounded, twiddle factors rounded to nearest as a table
would hold them. They replaced a rounded DFT (a sequential matrix product, O(n²)): a rounded
FFT's error grows like log n and a DFT's like n, so the DFT modelled a computation no real model
performs. Sequential kernels always run in numba (whatever the emulator's element-wise backend).
"""
from __future__ import annotations

import string
from functools import lru_cache
from typing import Any, Sequence

import numpy as np

from lowprec.emulated import fourier as _fourier
from lowprec.emulated import sequential

__all__ = ["reduce_sum", "contract", "matmul", "cumulative_sum", "fourier",
           "fourier_operation_count"]


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
    inputs, out = _parsed(subscripts, tuple(tuple(s) for s in shapes))
    return list(inputs), out


@lru_cache(maxsize=512)
def _parsed(subscripts: str, shapes: tuple[tuple[int, ...], ...]) -> tuple[tuple[str, ...], str]:
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
    return tuple(expanded), out


def contraction_layout(inputs: Sequence[str], out: str, shapes: Sequence[tuple[int, ...]],
                       complex_at: int | None = None
                       ) -> tuple[sequential.ContractionLayout, tuple[int, ...]]:
    """Where `sequential.contract` finds each operand's values, and the output's shape: made
    once per (subscripts, shapes) and kept (`_LAYOUTS`).

    The buffer holds the operands side by side, each C-contiguous and flat, the complex operand
    (at most one, `complex_at`) as its float64 view of (re, im) pairs. With a complex operand
    there are 2P outputs: its real parts' contraction, then its imaginary parts' (their
    random-bit indices follow on, n·P·Q further, as when they were two calls). The inner output
    index (the kernel's vector) is the one with the best score: its size, times 4 if every
    operand steps along it by 0 or 1 element (a broadcast or a contiguous row), the last index
    on ties: for a matmul, the columns.
    """
    key = (tuple(inputs), out, tuple(shapes), complex_at)
    layout = _LAYOUTS.get(key)
    if layout is None:
        if len(_LAYOUTS) >= _LAYOUT_CACHE_SIZE:
            _LAYOUTS.clear()
        layout = _LAYOUTS[key] = _contraction_layout(inputs, out, shapes, complex_at)
    return layout


_LAYOUTS: dict[tuple, tuple[sequential.ContractionLayout, tuple[int, ...]]] = {}
_LAYOUT_CACHE_SIZE = 512


def _contraction_layout(inputs: Sequence[str], out: str, shapes: Sequence[tuple[int, ...]],
                        complex_at: int | None
                        ) -> tuple[sequential.ContractionLayout, tuple[int, ...]]:
    sizes: dict[str, int] = {}
    for sub, shape in zip(inputs, shapes):
        for letter, dim in zip(sub, shape):
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
    strides, bases, base = [], [], 0
    for j, (sub, shape) in enumerate(zip(inputs, shapes)):
        width = 2 if j == complex_at else 1             # float64 values per element
        c_strides = np.cumprod((1,) + tuple(shape[:0:-1]), dtype=np.int64)[::-1]
        stride: dict[str, int] = {}
        for axis, letter in enumerate(sub):
            s = int(c_strides[axis]) * width if shape[axis] == sizes[letter] else 0
            stride[letter] = stride.get(letter, 0) + s      # a repeated letter: the diagonal
        strides.append(stride)
        bases.append(base)
        base += width * int(np.prod(shape, dtype=np.int64))
    out_strides = {c: int(np.prod([sizes[d] for d in out[i + 1:]], dtype=np.int64))
                   for i, c in enumerate(out)}
    P = int(np.prod([sizes[c] for c in out], dtype=np.int64))

    def score(c: str) -> int:
        unit = all(st.get(c, 0) in (0, 1) for st in strides)
        return sizes[c] * (4 if unit else 1)
    inner = max(reversed(out), key=score) if out else None      # ties: the last index
    outer = [c for c in out if c != inner]
    p_o = _offsets(outer, sizes, out_strides)
    off_o = [b + _offsets(outer, sizes, st) for b, st in zip(bases, strides)]
    if complex_at is not None:                      # the imaginary parts' outputs follow on
        p_o = np.concatenate([p_o, p_o + P])
        off_o = [np.concatenate([o, o + (j == complex_at)]) for j, o in enumerate(off_o)]
    layout = sequential.ContractionLayout(
        off_o=np.stack(off_o), p_o=p_o,
        strides=np.array([st.get(inner, 0) for st in strides], dtype=np.int64),
        off_q=np.stack([_offsets(summed, sizes, st) for st in strides]),
        N=sizes[inner] if inner else 1, pin=out_strides[inner] if inner else 0,
        size=P * (2 if complex_at is not None else 1))
    for array in layout[:4]:
        array.flags.writeable = False
    return layout, tuple(sizes[c] for c in out)


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
    """Sequentially rounded einsum of real operands (at most one complex: its real and
    imaginary parts contracted in turn)."""
    complex_at = [j for j, a in enumerate(operands) if a.dtype.kind == "c"]
    if len(complex_at) > 1:
        raise emu._refuse(what, "the sequential policy contracts at most one complex operand "
                          "(complex × complex products are not split into rounded real "
                          "operations); use policy='fused' for this call's emulator")
    j = complex_at[0] if complex_at else None
    arrays = [np.ascontiguousarray(a, dtype=np.complex128 if i == j else np.float64)
              for i, a in enumerate(operands)]
    layout, shape = contraction_layout(inputs, out, tuple(a.shape for a in arrays), j)
    buf = (np.concatenate([a.reshape(-1).view(np.float64) for a in arrays]) if arrays
           else np.zeros(0))
    params, counter, flavour = emu._sequential_params()
    flat = sequential.contract(buf, layout, params, counter, flavour=flavour)
    if j is None:
        return flat.reshape(shape)
    P = flat.size // 2
    result = np.empty(P, dtype=np.complex128)     # not re + 1j*im: 1j*inf has a NaN part
    result.real, result.imag = flat[:P], flat[P:]
    return result.reshape(shape)


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


def _fit(x: np.ndarray, length: int) -> np.ndarray:
    """x cut or zero-padded along its last axis to `length`, as numpy.fft does with n=."""
    if x.shape[-1] >= length:
        return x[..., :length]
    pad = [(0, 0)] * (x.ndim - 1) + [(0, length - x.shape[-1])]
    return np.pad(x, pad)


def fourier(emu: Any, kind: str, a: np.ndarray, n: int | None = None, axis: int = -1,
            norm: str | None = None) -> np.ndarray:
    """numpy.fft.<kind>(a, n, axis, norm) under the emulator's policy (rfft, irfft, fft, ifft)."""
    what = f"numpy.fft.{kind}"
    if norm not in _NORMS:
        raise ValueError(f"{what}: norm={norm!r}; allowed: None, 'backward', 'ortho', 'forward'")
    if emu.policy == "fused":
        return emu._round(np.asarray(getattr(np.fft, kind)(a, n=n, axis=axis, norm=norm)))
    if kind == "rfft" and np.iscomplexobj(a):
        raise emu._refuse(what, "rfft of complex input discards the imaginary part; use fft")
    if a.ndim == 0:
        raise ValueError(f"{what}: the input is 0-d; it needs an axis to transform")
    (axis,) = _normalize_axes(axis, a.ndim)
    moved = a if axis == a.ndim - 1 else np.moveaxis(a, axis, -1)
    length = moved.shape[-1]
    size = int(n) if n is not None else (2 * (length - 1) if kind == "irfft" else length)
    if size < 1:
        raise ValueError(f"{what}: invalid number of data points ({size}) specified")
    plan = _fourier.plan(kind, size, _NORMS[norm], emu._active.fmt)
    x = _fit(moved, plan.n_in)
    rows = x.reshape(-1, plan.n_in)
    params, counter, flavour = emu._sequential_params()
    y = _fourier.transform(plan, rows, params, counter, flavour).reshape(x.shape[:-1]
                                                                        + (plan.n_out,))
    return y if axis == a.ndim - 1 else np.moveaxis(y, -1, axis)


def fourier_operation_count(kind: str, n: int) -> int:
    """Rounded operations of one sequential numpy.fft.<kind> of length n (n: irfft's output)."""
    return _fourier.operation_count(kind, n)
