"""EmulatedArray: a float64 ndarray whose every numpy operation is rounded by its emulator.

The two dispatch methods (`__array_ufunc__`, `__array_function__`) read the tables of
`rules.py`; what the tables do not list is refused with a NotEmulatedError naming the function,
never computed in float64 behind the user's back. Leaving emulation is explicit:
`emu.to_float64(x)`; `np.asarray(x)` (`__array__`) refuses, and so do float(x) and int(x).
xarray, dask and pandas operands get NotImplemented, so that those containers wrap us.

Storage is float64 (complex128 for Fourier coefficients); values are exactly representable in
the format that was active when they were computed. Slices are views, as in numpy; assigning
into an array rounds the assigned values on entry (unless they are EmulatedArrays already).
"""
from __future__ import annotations

import copy as _copy
from typing import Any, Iterator

import numpy as np
from numpy.lib.mixins import NDArrayOperatorsMixin

from lowprec.errors import NotEmulatedError

__all__ = ["EmulatedArray"]

# The fast path of the common ufunc call (below). Filled in by rules.py from its tables:
# ufunc -> True when the result is rounded (ROUND_RESULT), False when it only moves values
# (MOVE_ONLY). Compound ufuncs (matmul) are not in it.
_FAST_UFUNCS: dict[np.ufunc, bool] = {}
# Python and numpy scalars that enter as rounded Python floats (`Emulator._scalar`)
_SCALAR_TYPES = frozenset((float, int, np.float64))
_Mixin = NDArrayOperatorsMixin

_LEAVE_HINT = ("use emu.to_float64(x) to leave emulation explicitly (a float64 copy), or keep "
               "the value as an EmulatedArray")


