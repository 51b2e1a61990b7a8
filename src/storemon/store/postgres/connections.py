"""The connections of one PostgreSQL store: a psycopg_pool pool, and the one place
where psycopg errors become :class:`StoreError`.

- At most :data:`POOL_SIZE` connections are open at once per store (psycopg_pool's
  ``max_size``); a caller waits for a free one, first come first served (the pool
  hands a returned connection to the oldest waiter), up to
  :data:`POOL_WAIT_SECONDS`, then a StoreError says all are busy.
- Connections are autocommit sessions with ``TimeZone=UTC``; writes use explicit
  transactions. One returned broken or inside a transaction is closed or rolled
  back by the pool, and replaced.
- An idempotent read (:meth:`Connections.read`) that finds its connection lost is
  tried once more on a fresh one; writes are not retried.
- The pool connects in its own threads, so a failure to connect does not reach a
  waiting caller by itself: the pool records the last attempt's failure, and a
  caller waiting while the server refuses connections gets a StoreError with that
  reason within about :data:`DOWN_CHECK_SECONDS`, instead of waiting for a
  connection that will not come.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Final, TypeVar

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from storemon.errors import StoreError

__all__ = [
    "DOWN_CHECK_SECONDS",
    "POOL_SIZE",
    "POOL_WAIT_SECONDS",
    "Connections",
    "about_the_connection",
    "configure",
]

_Conn = psycopg.Connection[Any]
T = TypeVar("T")

log = logging.getLogger("storemon.store.postgres")

POOL_SIZE: Final = 4  # at most this many connections open at once per store
POOL_WAIT_SECONDS: Final = 60.0  # how long a caller waits for a busy pool
DOWN_CHECK_SECONDS: Final = 0.25  # how often a waiting caller looks at the last connect
_RECONNECT_SECONDS: Final = 5.0  # the pool's retries of one failed connect, then it gives up
_CONNECT_TIMEOUT_SECONDS: Final = 10


def configure(conn: _Conn) -> None:
    """Set up a new session: UTC; no JIT (its compile time exceeds its gain on these
    queries); sorts and hashes of a report's inputs fit in memory. Closes ``conn``
    if that fails."""
    try:
        conn.execute("SET TimeZone = 'UTC'")
        conn.execute("SET jit = off")
        conn.execute("SET work_mem = '64MB'")
    except BaseException:
        conn.close()
        raise


def about_the_connection(error: psycopg.Error) -> bool:
    """Whether ``error`` is about reaching the server (then the URL is worth checking).

    psycopg raises ``OperationalError`` for those, but also for limits the server
    answered with (an index entry too large, out of memory), which say nothing about
    the URL: only client-side failures (no SQLSTATE), connection exceptions (08),
    refused logins (28) and server shutdowns (57P) count.
    """
    if not isinstance(error, psycopg.OperationalError):
        return False
    state = error.sqlstate
    return state is None or state.startswith(("08", "28", "57P"))


class _Pool(ConnectionPool[_Conn]):
    """psycopg_pool's pool, remembering whether its last attempt to connect failed."""

    def __init__(self, conninfo: str) -> None:
        self._failure: BaseException | None = None
        self._failure_lock = threading.Lock()
        super().__init__(
            conninfo,
            min_size=0,
            max_size=POOL_SIZE,
            kwargs={"autocommit": True, "connect_timeout": _CONNECT_TIMEOUT_SECONDS},
            configure=configure,
            reconnect_timeout=_RECONNECT_SECONDS,
            timeout=POOL_WAIT_SECONDS,
            name="storemon",
            num_workers=2,
            open=True,
        )

    def _connect(self, timeout: float | None = None) -> _Conn:
        try:
            conn = super()._connect(timeout)
        except Exception as error:
            with self._failure_lock:
                self._failure = error
            raise
        with self._failure_lock:
            self._failure = None
        return conn

    def failure(self) -> BaseException | None:
        """Why the last attempt to connect failed, or None if it succeeded."""
        with self._failure_lock:
            return self._failure


