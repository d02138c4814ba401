"""The worker processes that check a large roster on every core, and die with their parent."""

from __future__ import annotations

import atexit
import concurrent.futures
import contextlib
import ctypes
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Generator
from typing import Any, Final

from ledger.roster.rows import check_range

WORKERS: Final = 2
PR_SET_PDEATHSIG: Final = 1
"""prctl(2) option: the signal a process gets when its parent dies (Linux)."""
WATCH_SECONDS: Final = 0.5


def die_with_parent(parent: int) -> None:
    """Worker initializer: end this worker when the import that started it dies, even by
    `kill -9` (nothing then tells the pool to stop), so that no orphan keeps reading the
    roster and holding the spool. Linux kills it at once (`prctl(PR_SET_PDEATHSIG)`); a
    watchdog thread noticing the new parent ends it within a second anywhere else."""
    with contextlib.suppress(OSError, AttributeError):  # not Linux: the watchdog alone
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # it died before the line above took effect
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent,), name="watch-parent", daemon=True).start()


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(WATCH_SECONDS)
    os._exit(1)


class WorkerPool:
    """The check pass's worker processes: forked once per process, on first use, and kept
    for the next roster (forking a pool per file cost more than checking a small file).
    Forked, they share the main process's str hashes (see `Repeats`)."""

    def __init__(self) -> None:
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def get(self) -> concurrent.futures.ProcessPoolExecutor:
        """The pool, its workers forked by the calling thread on first use: call it first
        from the thread that lives as long as the process (the workers die with the thread
        that forked them: `die_with_parent`)."""
        with self._lock:
            if self._pool is None:
                pool = concurrent.futures.ProcessPoolExecutor(
                    max_workers=WORKERS,
                    mp_context=multiprocessing.get_context("fork"),
                    initializer=die_with_parent,
                    initargs=(os.getpid(),),
                )
                pool.submit(os.getpid).result()  # a fork pool starts every worker at its first task
                self._pool = pool
                atexit.register(self.close)  # joined before the interpreter tears its modules down
            return self._pool

    def close(self) -> None:
        """End the workers and wait for them (their CPU time is then the caller's children's)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)

    def discard(self) -> None:
        """Forget a pool whose worker died (the next roster starts a new one)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)


WORKER_POOL: Final = WorkerPool()


def checked_in_order(pool: concurrent.futures.ProcessPoolExecutor, tasks: list[Any]) -> Generator[bytes]:
    """Results in task order, with a few tasks in flight (bounded memory); the tasks not
    done are cancelled when the reader stops early (a bad row)."""
    pending: list[concurrent.futures.Future[bytes]] = []
    try:
        for task in tasks:
            pending.append(pool.submit(check_range, task))
            if len(pending) > 2 * WORKERS:
                yield pending.pop(0).result()
        while pending:
            yield pending.pop(0).result()
    except concurrent.futures.process.BrokenProcessPool:
        WORKER_POOL.discard()
        raise
    finally:
        for future in pending:
            future.cancel()


def can_fork() -> bool:
    """Whether the check pass may use worker processes (more than one core)."""
    return (os.cpu_count() or 1) > 1
