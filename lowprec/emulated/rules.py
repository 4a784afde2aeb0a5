"""The emulation tables: every numpy ufunc and function an EmulatedArray supports sits in one.

    ROUND_RESULT  computes new values element by element: the float64 result is rounded once
                  (one counter value).
    MOVE_ONLY     makes no new values (moves, selects, compares, exact operations such as
                  negation, maximum, floor): nothing to round; boolean and integer results come
                  back as plain ndarrays.
    COMPOUND      sums, contractions, cumulative sums, Fourier transforms: rounded by the
                  emulator's policy (`compound.py`).
    REFUSED       known and deliberately not emulated, with a hint (the error says what to do).

Anything in none of them is refused too, with the generic hint. The ufunc methods reach the same
rules: `np.add.reduce` is `np.sum`'s rule, `np.add.accumulate` is `np.cumsum`'s,
`np.maximum.reduce` is `np.max`'s.

Arguments that carry values into the result (the "value arguments" named in the tables: the
operands of a ufunc, `x` and `y` of `np.where`, `fill_value`, `constant_values`, clip bounds...)
enter as constants when they are not EmulatedArrays: rounded to the active format, one counter
value each. Other arguments (axes, shapes, conditions, indices) pass through untouched.
"""
from __future__ import annotations

import inspect
from typing import Any, Callable

import numpy as np

from lowprec.emulated import array as _array
from lowprec.emulated import compound
from lowprec.emulated.array import EmulatedArray

__all__ = ["ROUND_RESULT", "MOVE_ONLY", "COMPOUND", "REFUSED", "FUNCTION_RULES", "UFUNC_KIND",
           "apply_ufunc", "call_function_rule", "qualified_name"]

_NoValue = np._NoValue
OPERANDS = "operands"                 # the value-argument spec of a ufunc: all its operands


def qualified_name(func: Any) -> str:
    """'numpy.sum', 'numpy.fft.rfft', 'numpy.add' for error messages."""
    if isinstance(func, np.ufunc):
        return f"numpy.{func.__name__}"
    module = getattr(func, "__module__", None) or "numpy"
    if module.startswith("numpy._core") or module.startswith("numpy.core"):
        module = "numpy"
    return f"{module}.{getattr(func, '__name__', repr(func))}"


def _values(*names: str) -> tuple[str, ...]:
    """The names of a function's value arguments (positions are read from its signature)."""
    return names


# --- the tables ----------------------------------------------------------------------------------
ROUND_RESULT: dict[Callable, Any] = {
    **{u: OPERANDS for u in (
        np.add, np.subtract, np.multiply, np.divide, np.floor_divide, np.remainder, np.fmod,
        np.power, np.float_power, np.square, np.sqrt, np.cbrt, np.reciprocal,
        np.exp, np.exp2, np.expm1, np.log, np.log2, np.log10, np.log1p, np.logaddexp,
        np.logaddexp2, np.sin, np.cos, np.tan, np.arcsin, np.arccos, np.arctan, np.arctan2,
        np.hypot, np.sinh, np.cosh, np.tanh, np.arcsinh, np.arccosh, np.arctanh,
        np.deg2rad, np.rad2deg, np.degrees, np.radians, np.absolute, np.sign, np.heaviside)},
    np.round: _values("a"),
    np.around: _values("a"),
    np.angle: _values("z"),
}

