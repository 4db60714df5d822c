"""The Python runtime around bulk work: the cyclic garbage collector, and the CPU's priority.

A bulk import or a match run holds hundreds of thousands of small objects alive at once (parsed
rows, their dicts, the book). Each of them counts towards the collector's thresholds, so the
collector runs again and again, and every full pass walks all of them again: measured on
`market import`, half the time of an import went to collections that freed nothing, since these
objects form no reference cycles and are freed by reference counting as soon as the work drops
them. `collector_paused` switches the collector off for such work and collects once at the end.

`at_lower_cpu_priority` runs work that should give way to other work on a busy machine (a match
run's smaller products, beside its largest: see `workers.tasks.matching`).
"""

from __future__ import annotations

import gc
import os
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")

_lock = threading.Lock()
_holders = 0
_was_enabled = False


@contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic garbage collection inside the block; one collection of the young generations after it.

    The collector is process-wide: nested blocks and blocks in other threads of the process (a
    threaded web server) share one pause, which ends when the last of them ends. Reference
    counting frees everything else as usual meanwhile.
    """
    global _holders, _was_enabled
    with _lock:
        if _holders == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            resume = _holders == 0 and _was_enabled
            if resume:
                gc.enable()
        if resume:
            gc.collect(1)


def freeze_startup_objects() -> None:
    """Leave everything alive now (modules, the app, its metadata and schemas) out of every later
    collection, which then walks only what requests and tasks allocate: called by a server process
    once it has started (a gunicorn or Celery worker, after the fork), as the gc module's
    documentation advises for pre-fork servers."""
    gc.collect()
    gc.freeze()


def at_lower_cpu_priority(work: Callable[[], T], niceness: int) -> T:
    """`work()`'s result (or its exception), computed with the CPU priority lowered by `niceness` levels.

    On Linux a nice value belongs to a thread, not to the process (setpriority(2), "Bugs"), and an
    unprivileged thread may raise its own but never lower it again. So the work runs in a thread of
    its own that raises its niceness and ends with the work, and the calling thread, which waits,
    keeps its priority for whatever it does next. The thread is a daemon: a process told to exit
    (a second SIGTERM, see `workers.shutdown`) does not wait for it, and its transaction is rolled
    back with its connection. Elsewhere a nice value is the whole process's, so the work runs here
    at the priority it has.
    """
    if not sys.platform.startswith("linux") or niceness <= 0:
        return work()
    outcome: list[T] = []
    failure: list[BaseException] = []

    def lowered() -> None:
        try:
            os.nice(niceness)  # this thread's alone, on Linux
            outcome.append(work())
        except BaseException as exc:  # handed to the waiting thread, which raises it
            failure.append(exc)

    worker = threading.Thread(target=lowered, name="market-lower-priority", daemon=True)
    worker.start()
    worker.join()
    if failure:
        raise failure[0]
    return outcome[0]
