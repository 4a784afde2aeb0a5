"""Ctrl-C and SIGTERM during a run: stop at once, except during file I/O, which they wait for.

The hang this prevents: a KeyboardInterrupt raised inside a netCDF write leaves xarray's (or
HDF5's) lock held, and the checkpoint written on the way out then waits on that lock forever.
So while a run is in progress (:class:`StopSignals`, main thread only), SIGINT and SIGTERM
raise at once where nothing is being written (model steps, spin-up, numba compiling), and are
held back inside :meth:`StopSignals.io` blocks (reads and writes of run files, recording an
output), raised as soon as the block ends. The run then saves what is complete and re-raises:
:class:`Interrupted` (a KeyboardInterrupt) for SIGINT, :class:`Terminated` (a SystemExit, status
143) for SIGTERM; their ``saved`` text says what was kept.
"""
from __future__ import annotations

import signal
import threading
from typing import Any


class Interrupted(KeyboardInterrupt):
    """Ctrl-C (SIGINT) stopped a run; ``saved`` says what was kept (set by the run)."""

    signal_name = "SIGINT"
    exit_status = 128 + signal.SIGINT

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.saved = ""


class Terminated(SystemExit):
    """SIGTERM arrived during a run (batch walltime, ``kill``): raised in the main thread.

    What is complete is saved on the way out (as for Ctrl-C); uncaught, the process exits with
    status 128 + 15 = 143, the shell's convention for death by SIGTERM.
    """

    signal_name = "SIGTERM"
    exit_status = 128 + signal.SIGTERM

    def __init__(self, code: int = 128 + signal.SIGTERM) -> None:
        super().__init__(code)
        self.saved = ""


STOPS = (Interrupted, Terminated)


class StopSignals:
    """While entered (main thread only): SIGINT raises Interrupted, SIGTERM Terminated.

    Inside ``with stops.io():`` a signal is held back and raised when the block ends (once; a
    second signal meanwhile changes nothing). Elsewhere it raises at once. Signals being
    ignored (SIG_IGN) stay ignored; previous handlers are restored on exit.
    """

    def __init__(self) -> None:
        self._depth = 0                 # nesting of io() blocks
        self._pending: BaseException | None = None
        self._previous: dict[int, Any] = {}
        self.active = False

    def __enter__(self) -> "StopSignals":
        if threading.current_thread() is not threading.main_thread():
            return self
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous = signal.getsignal(signum)
            if previous is signal.SIG_IGN:
                continue
            self._previous[signum] = previous
            signal.signal(signum, self._handle)
        self.active = bool(self._previous)
        return self

    def __exit__(self, *exc: Any) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, signal.SIG_DFL if previous is None else previous)
        self._previous.clear()
        self.active = False

    def _handle(self, signum: int, frame: Any) -> None:
        stop = Interrupted() if signum == signal.SIGINT else Terminated()
        # kept pending even when raised at once: a signal can land in a finaliser (numba's
        # compiler disposes of LLVM objects in __del__), where Python prints the exception and
        # drops it; the run's next check (raise_pending) raises it again. A run that catches the
        # stop discards it (discard_pending) before saving.
        if self._pending is None:
            self._pending = stop
        if self._depth:
            return
        raise stop

    def io(self) -> "_HeldBack":
        """A block in which signals wait (file I/O); they are raised when it ends."""
        return _HeldBack(self)

    def raise_pending(self) -> None:
        """Raise a signal held back (by an io() block that has ended, or dropped where it was
        raised), if any."""
        if self._depth == 0 and self._pending is not None:
            stop, self._pending = self._pending, None
            raise stop

    def discard_pending(self) -> None:
        """Forget a signal held back (the run is stopping anyway)."""
        self._pending = None


class _HeldBack:
    __slots__ = ("_stops",)

    def __init__(self, stops: StopSignals) -> None:
        self._stops = stops

    def __enter__(self) -> None:
        self._stops._depth += 1

    def __exit__(self, exc_type: Any, *exc: Any) -> None:
        self._stops._depth -= 1
        if exc_type is None:
            self._stops.raise_pending()