MOVE_ONLY: dict[Callable, Any] = {
    # exact ufuncs: the result is one of the operands, or representable whenever they are
    **{u: OPERANDS for u in (
        np.negative, np.positive, np.conjugate, np.maximum, np.minimum, np.fmax, np.fmin,
        np.floor, np.ceil, np.trunc, np.rint, np.copysign,
        np.equal, np.not_equal, np.less, np.less_equal, np.greater, np.greater_equal,
        np.isfinite, np.isinf, np.isnan, np.signbit,
        np.logical_and, np.logical_or, np.logical_xor, np.logical_not)},
    # shape and order
    np.reshape: _values("a"), np.ravel: _values("a"), np.transpose: _values("a"),
    np.swapaxes: _values("a"), np.moveaxis: _values("a"), np.broadcast_to: _values("array"),
    np.broadcast_arrays: _values("args"), np.squeeze: _values("a"),
    np.expand_dims: _values("a"), np.atleast_1d: _values("arys"),
    np.atleast_2d: _values("arys"), np.atleast_3d: _values("arys"),
    np.copy: _values("a"), np.roll: _values("a"), np.flip: _values("m"),
    np.fliplr: _values("m"), np.flipud: _values("m"), np.rot90: _values("m"),
    np.tile: _values("A"), np.repeat: _values("a"), np.split: _values("ary"),
    np.array_split: _values("ary"), np.diagonal: _values("a"), np.tril: _values("m"),
    np.triu: _values("m"), np.meshgrid: _values("xi"),
    # joining, selecting, filling
    np.concatenate: _values("arrays"), np.stack: _values("arrays"), np.hstack: _values("tup"),
    np.vstack: _values("tup"), np.column_stack: _values("tup"),
    np.append: _values("arr", "values"), np.take: _values("a"),
    np.take_along_axis: _values("arr"), np.where: _values("x", "y"),
    np.pad: _values("array", "constant_values"),
    np.zeros_like: _values("a"), np.ones_like: _values("a"), np.empty_like: _values(),
    np.full_like: _values("a", "fill_value"),
    np.clip: _values("a", "a_min", "a_max", "min", "max"),
    np.max: _values("a", "initial"), np.amax: _values("a", "initial"),
    np.min: _values("a", "initial"), np.amin: _values("a", "initial"),
    np.sort: _values("a"), np.real: _values("val"), np.imag: _values("val"),
    # results that are not numbers of the format (booleans, indices, sizes)
    np.argsort: _values("a"), np.argmax: _values("a"), np.argmin: _values("a"),
    np.nonzero: _values("a"), np.count_nonzero: _values("a"), np.all: _values("a"),
    np.any: _values("a"), np.shape: _values("a"), np.ndim: _values("a"), np.size: _values("a"),
    np.searchsorted: _values("a", "v"), np.array_equal: _values("a1", "a2"),
    # tolerance checks: the float64 arithmetic inside never reaches a result (a boolean)
    np.isclose: _values("a", "b"), np.allclose: _values("a", "b"),
}

_PAD_MODES = ("constant", "edge", "wrap", "reflect", "symmetric")

REFUSED: dict[Callable, str] = {
    np.frexp: "it splits float64's significand and exponent, not the format's",
    np.ldexp: "multiply by a power of two instead (exact, and rounded at the range limits)",
    np.modf: "use x - np.trunc(x) and np.trunc(x)",
    np.divmod: "use np.floor_divide and np.remainder",
    np.spacing: "float64's spacing is not the format's; use Format.unit_roundoff",
    np.nextafter: "float64's neighbour is not the format's",
    np.prod: "write the product as multiplications, each rounded",
    np.cumprod: "write the products as multiplications, each rounded",
    np.std: "compute it from np.mean and squared deviations under emulation",
    np.var: "compute it from np.mean and squared deviations under emulation",
    np.average: "use np.sum of weights times values, divided by np.sum of the weights",
    np.median: "sort and index (np.sort) under emulation",
    np.percentile: "sort and index (np.sort) under emulation",
    np.quantile: "sort and index (np.sort) under emulation",
    np.nansum: "mask with np.where(np.isnan(x), 0, x), then np.sum",
    np.nanmean: "mask with np.where, then np.sum and divide",
    np.gradient: "write the differences out (np.diff or slices), each rounded",
    np.interp: "write the interpolation weights out under emulation",
    np.convolve: "write the sum of shifted products with np.roll/slices, or use np.einsum",
    np.polyval: "use Horner's scheme with rounded multiplications and additions",
    np.tensordot: "use np.einsum (emulated under both policies)",
    np.inner: "use np.einsum or np.matmul (emulated under both policies)",
    np.outer: "use a[:, None] * b[None, :]",
    np.vdot: "use np.einsum or np.matmul (emulated under both policies)",
    np.cross: "write the components out",
    np.trace: "use np.einsum('ii->', a)",
    np.linalg.solve: "write the solver out (e.g. a tridiagonal sweep) so that every step is "
                     "rounded",
    np.linalg.inv: "write the solver out so that every step is rounded",
    np.linalg.norm: "use np.sqrt(np.sum(x * x))",
    np.nan_to_num: "use np.where(np.isfinite(x), x, 0.0)",
    np.copyto: "assign with dst[...] = src",
}
if hasattr(np, "trapezoid"):
    REFUSED[np.trapezoid] = "write the trapezoidal sum out with np.sum"

