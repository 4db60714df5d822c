"""Starting and always stopping the real processes that worker and compose tests talk to."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parents[2]

T = TypeVar("T")


def venv_env(base: Mapping[str, str] | None = None, **overrides: str) -> dict[str, str]:
    """A child's environment: this interpreter's bin first on PATH (so `celery`, `gunicorn`,
    `market` and `python` are the virtualenv's), then `base`, then `overrides`."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.update(base or {})
    env.update(overrides)
    return env


def log_tail(path: Path, lines: int = 40) -> str:
    if not path.exists():
        return "(no log)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def start(argv: Sequence[str], *, env: Mapping[str, str], log: Path) -> subprocess.Popen:
    """Start argv from the repository root in its own process group, output to `log`."""
    with log.open("ab") as sink:
        return subprocess.Popen(
            list(argv), cwd=ROOT, env=dict(env), stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
        )


def stop(process: subprocess.Popen) -> None:
    """Stop a process started by `start`, and everything it forked (pool workers, gunicorn workers)."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=20)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=20)
    try:  # the leader is gone; make sure none of its children outlived it
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@contextmanager
def running(argv: Sequence[str], *, env: Mapping[str, str], log: Path) -> Iterator[subprocess.Popen]:
    process = start(argv, env=env, log=log)
    try:
        yield process
    finally:
        stop(process)


def wait_for(
    check: Callable[[], T | None], *, process: subprocess.Popen, log: Path, what: str, timeout: float = 60.0
) -> T:
    """Poll `check` until it returns something other than None; fail if `process` dies or time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        outcome = check()
        if outcome is not None:
            return outcome
        if process.poll() is not None:
            raise AssertionError(f"{what}: the process exited with {process.returncode}:\n{log_tail(log)}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f}s:\n{log_tail(log)}")
        time.sleep(0.2)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
