"""A deadline for one whole send, not for each socket operation.

A socket timeout bounds one ``recv`` or ``send``: a receiver that answers one byte every two
seconds never trips a 10-second timeout and can hold a send for ever. ``SendDeadline`` bounds the
send in wall time: the per-operation timeout of a new connection is what is left of the deadline,
and when the time is up a timer thread shuts down every socket the send registered, so a blocked
read or write returns at once and the channel raises ``DeliveryFailure``.

The delivery loop (``engine.notices.delivery``) keeps its own watch on top of this one, for what
no socket shutdown can interrupt (a name lookup, a channel that forgot to register its socket).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from types import TracebackType

from engine.channels.base import DeliveryFailure

_RECHECK = 0.2
"""Seconds between shutdowns of late sockets once the deadline has passed."""

_SLACK = 0.05
"""Seconds before the end at which a failing send counts as out of time (its socket timeout,
set to the time left, may trip a moment before the timer does)."""

SocketGetter = Callable[[], "socket.socket | None"]


class SendDeadline:
    """The wall-time budget of one send; ``with SendDeadline(10) as d: ...``."""

    def __init__(self, seconds: float, what: str) -> None:
        self.seconds = seconds
        self.what = what
        self._ends = time.monotonic() + seconds
        self._getters: list[SocketGetter] = []
        self._lock = threading.Lock()
        self._expired = False
        self._done = False
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> SendDeadline:
        self._timer.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        with self._lock:
            self._done = True
            timer = self._timer
        timer.cancel()

    @property
    def expired(self) -> bool:
        """Whether the time ran out (a socket timeout that tripped just before the timer counts)."""
        return self._expired or time.monotonic() >= self._ends - _SLACK

    def remaining(self) -> float:
        """Seconds left, for a new socket's per-operation timeout; raises when none are left."""
        left = self._ends - time.monotonic()
        if left <= 0 or self._expired:
            raise self.failure()
        return left

    def watch(self, getter: SocketGetter) -> None:
        """Shut down the socket ``getter`` returns (read when the time runs out) at the deadline."""
        with self._lock:
            self._getters.append(getter)
            expired = self._expired
        if expired:
            _shut(getter)

    def failure(self) -> DeliveryFailure:
        """The temporary failure of a send that did not finish in time."""
        return DeliveryFailure(f"{self.what} did not finish within {self.seconds:g} s; abandoned")

    def check(self) -> None:
        """Raise the deadline's failure when the time ran out (the watched sockets were shut)."""
        if self._expired:
            raise self.failure()

    def cut(self) -> None:
        """End the send now, as if its time had run out (the channel is being closed under it)."""
        self._timer.cancel()
        self._expire()

    def _expire(self) -> None:
        with self._lock:
            if self._done:
                return
            self._expired = True
            getters = list(self._getters)
            # A socket the client opens after this moment (its connect was under way) is shut
            # on the next round, until the send gives up and leaves the ``with`` block.
            self._timer = threading.Timer(_RECHECK, self._expire)
            self._timer.daemon = True
            self._timer.start()
        for getter in getters:
            _shut(getter)


def _shut(getter: SocketGetter) -> None:
    try:
        sock = getter()
    except Exception:  # noqa: BLE001 - a half-built client may not have its socket yet
        return
    if sock is None:
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


class InFlight:
    """The sends under way on a channel, so that closing the channel can cut them.

    Delivery abandons a send that outlives its deadline, or every send when it is told to stop,
    and then closes the channels while the abandoned send may still run on its thread: the close
    must cut that send's sockets, never talk over them from a second thread.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sends: set[SendDeadline] = set()

    def begin(self, deadline: SendDeadline) -> None:
        """Record a send under way."""
        with self._lock:
            self._sends.add(deadline)

    def end(self, deadline: SendDeadline) -> None:
        """Record that a send has ended."""
        with self._lock:
            self._sends.discard(deadline)

    def cut_all(self) -> bool:
        """Cut every send under way; True when there was one."""
        with self._lock:
            sends = list(self._sends)
        for deadline in sends:
            deadline.cut()
        return bool(sends)