# the ufunc methods that reach a function's rule; every other method is refused
_REDUCE_AS = {np.add: np.sum, np.maximum: np.max, np.minimum: np.min,
              np.logical_and: np.all, np.logical_or: np.any}
_ACCUMULATE_AS = {np.add: np.cumsum}
_METHOD_HINTS = {
    "outer": "use broadcasting, a[:, None] * b[None, :]",
    "at": "use np.where or slice assignment, x[idx] = x[idx] + v",
    "reduceat": "slice, then np.sum each part",
    "reduce": "only add (np.sum), maximum, minimum, logical_and and logical_or reduce",
    "accumulate": "only add (np.cumsum) accumulates",
}


# --- entering arguments --------------------------------------------------------------------------
def _is_emulated(x: Any) -> bool:
    return type(x) is EmulatedArray


def _value(x: Any, emu: Any) -> Any:
    """A value argument: EmulatedArray -> data; numbers and plain arrays -> rounded constants."""
    if _is_emulated(x):
        emu._check_same(x)
        return x._data
    if x is None or x is _NoValue or isinstance(x, str):
        return x
    if isinstance(x, (list, tuple)) and any(_is_emulated(e) or isinstance(e, (np.ndarray, list,
                                                                              tuple))
                                            for e in x):
        return [_value(e, emu) for e in x]    # a sequence of arrays (concatenate, stack)
    return emu._enter(x)


def _unwrap(x: Any, emu: Any) -> Any:
    """A structural argument (condition, indices, axes): EmulatedArray -> data, nothing rounded."""
    if _is_emulated(x):
        emu._check_same(x)
        return x._data
    if isinstance(x, (list, tuple)) and any(_is_emulated(e) for e in x):
        return type(x)(_unwrap(e, emu) for e in x)
    return x


def _wrap(result: Any, emu: Any, rounded: bool) -> Any:
    """Float results become EmulatedArrays (rounded first if asked); others come back plain."""
    if isinstance(result, (np.floating, np.complexfloating)):
        result = np.asarray(result)
    if type(result) is np.ndarray:
        kind = result.dtype.kind
        if kind not in "fc":
            return result
        if result.dtype not in (np.float64, np.complex128):
            result = result.astype(np.float64 if kind == "f" else np.complex128)
        return EmulatedArray(emu._round(result) if rounded else result, emu)
    if isinstance(result, (tuple, list)):
        return type(result)(_wrap(r, emu, rounded) for r in result)
    return result


def _positions(func: Callable, names: tuple[str, ...]) -> tuple[tuple[int | None, str], ...]:
    """(position or None, name) for each value argument, read from func's signature once."""
    params = list(inspect.signature(func).parameters.values())
    out = []
    for name in names:
        matches = [i for i, p in enumerate(params) if p.name == name]
        if not matches and params and params[-1].kind == inspect.Parameter.VAR_KEYWORD:
            out.append((None, name))            # taken through **kwargs (np.pad's values)
            continue
        if not matches:
            raise TypeError(f"rules: {qualified_name(func)} has no parameter {name!r}")
        i = matches[0]
        kind = params[i].kind
        if kind == inspect.Parameter.VAR_POSITIONAL:
            out.append((-1, name))              # every positional argument from here on
        elif kind == inspect.Parameter.KEYWORD_ONLY or kind == inspect.Parameter.VAR_KEYWORD:
            out.append((None, name))
        else:
            out.append((i, name))
    return tuple(out)


def _enter_arguments(slots: tuple, args: tuple, kwargs: dict, emu: Any) -> tuple[list, dict]:
    args = list(args)
    done = set()
    for pos, name in slots:
        if pos == -1:
            args = [_value(a, emu) for a in args]
            done.update(range(len(args)))
        elif pos is not None and pos < len(args):
            args[pos] = _value(args[pos], emu)
            done.add(pos)
        elif name in kwargs:
            kwargs[name] = _value(kwargs[name], emu)
            done.add(name)
    args = [a if i in done else _unwrap(a, emu) for i, a in enumerate(args)]
    kwargs = {k: v if k in done else _unwrap(v, emu) for k, v in kwargs.items()}
    return args, kwargs


