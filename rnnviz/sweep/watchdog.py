"""Under torchrun: a rank that stops making progress ends the job in minutes, and no rank outlives
its launcher.

A collective waits for the slowest rank (``RNNVIZ_DIST_TIMEOUT``, hours: a shard can be slow), so
a rank that is stopped (``SIGSTOP``, a frozen node) or hung would hold every other rank for that
long. Each rank's thread beats every ``BEAT_S`` seconds by adding to a counter in the job's store
(torchrun's TCP store), next to the name of the stage it is in; each rank's thread also reads the
others' counters. A counter that has not moved for ``RNNVIZ_STALL_S`` seconds (default 120) means
the process no longer runs at all (its beating thread is independent of how busy the work is):
the lowest healthy rank prints one line naming the rank and its stage, and every healthy rank
exits with status 1, so torchrun stops the job (killing the stopped rank too).

``PR_SET_PDEATHSIG`` (Linux) asks the kernel to SIGKILL a rank when its launcher dies, so a rank
stopped or hung when torchrun is killed does not stay behind as an orphan.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time
from typing import Any

STALL_ENV = "RNNVIZ_STALL_S"
DEFAULT_STALL_S = 120.0
BEAT_S = 2.0
EXIT_STALLED = 1
PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Have the kernel SIGKILL this process when its parent (torchrun's agent) exits (Linux only)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # the parent died before the call: nobody would send the signal
        os._exit(EXIT_STALLED)


def stall_seconds() -> float:
    try:
        value = float(os.environ.get(STALL_ENV) or DEFAULT_STALL_S)
    except ValueError:
        return DEFAULT_STALL_S
    return value if value > 0 else DEFAULT_STALL_S


def note_stage(name: str) -> None:
    """Record the stage this rank enters (named in the line if it stalls there)."""
    if RUNNING is not None:
        RUNNING.stage(name)


class Watchdog:
    """The heartbeat and the watch of one rank (``start`` after the process group, ``stop`` before
    it is destroyed). ``stage`` records the stage this rank is in, for the line naming a stall."""

    def __init__(self, store: Any, rank: int, world: int, stall_s: float | None = None):
        self.store, self.rank, self.world = store, rank, world
        self.stall_s = stall_seconds() if stall_s is None else stall_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rnnviz-watchdog", daemon=True)

    def start(self) -> Watchdog:
        global RUNNING
        self.stage("starting")
        self._thread.start()
        RUNNING = self
        return self

    def stage(self, name: str) -> None:
        self.store.set(f"rnnviz/stage/{self.rank}", name)

    def stop(self) -> None:
        """This rank is done: the others no longer expect its beats."""
        global RUNNING
        RUNNING = None
        self._stop.set()
        try:
            self.store.set(f"rnnviz/done/{self.rank}", "1")
        except Exception:  # noqa: BLE001 - the store may already be gone at the end of a job
            pass

    def _run(self) -> None:
        seen = {r: (-1, time.monotonic()) for r in range(self.world) if r != self.rank}
        while not self._stop.wait(BEAT_S):
            try:
                self.store.add(f"rnnviz/beat/{self.rank}", 1)
                stalled = self._stalled(seen)
            except Exception:  # noqa: BLE001 - the store went away: torchrun is ending the job
                return
            if stalled and not self._stop.is_set():
                self._end(stalled)

    def _stalled(self, seen: dict[int, tuple[int, float]]) -> list[int]:
        """The ranks whose counter has not moved for ``stall_s`` seconds."""
        now = time.monotonic()
        found = []
        for r in sorted(seen):
            if self.store.check([f"rnnviz/done/{r}"]):
                continue
            count = self.store.add(f"rnnviz/beat/{r}", 0)
            last, since = seen[r]
            if count != last:
                seen[r] = (count, now)
            elif now - since > self.stall_s:
                found.append(r)
        return found

    def _end(self, stalled: list[int]) -> None:
        if self.rank == min(set(range(self.world)) - set(stalled)):  # the lowest healthy rank speaks
            stage = self.store.get(f"rnnviz/stage/{stalled[0]}").decode(errors="replace")
            print(
                f"rnnviz-report: error: rank {stalled[0]} made no progress for {self.stall_s:.0f} s during "
                f"'{stage}' (stopped or hung); ending the job (set {STALL_ENV} for slower machines)",
                file=sys.stderr,
                flush=True,
            )
        os._exit(EXIT_STALLED)


RUNNING: Watchdog | None = None  # this process's watchdog while a torchrun session is open
