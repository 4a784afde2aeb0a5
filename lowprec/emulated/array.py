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
        return rules.apply_ufunc(ufunc, method, inputs, kwargs, self._emu)

    def __array_function__(self, func: Any, types: tuple, args: tuple, kwargs: dict) -> Any:
        for t in types:
            if t is not EmulatedArray and t is not np.ndarray:
                return NotImplemented           # dask, ndarray subclasses...: let them decide
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


# At the end on purpose: the rules wrap their results in EmulatedArray, so rules.py imports this
# module; the class exists by the time it does, whichever of the two is imported first.
from lowprec.emulated import rules  # noqa: E402