# --- rules for functions: (func, args, kwargs, emu) -> result ------------------------------------
def _table_rule(func: Callable, spec: tuple, rounded: bool) -> Callable:
    slots = _positions(func, spec)

    def rule(func: Callable, args: tuple, kwargs: dict, emu: Any) -> Any:
        args, kwargs = _enter_arguments(slots, args, kwargs, emu)
        return _wrap(func(*args, **kwargs), emu, rounded)
    return rule


def _pad_rule(func: Callable, args: tuple, kwargs: dict, emu: Any) -> Any:
    mode = args[2] if len(args) > 2 else kwargs.get("mode", "constant")
    if mode not in _PAD_MODES or kwargs.get("reflect_type", "even") != "even":
        raise emu._refuse(f"numpy.pad(mode={mode!r})", f"only the modes that copy values are "
                          f"emulated: {', '.join(_PAD_MODES)} (reflect_type='even')")
    return _PAD_MOVE(func, args, kwargs, emu)


def _empty_like_rule(func: Callable, args: tuple, kwargs: dict, emu: Any) -> Any:
    # uninitialised memory could hold values outside the format: hand out zeros instead
    args, kwargs = _enter_arguments((), args, kwargs, emu)
    return _wrap(np.zeros_like(*args, **kwargs), emu, rounded=False)


def _dtype_ok(dtype: Any) -> bool:
    return dtype is None or np.dtype(dtype) in (np.float64, np.complex128)


def _refuse_options(emu: Any, what: str, dtype: Any = None, **options: Any) -> None:
    if not _dtype_ok(dtype):
        raise emu._refuse(f"{what}(dtype={dtype!r})", "emulated arrays compute in float64 "
                          "storage; drop dtype=")
    for name, value in options.items():
        if value is not _NoValue and value is not None:
            raise emu._refuse(f"{what}({name}=...)", f"{name}= is not emulated; drop it")


def _flag(value: Any) -> bool:
    return False if value is _NoValue else bool(value)


def _sum_args(a, axis=None, dtype=None, out=None, keepdims=_NoValue, initial=_NoValue,
              where=_NoValue):
    return a, axis, dtype, keepdims, initial, where


def _sum_rule(func: Callable, args: tuple, kwargs: dict, emu: Any) -> Any:
    a, axis, dtype, keepdims, initial, where = _sum_args(*args, **kwargs)
    _refuse_options(emu, "numpy.sum", dtype, initial=initial, where=where)
    data = _value(a, emu)
    return _wrap(compound.reduce_sum(emu, data, axis, _flag(keepdims)), emu, rounded=False)


def _mean_args(a, axis=None, dtype=None, out=None, keepdims=_NoValue, *, where=_NoValue):
    return a, axis, dtype, keepdims, where


def _mean_rule(func: Callable, args: tuple, kwargs: dict, emu: Any) -> Any:
    """mean = (the emulated sum) / count, the count entering as a constant: np.sum(a)/n."""
    a, axis, dtype, keepdims, where = _mean_args(*args, **kwargs)
    _refuse_options(emu, "numpy.mean", dtype, where=where)
    data = _value(a, emu)
    axes = compound._normalize_axes(axis, data.ndim)
    count = int(np.prod([data.shape[i] for i in axes], dtype=np.int64))
    total = _wrap(compound.reduce_sum(emu, data, axes, _flag(keepdims)), emu, rounded=False)
    return apply_ufunc(np.divide, "__call__", (total, count), {}, emu)


def _cumsum_args(a, axis=None, dtype=None, out=None):
    return a, axis, dtype


def _cumsum_rule(func: Callable, args: tuple, kwargs: dict, emu: Any) -> Any:
    a, axis, dtype = _cumsum_args(*args, **kwargs)
    _refuse_options(emu, "numpy.cumsum", dtype)
    return _wrap(compound.cumulative_sum(emu, _value(a, emu), axis), emu, rounded=False)


def _matmul_rule(func: Callable, args: tuple, kwargs: dict, emu: Any) -> Any:
    if kwargs:
        raise emu._refuse(f"numpy.matmul({', '.join(kwargs)}=...)", "only out= is emulated")
    a, b = (_value(x, emu) for x in args)
    return _wrap(compound.matmul(emu, a, b), emu, rounded=False)


def _dot_args(a, b, out=None):
    return a, b


