"""Process skills for fault tests. Kept in their own small module: a process-pool worker
imports the module a skill is defined in, and this one imports nothing heavy."""

from __future__ import annotations

import os
import threading
import time

from pipeline import skill


@skill(executor="process")
def double(n: int) -> int:
    return 2 * n


@skill(executor="process")
def pid_after(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()


@skill(executor="process")
def sleeps_after_writing_pid(path: str, seconds: float) -> str:
    with open(path, "w") as f:
        f.write(str(os.getpid()))
    time.sleep(seconds)
    return "late"


@skill(executor="process")
def dies_after(seconds: float) -> None:
    time.sleep(seconds)
    os._exit(7)  # the worker vanishes mid-call, as a segfault or the OOM killer would do


@skill(executor="process")
def returns_a_lock() -> threading.Lock:
    return threading.Lock()  # cannot be pickled back to the parent


class TwoPartError(Exception):
    """A common shape of library exception: ``__init__`` takes two arguments, so pickle
    (which re-creates an exception from ``args``) cannot rebuild it in the parent."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"{code} {reason}")
        self.code = code


class CarriesALock(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.lock = threading.Lock()


@skill(executor="process")
def raises_two_part() -> None:
    raise TwoPartError(503, "upstream busy")


@skill(executor="process")
def raises_with_a_lock() -> None:
    raise CarriesALock("holding a lock")


@skill(executor="process")
def raises_stop_iteration() -> int:
    return next(iter([]))


def plain_pid_after(seconds: float) -> int:
    """Not a skill: tests make skills of it with executors of their own."""
    time.sleep(seconds)
    return os.getpid()
