"""A pool process sent SIGTERM in the middle of a task finishes the task, then leaves.

systemd's default KillMode=control-group, `kill -TERM -PGID`, billiard's own pool termination and
Celery's cancelling of acks_late tasks when the broker connection drops send SIGTERM to the pool
processes, not only to the main process. billiard's handler raises SystemExit
wherever the process happens to be: inside psycopg waiting on the server, or inside SQLAlchemy's
pool while it checks or resets a connection, whose cleanup may swallow the SystemExit or replace it
with a database error. The task then fails as an ordinary error (a solve fails its whole match run)
instead of the process leaving, and a pool process that outlived its signal can hold up the worker's
shutdown. The main process's own warm shutdown lets the task in hand finish; this makes the pool
process do the same:

- while a task runs, SIGTERM is only noted; a second one acts at once, as billiard's handler would
  (the escape from a task that would not end; SIGKILL is the other);
- once the task has run (its transaction committed or rolled back, its result stored), the noted
  SIGTERM is raised again under billiard's handler, which exits the process. For a task acknowledged
  late, Celery then sees the stored success and acknowledges the message, or delivers it again; the
  tasks that are (`workers.IDEMPOTENT`) find their work done.

Between tasks billiard's handler stays in place: the process is only waiting for the next job. A cold
shutdown (SIGQUIT to the main process) terminates the pool the same way, so it too waits for the tasks
in hand.
"""

from __future__ import annotations

import signal
from types import FrameType
from typing import Any

from celery.signals import task_postrun, task_prerun


class _Held:
    """The pool process's state: armed once; during a task, the handler it replaced and the SIGTERMs noted."""

    armed = False
    previous: Any = None
    noted = 0


def finish_tasks_before_sigterm() -> None:
    """Called once in each pool process (`worker_process_init`); the main process and eager tasks keep
    the ordinary handling."""
    _Held.armed = True


def _note(signum: int, frame: FrameType | None) -> None:
    _Held.noted += 1
    if _Held.noted > 1:
        _raise_again()


def _raise_again() -> None:
    signal.signal(signal.SIGTERM, _Held.previous)
    signal.raise_signal(signal.SIGTERM)


@task_prerun.connect
def _hold_sigterm(**_kwargs: object) -> None:
    if _Held.armed:
        _Held.previous = signal.signal(signal.SIGTERM, _note) or signal.SIG_DFL
        _Held.noted = 0


@task_postrun.connect
def _release_sigterm(**_kwargs: object) -> None:
    if _Held.previous is None:
        return
    if _Held.noted:
        _raise_again()  # billiard's handler: SystemExit from here, the task's result already stored
    else:
        signal.signal(signal.SIGTERM, _Held.previous)
    _Held.previous = None
