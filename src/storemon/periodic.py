"""A task run now and then every interval in a daemon thread, until stopped: the inbox
watcher and the prune schedule of ``storemon serve``."""

from __future__ import annotations

import logging
import threading

__all__ = ["Periodic"]


class Periodic:
    """Runs :meth:`run_once` at :meth:`start`, then every ``interval_seconds``, in a daemon
    thread named ``name``, until :meth:`stop`. A failing run is logged to ``logger``
    (``failure``: what failed) and the next one still comes; ``runs`` counts the runs
    done, failed or not."""

    def __init__(self, interval_seconds: float, name: str, logger: logging.Logger) -> None:
        if interval_seconds <= 0:
            raise ValueError("interval_seconds must be positive")
        self.interval_seconds = interval_seconds
        self.runs = 0  # completed runs, for tests and status pages
        self.stopping = threading.Event()  # set by stop(); a long run may check it
        self._name = name
        self._log = logger
        self._thread: threading.Thread | None = None

    def run_once(self) -> None:
        """One run of the task."""
        raise NotImplementedError

    def failure(self) -> str:
        """What a failed run failed at, for the log."""
        return f"{self._name} failed"

    def start(self) -> None:
        """Run now, then every interval."""
        if self._thread is not None:
            raise RuntimeError(f"{self._name} is already started")
        self.stopping.clear()
        self._thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Ask the thread to stop and wait for it (a run in progress finishes first)."""
        self.stopping.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)

    def _loop(self) -> None:
        while not self.stopping.is_set():
            try:
                self.run_once()
            except Exception:  # keep going: one failed run must not end the thread
                self._log.exception("%s", self.failure())
            self.runs += 1
            self.stopping.wait(self.interval_seconds)