class EmulatedArray(NDArrayOperatorsMixin):
    """An array in emulated arithmetic. Made by `Emulator.asarray`/`const`, not directly.

    data: a float64 or complex128 ndarray, already rounded (it is held, not copied).
    emu: the Emulator whose active format rounds every operation on this array.
    """

    __slots__ = ("_data", "_emu")

    def __init__(self, data: np.ndarray, emu: Any) -> None:
        self._data = data
        self._emu = emu

    # --- the two dispatch methods -------------------------------------------------------------
    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        if method == "__call__" and not kwargs:
            rounded = _FAST_UFUNCS.get(ufunc)
            if rounded is not None:
                if len(inputs) == 2:
                    result = _binary(ufunc, rounded, inputs[0], inputs[1])
                else:
                    result = _unary(ufunc, rounded, inputs[0]) if len(inputs) == 1 else None
                if result is not None:
                    return result
        return rules.apply_ufunc(ufunc, method, inputs, kwargs, self._emu)

    # The arithmetic operators call the fast path directly (numpy's override dispatch, which the
    # NDArrayOperatorsMixin goes through, costs about a microsecond per operation); anything
    # the fast path does not take goes the mixin's way, as before.
    def __add__(self, other: Any) -> Any:
        r = _binary(np.add, True, self, other)
        return _Mixin.__add__(self, other) if r is None else r

    def __radd__(self, other: Any) -> Any:
        r = _binary(np.add, True, other, self)
        return _Mixin.__radd__(self, other) if r is None else r

    def __sub__(self, other: Any) -> Any:
        r = _binary(np.subtract, True, self, other)
        return _Mixin.__sub__(self, other) if r is None else r

    def __rsub__(self, other: Any) -> Any:
        r = _binary(np.subtract, True, other, self)
        return _Mixin.__rsub__(self, other) if r is None else r

    def __mul__(self, other: Any) -> Any:
        r = _binary(np.multiply, True, self, other)
        return _Mixin.__mul__(self, other) if r is None else r

    def __rmul__(self, other: Any) -> Any:
        r = _binary(np.multiply, True, other, self)
        return _Mixin.__rmul__(self, other) if r is None else r

    def __truediv__(self, other: Any) -> Any:
        r = _binary(np.divide, True, self, other)
        return _Mixin.__truediv__(self, other) if r is None else r

    def __rtruediv__(self, other: Any) -> Any:
        r = _binary(np.divide, True, other, self)
        return _Mixin.__rtruediv__(self, other) if r is None else r

    def __neg__(self) -> Any:
        neg = -self._data                             # exact: nothing to round
        return EmulatedArray(neg if type(neg) is np.ndarray else np.asarray(neg), self._emu)

    def __array_function__(self, func: Any, types: tuple, args: tuple, kwargs: dict) -> Any:
        for t in types:
            if t is not EmulatedArray and t is not np.ndarray:
                return NotImplemented           # dask, ndarray subclasses...: let them decide
        if func is np.concatenate:              # the models' neighbour shifts: kept cheap
            result = _concatenate(args, kwargs, self._emu)
            if result is not None:
                return result
        rule = rules.FUNCTION_RULES.get(func)
        if rule is None:
            raise self._emu._refuse(rules.qualified_name(func), rules.REFUSED.get(func))
        return rules.call_function_rule(rule, func, args, kwargs, self._emu)

    # --- refusing to leave silently ------------------------------------------------------------
    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        raise NotEmulatedError(
            f"np.asarray()/np.array() of an EmulatedArray would give unrounded float64 arithmetic "
            f"from here on (inside {self._emu._active.describe()}); {_LEAVE_HINT}")

    def _refuse_scalar(self, kind: str) -> NotEmulatedError:
        return NotEmulatedError(f"{kind}() of an EmulatedArray would continue in Python float64 "
                                f"arithmetic; {_LEAVE_HINT}")

    def __float__(self) -> float:
        raise self._refuse_scalar("float")

    def __int__(self) -> int:
        raise self._refuse_scalar("int")

    def __complex__(self) -> complex:
        raise self._refuse_scalar("complex")

    def __index__(self) -> int:
        raise self._refuse_scalar("operator.index")

    def __bool__(self) -> bool:
        return bool(self._data)                 # a truth value computes nothing

    # --- ndarray-like attributes ---------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return self._data.shape

    @property
    def ndim(self) -> int:
        return self._data.ndim

    @property
    def size(self) -> int:
        return self._data.size

    @property
    def dtype(self) -> np.dtype:
        return self._data.dtype

    @property
    def emulator(self) -> Any:
        """The Emulator that rounds this array's operations."""
        return self._emu

    @property
    def T(self) -> EmulatedArray:
        return EmulatedArray(self._data.T, self._emu)

    @property
    def real(self) -> EmulatedArray:
        return EmulatedArray(self._data.real, self._emu)

    @property
    def imag(self) -> EmulatedArray:
        return EmulatedArray(self._data.imag, self._emu)

    def __len__(self) -> int:
        return len(self._data)

    def __iter__(self) -> Iterator[EmulatedArray]:
        for i in range(len(self._data)):
            yield self[i]

    def __getitem__(self, key: Any) -> EmulatedArray:
        if isinstance(key, EmulatedArray):
            key = key._data                     # numpy refuses float indices itself
        out = self._data[key]
        if type(out) is not np.ndarray:
            out = np.asarray(out)               # a scalar element: a 0-d array, still emulated
        return EmulatedArray(out, self._emu)

    def __setitem__(self, key: Any, value: Any) -> None:
        if isinstance(key, EmulatedArray):
            key = key._data
        if isinstance(value, EmulatedArray):
            self._emu._check_same(value)
            self._data[key] = value._data
        else:
            self._data[key] = self._emu._enter(value)

    def __repr__(self) -> str:
        body = np.array2string(self._data, separator=", ", prefix="EmulatedArray(")
        return f"EmulatedArray({body}, {self._emu!r})"

    def __str__(self) -> str:
        return str(self._data)

    def __format__(self, spec: str) -> str:
        return format(self._data if self._data.ndim else self._data[()], spec)

    def __copy__(self) -> EmulatedArray:
        return EmulatedArray(self._data.copy(), self._emu)

    def __deepcopy__(self, memo: dict) -> EmulatedArray:
        # a deep copy of a whole model maps the emulator to its copy; an array alone keeps it
        emu = memo.get(id(self._emu), self._emu)
        return EmulatedArray(_copy.deepcopy(self._data, memo), emu)

    def __reduce__(self) -> tuple:
        return (EmulatedArray, (self._data, self._emu))

    # --- methods, through the same tables as the numpy functions --------------------------------
    def copy(self) -> EmulatedArray:
        return EmulatedArray(self._data.copy(), self._emu)

    def astype(self, dtype: Any, copy: bool = True) -> EmulatedArray:
        dtype = np.dtype(dtype)
        if dtype not in (np.float64, np.complex128) or (dtype == np.float64 and
                                                         self._data.dtype == np.complex128):
            raise NotEmulatedError(f"astype({dtype}) would leave emulation (emulated arrays are "
                                   f"float64 or complex128); {_LEAVE_HINT}")
        return EmulatedArray(self._data.astype(dtype, copy=copy), self._emu)

    def reshape(self, *shape: Any, order: str = "C") -> EmulatedArray:
        if len(shape) == 1 and not isinstance(shape[0], int):
            shape = shape[0]
        return EmulatedArray(self._data.reshape(shape, order=order), self._emu)

    def ravel(self, order: str = "C") -> EmulatedArray:
        return EmulatedArray(self._data.ravel(order=order), self._emu)

    def flatten(self, order: str = "C") -> EmulatedArray:
        return EmulatedArray(self._data.flatten(order=order), self._emu)

    def transpose(self, *axes: Any) -> EmulatedArray:
        return EmulatedArray(self._data.transpose(*axes), self._emu)

    def swapaxes(self, axis1: int, axis2: int) -> EmulatedArray:
        return EmulatedArray(self._data.swapaxes(axis1, axis2), self._emu)

    def squeeze(self, axis: Any = None) -> EmulatedArray:
        return EmulatedArray(self._data.squeeze(axis), self._emu)

    def conj(self) -> EmulatedArray:
        return np.conjugate(self)

    conjugate = conj

    def sum(self, axis: Any = None, keepdims: bool = False) -> EmulatedArray:
        return np.sum(self, axis=axis, keepdims=keepdims)

    def mean(self, axis: Any = None, keepdims: bool = False) -> EmulatedArray:
        return np.mean(self, axis=axis, keepdims=keepdims)

    def cumsum(self, axis: Any = None) -> EmulatedArray:
        return np.cumsum(self, axis=axis)

    def max(self, axis: Any = None, keepdims: bool = False) -> EmulatedArray:
        return np.max(self, axis=axis, keepdims=keepdims)

    def min(self, axis: Any = None, keepdims: bool = False) -> EmulatedArray:
        return np.min(self, axis=axis, keepdims=keepdims)

    def argmax(self, axis: Any = None) -> Any:
        return self._data.argmax(axis)

    def argmin(self, axis: Any = None) -> Any:
        return self._data.argmin(axis)

    def any(self, axis: Any = None) -> Any:
        return self._data.any(axis)

    def all(self, axis: Any = None) -> Any:
        return self._data.all(axis)

    def dot(self, other: Any) -> EmulatedArray:
        return np.dot(self, other)

    def clip(self, min: Any = None, max: Any = None) -> EmulatedArray:
        return np.clip(self, min, max)


