"""Runs `serve` in several forked processes on one port, and starts and stops them as one."""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import sys
from collections.abc import Callable
from types import FrameType

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1


def serve_in_processes(count: int, serve_one: Callable[[], None]) -> int:
    """Fork `count` children that each run `serve_one`, then wait for them; the exit status.

    Each child binds the port itself with SO_REUSEPORT, so the kernel spreads connections
    over them. SIGTERM or SIGINT to this process is passed on to every child as SIGTERM, once
    (children have their own process group, so a terminal's Ctrl-C reaches them only that way),
    and a child whose parent dies is sent SIGTERM by the kernel. A child that exits on its own
    takes the others down with it, and the status is 1: a service manager then restarts the
    whole set, where a set missing a member would keep serving at part speed unnoticed.
    """
    parent = os.getpid()
    children = {_fork(serve_one, parent) for _ in range(count)}
    stopping = False

    def stop_children(signum: int, _: FrameType | None = None) -> None:
        nonlocal stopping
        stopping = True
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    previous = {s: signal.signal(s, stop_children) for s in (signal.SIGTERM, signal.SIGINT)}
    status = 0
    try:
        while children:
            pid, wait_status = os.wait()
            children.discard(pid)
            code = os.waitstatus_to_exitcode(wait_status)
            if not stopping:
                log.error("web process %d exited with status %d; stopping the others", pid, code)
                status = 1
                stop_children(signal.SIGTERM)
            elif code != 0:
                log.warning("web process %d exited with status %d while stopping", pid, code)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return status


def _fork(serve_one: Callable[[], None], parent: int) -> int:
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        os.setpgid(0, 0)
        _die_with(parent)
        serve_one()
        code = 0
    except SystemExit as exit:
        code = exit.code if isinstance(exit.code, int) else 1
    except Exception:
        log.exception("web process %d failed", os.getpid())
    finally:
        logging.shutdown()
        os._exit(code)


def _die_with(parent: int) -> None:
    """Ask Linux for SIGTERM when the parent dies (elsewhere a no-op)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # it died before prctl took effect
            os.kill(os.getpid(), signal.SIGTERM)