class Connections:
    """The pooled connections of one store, with errors translated.

    ``display`` is the URL without its password, for messages; the ``public`` text
    of every StoreError raised here names no URL, user, host or database.
    """

    def __init__(self, conninfo: str, display: str) -> None:
        self._display = display
        self._pool = _Pool(conninfo)
        self._closed = False

    # -- counts, for tests and status pages ------------------------------------------
    def open_connections(self) -> int:
        """Connections open now (in use, idle, or being opened); 0 once closed (the
        pool closes its idle connections then, and the others as they come back)."""
        if self._pool.closed:
            return 0
        return int(self._pool.get_stats()["pool_size"])

    def waiting(self) -> int:
        """Callers waiting for a connection now."""
        return int(self._pool.get_stats().get("requests_waiting", 0))

    # -- errors ------------------------------------------------------------------------
    @contextmanager
    def errors(self, doing: str) -> Iterator[None]:
        """The one place where psycopg exceptions become :class:`StoreError`."""
        try:
            yield
        except psycopg.Error as error:
            raise self.translate(doing, error) from error

    def translate(self, doing: str, error: BaseException) -> StoreError:
        """The StoreError for ``error`` met while ``doing``."""
        detail = str(error).strip()
        if isinstance(error, psycopg.Error) and about_the_connection(error):
            return StoreError(
                f"cannot {doing} with PostgreSQL at {self._display}: {detail} (is the "
                "server running and the URL in --db / STOREMON_DB right?)",
                public=f"cannot {doing}: the PostgreSQL server cannot be reached "
                "(see the server log)",
            )
        return StoreError(
            f"PostgreSQL failed to {doing}: {detail}",
            public=f"PostgreSQL failed to {doing} (see the server log)",
        )

    # -- connections -------------------------------------------------------------------
    @contextmanager
    def connection(self, doing: str) -> Iterator[_Conn]:
        """A pooled connection, returned to the pool afterwards (whatever happens)."""
        if self._closed:
            raise StoreError(f"the store {self._display} is closed", public="the store is closed")
        conn = self._take(doing)
        try:
            yield conn
        finally:
            self._pool.putconn(conn)

    def _take(self, doing: str) -> _Conn:
        # Waits in short turns so that a pool that cannot connect is noticed; a turn
        # that ends puts the caller at the back of the queue, which matters only when
        # no connection came back for a whole turn (then nobody else got one either).
        deadline = time.monotonic() + POOL_WAIT_SECONDS
        while True:
            turn = min(DOWN_CHECK_SECONDS, max(deadline - time.monotonic(), 0.001))
            try:
                return self._pool.getconn(timeout=turn)
            except PoolTimeout:
                failure = self._pool.failure()
                if failure is not None:
                    raise self.translate(doing, failure) from failure
                if time.monotonic() >= deadline:
                    raise StoreError(
                        f"cannot {doing}: all {POOL_SIZE} PostgreSQL connections of this "
                        f"process stayed busy for {POOL_WAIT_SECONDS:g} s (a long ingest or "
                        "report holds them; retry later)"
                    ) from None

    @contextmanager
    def session(self, doing: str) -> Iterator[_Conn]:
        """A pooled autocommit connection, errors translated."""
        with self.errors(doing), self.connection(doing) as conn:
            yield conn

    @contextmanager
    def transaction(self, doing: str) -> Iterator[_Conn]:
        """A pooled connection inside one transaction (rolled back on any error)."""
        with self.session(doing) as conn, conn.transaction():
            yield conn

    def read(self, doing: str, body: Callable[[_Conn], T]) -> T:
        """``body(conn)`` on a pooled connection: an idempotent read.

        When the connection turns out to be lost (the server restarted, or dropped
        idle connections: every pooled one is then stale), the pool is drained and the
        read is tried once more on a fresh connection, instead of failing the request.
        """
        try:
            with self.session(doing) as conn:
                return body(conn)
        except StoreError as error:
            cause = error.__cause__
            if not (isinstance(cause, psycopg.Error) and about_the_connection(cause)):
                raise
            log.info("PostgreSQL connection lost (%s); trying once more on a new one", cause)
        self._pool.drain()  # the other pooled connections are as stale: new ones
        with self.session(doing) as conn:
            return body(conn)

    def close(self) -> None:
        """Close every connection. Idempotent."""
        self._closed = True
        self._pool.close()