def _binary(ufunc: np.ufunc, rounded: bool, a: Any, b: Any) -> EmulatedArray | None:
    """The common ufunc call, or None for the general path (`rules.apply_ufunc`): operands that
    are EmulatedArrays of one emulator or Python/numpy float scalars (entering as rounded
    constants, left to right, then the result: the same counter values as the general path)."""
    if type(a) is EmulatedArray:
        emu = a._emu
        if type(b) is EmulatedArray:
            if b._emu is not emu:
                return None
            raw = ufunc(a._data, b._data)
        elif type(b) in _SCALAR_TYPES:
            raw = ufunc(a._data, emu._scalar(b))
        else:
            return None
    elif type(b) is EmulatedArray and type(a) in _SCALAR_TYPES:
        emu = b._emu
        raw = ufunc(emu._scalar(a), b._data)
    else:
        return None
    if rounded:
        return emu._round_new(raw)
    return rules._wrap(raw, emu, rounded=False)


def _unary(ufunc: np.ufunc, rounded: bool, a: Any) -> EmulatedArray | None:
    """`_binary` for one operand."""
    if type(a) is not EmulatedArray:
        return None
    raw = ufunc(a._data)
    if rounded:
        return a._emu._round_new(raw)
    return rules._wrap(raw, a._emu, rounded=False)


def _concatenate(args: tuple, kwargs: dict, emu: Any) -> EmulatedArray | None:
    """np.concatenate(arrays[, axis]) of EmulatedArrays of one emulator (nothing to round or
    enter), or None for the general path (constants, out=, dtype=, ...)."""
    if len(args) == 2 and not kwargs:
        arrays, axis = args
    elif len(args) == 1 and (not kwargs or (len(kwargs) == 1 and "axis" in kwargs)):
        arrays, axis = args[0], kwargs.get("axis", 0)
    else:
        return None
    if type(arrays) is not tuple and type(arrays) is not list:
        return None
    data = []
    for a in arrays:
        if type(a) is not EmulatedArray or a._emu is not emu:
            return None
        data.append(a._data)
    return EmulatedArray(np.concatenate(data, axis=axis), emu)


# At the end on purpose: the rules wrap their results in EmulatedArray, so rules.py imports this
# module; the class exists by the time it does, whichever of the two is imported first.
from lowprec.emulated import rules  # noqa: E402
