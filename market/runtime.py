"""The Python runtime around bulk work: the cyclic garbage collector.

A bulk import or a match run holds hundreds of thousands of small objects alive at once (parsed
rows, their dicts, the book). Each of them counts towards the collector's thresholds, so the
collector runs again and again, and every full pass walks all of them again: measured on
`market import`, half the time of an import went to collections that freed nothing, since these
objects form no reference cycles and are freed by reference counting as soon as the work drops
them. `collector_paused` switches the collector off for such work and collects once at the end.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

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
