"""The store's lock lets the collector's ingest and assembly threads go before waiting readers."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from trajotel.store.connection import _PriorityLock


def _waiting(lock: _PriorityLock, urgent: bool, order: list[str], name: str) -> threading.Thread:
    def run() -> None:
        if urgent:
            lock.prefer_current_thread()
        with lock:
            order.append(name)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def _until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.005)


def test_an_urgent_thread_goes_before_readers_that_waited_longer() -> None:
    lock = _PriorityLock()
    order: list[str] = []
    lock.acquire()
    readers = [_waiting(lock, False, order, f"reader{i}") for i in range(3)]
    time.sleep(0.05)  # the readers are waiting
    assembler = _waiting(lock, True, order, "assembler")
    _until(lambda: lock._urgent_waiting == 1)
    lock.release()
    for thread in (*readers, assembler):
        thread.join(5)
    assert order[0] == "assembler"
    assert sorted(order[1:]) == ["reader0", "reader1", "reader2"]


def test_readers_get_the_lock_between_urgent_calls_and_it_is_reentrant() -> None:
    lock = _PriorityLock()
    lock.prefer_current_thread()
    order: list[str] = []
    with lock, lock:  # reentrant
        reader = _waiting(lock, False, order, "reader")
        time.sleep(0.05)
        assert order == []
    reader.join(5)  # no urgent thread waits: the reader is not held back
    assert order == ["reader"]
    assert lock._owner is None and lock._depth == 0