def _dot_rule(func: Callable, args: tuple, kwargs: dict, emu: Any) -> Any:
    a, b = _dot_args(*args, **kwargs)
    if np.ndim(a) == 0 or np.ndim(b) == 0:      # numpy: dot with a scalar multiplies
        return apply_ufunc(np.multiply, "__call__", (a, b), {}, emu)
    if np.ndim(a) > 2 or np.ndim(b) > 2:
        raise emu._refuse("numpy.dot of arrays over 2-D", "use np.matmul or np.einsum, which "
                          "say which axes are summed")
    a, b = _value(a, emu), _value(b, emu)
    return _wrap(compound.matmul(emu, a, b, what="numpy.dot"), emu, rounded=False)


def _einsum_rule(func: Callable, args: tuple, kwargs: dict, emu: Any) -> Any:
    optimize = kwargs.pop("optimize", False)
    if kwargs:
        raise emu._refuse(f"numpy.einsum({', '.join(kwargs)}=...)", "only optimize= and out= "
                          "are emulated")
    if not args or not isinstance(args[0], str):
        raise emu._refuse("numpy.einsum in the interleaved (operand, sublist) form",
                          "pass a subscripts string, e.g. np.einsum('ij,jk->ik', a, b)")
    operands = [_value(x, emu) for x in args[1:]]
    return _wrap(compound.contract(emu, args[0], operands, optimize), emu, rounded=False)


def _diff_args(a, n=1, axis=-1, prepend=_NoValue, append=_NoValue):
    return a, n, axis, prepend, append


def _diff_rule(func: Callable, args: tuple, kwargs: dict, emu: Any) -> Any:
    """n rounded subtractions, a[1:] - a[:-1] along axis (prepend/append enter as constants)."""
    a, n, axis, prepend, append = _diff_args(*args, **kwargs)
    data = _value(a, emu)
    axis = compound._normalize_axes(axis, data.ndim)[0]
    parts = []
    for extra in (prepend, append):
        if extra is _NoValue:
            parts.append(None)
            continue
        value = _value(extra, emu)
        if np.ndim(value) == 0:
            shape = list(data.shape)
            shape[axis] = 1
            value = np.broadcast_to(value, shape)
        parts.append(value)
    data = np.concatenate([p for p in (parts[0], data, parts[1]) if p is not None], axis=axis)
    result = EmulatedArray(data, emu)
    head = tuple(slice(1, None) if i == axis else slice(None) for i in range(data.ndim))
    tail = tuple(slice(None, -1) if i == axis else slice(None) for i in range(data.ndim))
    for _ in range(int(n)):
        result = apply_ufunc(np.subtract, "__call__", (result[head], result[tail]), {}, emu)
    return result


def _fourier_rule(kind: str) -> Callable:
    def fourier_args(a, n=None, axis=-1, norm=None, out=None):
        return a, n, axis, norm

    def rule(func: Callable, args: tuple, kwargs: dict, emu: Any) -> Any:
        a, n, axis, norm = fourier_args(*args, **kwargs)
        return _wrap(compound.fourier(emu, kind, _value(a, emu), n, axis, norm), emu,
                     rounded=False)
    return rule


COMPOUND: dict[Callable, Callable] = {
    np.sum: _sum_rule,
    np.mean: _mean_rule,
    np.cumsum: _cumsum_rule,
    np.matmul: _matmul_rule,
    np.dot: _dot_rule,
    np.einsum: _einsum_rule,
    np.diff: _diff_rule,
    np.fft.rfft: _fourier_rule("rfft"),
    np.fft.irfft: _fourier_rule("irfft"),
    np.fft.fft: _fourier_rule("fft"),
    np.fft.ifft: _fourier_rule("ifft"),
}

# --- the dispatch dictionaries both methods read -------------------------------------------------
_ROUND, _MOVE, _COMPOUND = 0, 1, 2
UFUNC_KIND: dict[np.ufunc, int] = {}
FUNCTION_RULES: dict[Callable, Callable] = {}
for _table, _kind in ((ROUND_RESULT, _ROUND), (MOVE_ONLY, _MOVE)):
    for _func, _spec in _table.items():
        if isinstance(_func, np.ufunc):
            UFUNC_KIND[_func] = _kind
        else:
            FUNCTION_RULES[_func] = _table_rule(_func, _spec, rounded=_kind == _ROUND)
for _func, _rule in COMPOUND.items():
    if isinstance(_func, np.ufunc):
        UFUNC_KIND[_func] = _COMPOUND
    FUNCTION_RULES[_func] = _rule
