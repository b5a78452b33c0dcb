"""Watch one udev subsystem and call back, debounced, whenever something in it changes.

Shared by the disk list (block) and the recovery-mode detector (usb). Why three sources at once:
- udev's netlink group carries events after udev's rules ran (labels, ids known) -- but only while a
  udev daemon runs;
- the kernel's group carries the raw events -- also where no udev daemon runs (containers, minimal
  hosts), and is readable by unprivileged users;
- a cheap sysfs fingerprint, polled, catches what neither delivers (a network namespace that gets no
  uevents, readers that change media without an event).
Events come in bursts (a card brings its partitions along, both groups repeat each event), so the
callback runs once the burst has settled, well within a second of the change.
"""

from __future__ import annotations

import logging
import os
import selectors
import threading
import time
from typing import Callable, Hashable

log = logging.getLogger(__name__)


class _Run:
    """One start()..stop() of a watcher: its thread, monitors, stop flag and wake-up pipe. Kept apart
    so that a restart never shares a pipe or flag with a thread that is still winding down."""

    def __init__(self, monitors: list):
        self.monitors = monitors
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None
        self.wake_r, self.wake_w = os.pipe()
        self._lock = threading.Lock()

    def wake(self) -> None:
        with self._lock:  # never write to a closed (and maybe recycled) fd number
            if self.wake_w >= 0:
                try:
                    os.write(self.wake_w, b"x")
                except OSError:
                    pass

    def close(self) -> None:
        with self._lock:
            for fd in (self.wake_r, self.wake_w):
                try:
                    os.close(fd)
                except OSError:
                    pass
            self.wake_r = self.wake_w = -1
        self.monitors = []  # pyudev closes the sockets when they are collected


class SubsystemWatcher:
    """Calls `on_change()` from a background thread: once right after start, then after each change."""

    def __init__(self, subsystem: str, on_change: Callable[[], None], context=None,
                 fingerprint: Callable[[], Hashable] | None = None, settle: float = 0.1,
                 poll_interval: float | None = 0.5, on_error: Callable[[BaseException], None] | None = None,
                 name: str = "udev-watch"):
        self.subsystem = subsystem
        self.on_change = on_change
        self.context = context
        self.fingerprint = fingerprint
        self.settle = settle
        self.poll_interval = poll_interval if fingerprint is not None else None
        self.on_error = on_error
        self.name = name
        self._run_state: _Run | None = None

    # -- life cycle ------------------------------------------------------------------------------
    def start(self) -> None:
        if self._run_state is not None:
            return
        import pyudev

        ctx = self.context or pyudev.Context()
        monitors = []
        for source in ("udev", "kernel"):
            try:
                mon = pyudev.Monitor.from_netlink(ctx, source=source)
                mon.filter_by(self.subsystem)
                mon.start()
                monitors.append(mon)
            except Exception as e:  # no netlink here (sandbox): the sysfs poll still works
                log.debug("no %s monitor for %s: %s", source, self.subsystem, e)
        run = _Run(monitors)
        run.thread = threading.Thread(target=self._run, args=(run,), name=self.name, daemon=True)
        self._run_state = run
        run.thread.start()

    def stop(self) -> None:
        """Stops the thread (waits for a callback in progress). Safe to call from the callback itself."""
        run, self._run_state = self._run_state, None
        if run is None:
            return
        run.stop.set()
        run.wake()
        if run.thread is not threading.current_thread():
            run.thread.join(timeout=5)

    @property
    def running(self) -> bool:
        run = self._run_state
        return run is not None and run.thread is not None and run.thread.is_alive()

    # -- the thread ------------------------------------------------------------------------------
    def _fp(self):
        try:
            return self.fingerprint() if self.fingerprint else None
        except Exception as e:  # a device vanishing mid-read: just try again next round
            log.debug("fingerprint failed: %s", e)
            return None

    def _notify(self) -> None:
        try:
            self.on_change()
        except Exception as e:
            if self.on_error is not None:
                self.on_error(e)
            else:
                log.exception("watch callback failed")

    def _run(self, run: _Run) -> None:
        sel = selectors.DefaultSelector()
        sel.register(run.wake_r, selectors.EVENT_READ, None)
        for mon in run.monitors:
            sel.register(mon.fileno(), selectors.EVENT_READ, mon)
        last_fp = self._fp()
        self._notify()
        due: float | None = None  # when the settled burst is reported
        next_poll = time.monotonic() + (self.poll_interval or 0)
        try:
            while not run.stop.is_set():
                now = time.monotonic()
                waits = []
                if due is not None:
                    waits.append(due - now)
                if self.poll_interval:
                    waits.append(next_poll - now)
                timeout = max(0.0, min(waits)) if waits else None
                for key, _ in sel.select(timeout):
                    if key.data is None:
                        return
                    self._drain(key.data)
                    if due is None:
                        due = time.monotonic() + self.settle
                now = time.monotonic()
                if self.poll_interval and now >= next_poll:
                    next_poll = now + self.poll_interval
                    fp = self._fp()
                    if fp != last_fp and due is None:
                        due = now
                if due is not None and now >= due and not run.stop.is_set():
                    due = None
                    last_fp = self._fp()
                    self._notify()
        finally:
            sel.close()
            run.close()

    @staticmethod
    def _drain(mon) -> None:
        for _ in range(1000):  # a burst; the bound keeps a flood from starving the callback
            try:
                if mon.poll(timeout=0) is None:
                    return
            except Exception:
                return


class WatchedMonitor:
    """Base of the monitors built on one SubsystemWatcher (`self._watch`): start, stop, running."""

    _watch: SubsystemWatcher

    def start(self) -> None:
        self._watch.start()

    def stop(self) -> None:
        self._watch.stop()

    @property
    def running(self) -> bool:
        return self._watch.running
