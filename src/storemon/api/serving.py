"""The HTTP server's own limits: slow or idle clients cannot pin its sockets.

uvicorn closes a kept-alive connection that stays idle, but a client that opens
a connection and trickles its headers (or sends nothing, or stalls mid-body) is
held forever, and enough of them exhaust the file descriptors. The protocol here
(uvicorn's h11 protocol with three additions) bounds that:

- **header timeout**: a request's line and headers must arrive within
  ``http_header_timeout_seconds`` of the connection's start (or of the first
  byte of the next request on a kept-alive connection); else 408 and close;
- **body timeout**: a request body may pause at most ``http_body_timeout_seconds``
  between two pieces; else the connection is closed (the app sees a disconnect);
- **connection limit**: beyond ``http_max_connections`` open connections a new
  one is answered 503 and closed at once, so the server's descriptors stay well
  inside its limit (raised at start-up as far as the system allows).

Each kind of closing is logged at most once every :data:`LOG_EVERY_SECONDS`, with
a count, so a flood of such clients cannot flood the log either.
"""

from __future__ import annotations

import asyncio
import json
import logging
import resource
import time
from dataclasses import dataclass
from typing import Any, ClassVar, Final

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from storemon.config import Settings

__all__ = [
    "FD_RESERVE",
    "LOG_EVERY_SECONDS",
    "ConnectionLimits",
    "limited_protocol",
    "raise_fd_limit",
    "uvicorn_config",
]

log = logging.getLogger(__name__)

#: Descriptors kept free beside the connections (database, worker pipes, files, logs).
FD_RESERVE: Final = 256
LOG_EVERY_SECONDS: Final = 10.0


@dataclass(frozen=True)
class ConnectionLimits:
    """The bounds one server applies to every connection."""

    header_timeout_seconds: float
    body_timeout_seconds: float
    max_connections: int

    @classmethod
    def from_settings(cls, settings: Settings) -> ConnectionLimits:
        return cls(
            header_timeout_seconds=settings.http_header_timeout_seconds,
            body_timeout_seconds=settings.http_body_timeout_seconds,
            max_connections=settings.http_max_connections,
        )


class _CountedLog:
    """Log one line per kind of event at most every LOG_EVERY_SECONDS, with a count."""

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}
        self._logged_at: dict[str, float] = {}

    def event(self, message: str) -> None:
        # Called on the event loop only: no lock needed.
        self._counts[message] = self._counts.get(message, 0) + 1
        now = time.monotonic()
        if now - self._logged_at.get(message, -LOG_EVERY_SECONDS) >= LOG_EVERY_SECONDS:
            count, self._counts[message] = self._counts[message], 0
            self._logged_at[message] = now
            log.warning("%s: %d since the previous such line", message, count)


def _raw_response(status: int, reason: str, message: str, code: str) -> bytes:
    """A complete HTTP/1.1 answer in the API's error shape, with ``Connection: close``."""
    body = json.dumps({"error": message, "code": code, "details": []}).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n"
    )
    if status == 503:
        head += "retry-after: 1\r\n"
    return head.encode() + b"\r\n" + body


class _LimitedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a header timeout, a body timeout and a connection cap."""

    limits: ClassVar[ConnectionLimits]
    events: ClassVar[_CountedLog]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        limits = self.limits
        if len(self.connections) > limits.max_connections:
            self.events.event(
                f"refused connections beyond {limits.max_connections} open ones "
                "(STOREMON_HTTP_MAX_CONNECTIONS)"
            )
            self.transport.write(
                _raw_response(
                    503,
                    "Service Unavailable",
                    f"the server holds {limits.max_connections} connections, its limit; "
                    "try again in a second",
                    "too_many_connections",
                )
            )
            self.transport.close()
            return
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.transport.is_closing():
            self._cancel_timers()
            return
        state = self.conn.their_state
        if state is h11.IDLE:  # part of a request head: the clock runs from its first byte
            if self._header_timer is None:
                self._arm_header_timer()
        else:
            self._cancel_header_timer()
        if state is h11.SEND_BODY:  # every piece of the body restarts the body clock
            self._cancel_body_timer()
            self._body_timer = self.loop.call_later(
                self.limits.body_timeout_seconds, self._on_body_timeout
            )
        else:
            self._cancel_body_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._cancel_body_timer()

    # -- timers ------------------------------------------------------------------------
    def _arm_header_timer(self) -> None:
        self._cancel_header_timer()
        self._header_timer = self.loop.call_later(
            self.limits.header_timeout_seconds, self._on_header_timeout
        )

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _cancel_body_timer(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _cancel_timers(self) -> None:
        self._cancel_header_timer()
        self._cancel_body_timer()

    def _on_header_timeout(self) -> None:
        self._header_timer = None
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        seconds = self.limits.header_timeout_seconds
        self.events.event(
            f"closed connections that sent no complete request head within {seconds:g} s "
            "(STOREMON_HTTP_HEADER_TIMEOUT_SECONDS)"
        )
        if self.conn.our_state is h11.IDLE:  # nothing of an answer was sent on it yet
            self.transport.write(
                _raw_response(
                    408,
                    "Request Timeout",
                    f"the request line and headers did not arrive within {seconds:g} s",
                    "request_timeout",
                )
            )
        self.transport.close()

    def _on_body_timeout(self) -> None:
        self._body_timer = None
        if self.transport.is_closing() or self.conn.their_state is not h11.SEND_BODY:
            return
        if self.flow.read_paused:  # the app has not taken what arrived: not the client's pause
            self._body_timer = self.loop.call_later(
                self.limits.body_timeout_seconds, self._on_body_timeout
            )
            return
        self.events.event(
            "closed connections whose request body paused longer than "
            f"{self.limits.body_timeout_seconds:g} s (STOREMON_HTTP_BODY_TIMEOUT_SECONDS)"
        )
        self.transport.close()


def limited_protocol(limits: ConnectionLimits) -> type[asyncio.Protocol]:
    """The protocol class to give uvicorn (``Config(http=...)``) for these limits."""
    return type(
        "StoremonH11Protocol",
        (_LimitedH11Protocol,),
        {"limits": limits, "events": _CountedLog()},
    )


def raise_fd_limit(limits: ConnectionLimits) -> ConnectionLimits:
    """Raise this process's descriptor limit to fit the connections (up to the hard
    limit); if even that is too low, fewer connections (said in the log)."""
    needed = limits.max_connections + FD_RESERVE
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as error:
            log.warning("could not raise the open-file limit to %d: %s", target, error)
    if soft != resource.RLIM_INFINITY and soft < needed:
        fitted = max(1, soft - FD_RESERVE)
        log.warning(
            "the open-file limit is %d: serving at most %d connections, not %d "
            "(raise `ulimit -n`, or lower STOREMON_HTTP_MAX_CONNECTIONS)",
            soft,
            fitted,
            limits.max_connections,
        )
        return ConnectionLimits(
            header_timeout_seconds=limits.header_timeout_seconds,
            body_timeout_seconds=limits.body_timeout_seconds,
            max_connections=fitted,
        )
    return limits


def uvicorn_config(
    app: Any, settings: Settings, *, log_level: str = "info", access_log: bool = True
) -> uvicorn.Config:
    """The uvicorn configuration of `storemon serve`: address, limits and timeouts."""
    limits = raise_fd_limit(ConnectionLimits.from_settings(settings))
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        http=limited_protocol(limits),
        timeout_keep_alive=settings.http_keep_alive_seconds,
        log_level=log_level,
        log_config=None,  # uvicorn's records go through storemon.logs' handler
        access_log=access_log,
        lifespan="on",
    )