_array._FAST_UFUNCS.update({u: k == _ROUND for u, k in UFUNC_KIND.items()
                            if k in (_ROUND, _MOVE) and u.nin in (1, 2) and u.nout == 1})
_PAD_MOVE = FUNCTION_RULES[np.pad]
FUNCTION_RULES[np.pad] = _pad_rule
FUNCTION_RULES[np.empty_like] = _empty_like_rule


def _store(result: Any, out: Any, what: str, emu: Any) -> Any:
    """Write `result` into the EmulatedArray `out` (out= of ufuncs and functions)."""
    if isinstance(out, tuple):
        if len(out) != 1:
            raise emu._refuse(f"{what} with {len(out)} outputs")
        out = out[0]
    if not _is_emulated(out):
        raise emu._refuse(f"{what}(out=<{type(out).__name__}>)", "out= must be an EmulatedArray "
                          "of the same emulator (a plain array would hold the values outside "
                          "emulation)")
    emu._check_same(out)
    data = result._data if _is_emulated(result) else result
    if np.shape(data) != out.shape:
        raise ValueError(f"{what}: out= has shape {out.shape}, the result {np.shape(data)}")
    out._data[...] = data
    return out


def call_function_rule(rule: Callable, func: Callable, args: tuple, kwargs: dict,
                       emu: Any) -> Any:
    """Run a function's rule, handling out= (an EmulatedArray) the same way for all."""
    out = kwargs.pop("out", None) if "out" in kwargs else None
    result = rule(func, args, kwargs, emu)
    return result if out is None else _store(result, out, qualified_name(func), emu)


# --- ufuncs --------------------------------------------------------------------------------------
_SCALARS = (float, int, complex, np.generic, list, tuple)


def _accepts(x: Any) -> bool:
    return _is_emulated(x) or type(x) is np.ndarray or isinstance(x, _SCALARS)


def apply_ufunc(ufunc: np.ufunc, method: str, inputs: tuple, kwargs: dict, emu: Any) -> Any:
    """The rule for a ufunc call (and its methods): the body of EmulatedArray.__array_ufunc__."""
    for x in inputs:
        if not _accepts(x):
            return NotImplemented               # xarray, dask, pandas: they wrap us
    out = kwargs.pop("out", None)
    if out is not None and not all(_accepts(o) for o in (out if isinstance(out, tuple) else
                                                           (out,))):
        return NotImplemented
    if method != "__call__":
        return _ufunc_method(ufunc, method, inputs, kwargs, out, emu)
    name = ufunc.__name__
    if kwargs:
        raise emu._refuse(f"numpy.{name}({', '.join(kwargs)}=...)",
                          "only out= is emulated among the ufunc keywords")
    kind = UFUNC_KIND.get(ufunc)
    if kind is None:
        raise emu._refuse(f"numpy.{name}", REFUSED.get(ufunc))
    if kind == _COMPOUND:
        result = COMPOUND[ufunc](ufunc, inputs, {}, emu)
    else:
        data = []
        for x in inputs:
            if _is_emulated(x):
                if x._emu is not emu:
                    emu._check_same(x)
                data.append(x._data)
            else:
                data.append(emu._enter(x))
        raw = ufunc(*data)
        if kind == _ROUND:
            if type(raw) is not np.ndarray:
                raw = np.asarray(raw)
            result = _wrap_new(emu._round(raw), emu)
        else:
            result = _wrap(raw, emu, rounded=False)
    return result if out is None else _store(result, out, f"numpy.{name}", emu)


def _wrap_new(data: np.ndarray, emu: Any) -> Any:
    if data.dtype.kind not in "fc":
        raise emu._refuse(f"an emulated operation giving dtype {data.dtype}")
    return EmulatedArray(data, emu)


def _ufunc_method(ufunc: np.ufunc, method: str, inputs: tuple, kwargs: dict, out: Any,
                  emu: Any) -> Any:
    what = f"numpy.{ufunc.__name__}.{method}"
    target = {"reduce": _REDUCE_AS, "accumulate": _ACCUMULATE_AS}.get(method, {}).get(ufunc)
    if target is None:
        raise emu._refuse(what, _METHOD_HINTS.get(method))
    kwargs = dict(kwargs)
    kwargs.setdefault("axis", 0)                # the ufunc methods' default, unlike np.sum's
    if out is not None:
        kwargs["out"] = out
    return call_function_rule(FUNCTION_RULES[target], target, inputs, kwargs, emu)
