"""The collector pause that bulk work runs under, and work run at a lower CPU priority."""

from __future__ import annotations

import gc
import os
import sys
import threading

import pytest

from market.runtime import at_lower_cpu_priority, collector_paused


def test_the_collector_is_off_inside_and_back_on_after():
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_nested_and_concurrent_pauses_end_with_the_last_one():
    inside, leave = threading.Event(), threading.Event()

    def other_thread() -> None:
        with collector_paused():
            inside.set()
            leave.wait(5)

    thread = threading.Thread(target=other_thread)
    with collector_paused():
        thread.start()
        assert inside.wait(5)
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert not gc.isenabled()  # the other thread's pause is still on
    leave.set()
    thread.join(5)
    assert gc.isenabled()


def test_an_error_inside_still_ends_the_pause():
    try:
        with collector_paused():
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert gc.isenabled()


def test_a_collector_switched_off_before_stays_off():
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


@collector_paused()
def _decorated() -> bool:
    return gc.isenabled()


def test_it_decorates_a_function():
    assert _decorated() is False and gc.isenabled()


def test_a_started_server_process_freezes_what_it_has_built(tmp_path):
    """In a process of its own: a frozen object stays out of collections, new garbage is still collected."""
    import subprocess
    import sys

    script = (
        "import gc\n"
        "from market.runtime import freeze_startup_objects\n"
        "from market.app import create_app\n"
        "from market.config import load_settings\n"
        f"create_app(load_settings(database_url='sqlite:///{tmp_path}/m.db', redis_url='', secret_key='x'))\n"
        "freeze_startup_objects()\n"
        "frozen = gc.get_freeze_count()\n"
        "cycle = []; cycle.append(cycle); del cycle\n"
        "print(frozen, gc.collect())\n"
    )
    frozen, collected = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout.split()
    assert int(frozen) > 10_000 and int(collected) >= 1


def _niceness() -> int:
    """The calling thread's nice value (on Linux a thread's own)."""
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a nice value is a thread's own only on Linux")
def test_work_at_lower_priority_runs_niced_and_leaves_the_caller_as_it_was():
    before = _niceness()
    seen = at_lower_cpu_priority(lambda: (threading.get_native_id(), _niceness()), niceness=5)
    assert seen[0] != threading.get_native_id()  # a thread of its own, which can be niced and end
    assert seen[1] == min(before + 5, 19)
    assert _niceness() == before
    # Again, from the same caller: nothing was lowered for good.
    assert at_lower_cpu_priority(_niceness, niceness=3) == min(before + 3, 19)
    assert at_lower_cpu_priority(_niceness, niceness=0) == before


def test_work_at_lower_priority_hands_back_its_error():
    def broken() -> None:
        raise LookupError("no such product")

    with pytest.raises(LookupError, match="no such product"):
        at_lower_cpu_priority(broken, niceness=5)
