"""Many processes, one job: torchrun's process group, exact shards, and stages that fail together.

Under ``torchrun --nproc-per-node N -m rnnviz ...`` each process (rank) measures a contiguous,
unpadded shard of the images (``rnnviz.common.shards.shard``); the accumulators of all shards go to rank 0 and merge
there in rank order (sums of sums and counts, never averages of per-rank means), which gives the
numbers one process gives: every random draw belongs to an image's global index, not to a rank.

Every step that can fail is a *stage* (``Distributed.stage``, ``gather``, ``share``): a rank runs
its part, then all ranks exchange one small status. When any rank failed, the lowest failing rank
re-raises its own error (the CLI prints it as one line, or its traceback with ``--debug``) and every
other rank raises ``PeerFailure``, which the CLI turns into the same exit code without a word. So
no rank waits forever in a collective for a rank that has already stopped. A rank that dies
outright (killed, out of memory, segfault) never reaches the exchange; torchrun then stops the
other ranks (its default with no restarts) and prints its own summary of the failed rank.

A single process (``WORLD_SIZE`` unset or 1) needs no process group: every stage is then a plain
call, and errors propagate unchanged.

Transport: pickled objects between our own ranks (``gather_object``), over gloo; on CUDA machines
the group is ``cpu:gloo,cuda:nccl``, so any CUDA tensor collective would use NCCL while the pickled
accumulators (CPU objects) travel over gloo without a detour through GPU memory.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from rnnviz.common.errors import UsageError
from rnnviz.common.shards import shard
from rnnviz.sweep.watchdog import Watchdog, die_with_parent, note_stage

T = TypeVar("T")
TIMEOUT_ENV = "RNNVIZ_DIST_TIMEOUT"  # seconds one collective may wait for the slowest rank
DEFAULT_TIMEOUT_S = 4 * 3600  # a stage waits for the slowest shard; a dead rank is torchrun's to stop


class PeerFailure(Exception):
    """Another rank failed in a stage; that rank reports the error, this one stops quietly."""

    def __init__(self, rank: int, stage: str, usage: bool, message: str):
        super().__init__(f"rank {rank} failed during {stage}: {message}")
        self.rank, self.stage, self.usage = rank, stage, usage


@dataclass
class Distributed:
    """This process's place in the job: ``rank`` of ``world``, ``local_rank`` on its machine.

    With ``world == 1`` every method is a plain call; otherwise a default process group must exist
    (``session``).
    """

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Rank 0: the one rank that writes the output folder and shows progress."""
        return self.rank == 0

    def device(self, requested: str) -> str:
        """``cuda`` under torchrun is this rank's own GPU, ``cuda:LOCAL_RANK``; an explicit
        ``cuda:N`` and ``cpu`` are kept as given."""
        return f"cuda:{self.local_rank}" if requested == "cuda" and self.world > 1 else requested

    def shard(self, n: int) -> range:
        """This rank's images of ``n`` (``rnnviz.common.shards.shard``)."""
        return shard(n, self.rank, self.world)

    def stage(self, name: str, work: Callable[[], T]) -> T:
        """Run this rank's part of a stage; if any rank failed in it, stop every rank (see module)."""
        if self.world == 1:
            return work()
        return self._settle(name, work)

    def gather(self, name: str, work: Callable[[], T]) -> list[T] | None:
        """Every rank's result of ``work``, in rank order, on rank 0 (None elsewhere)."""
        if self.world == 1:
            return [work()]
        import torch.distributed as dist

        payload = self._settle(name, lambda: pickle.dumps(work(), protocol=pickle.HIGHEST_PROTOCOL))
        parts: list[Any] | None = [None] * self.world if self.is_main else None
        dist.gather_object(payload, parts, dst=0)
        return [pickle.loads(p) for p in parts] if parts is not None else None

    def all_gather(self, value: T) -> list[T]:
        """Every rank's ``value``, in rank order, on every rank. A bare collective, not a stage:
        only for steps every rank reaches (the image check's findings, which cannot raise)."""
        if self.world == 1:
            return [value]
        import torch.distributed as dist

        out: list[Any] = [None] * self.world
        dist.all_gather_object(out, value)
        return out

    def share(self, name: str, work: Callable[[], T]) -> T:
        """Rank 0's result of ``work`` (run there only), on every rank."""
        if self.world == 1:
            return work()
        import torch.distributed as dist

        payload = self._settle(
            name, lambda: pickle.dumps(work(), protocol=pickle.HIGHEST_PROTOCOL) if self.is_main else None
        )
        box: list[Any] = [payload]
        dist.broadcast_object_list(box, src=0)
        return pickle.loads(box[0])

    def _settle(self, name: str, work: Callable[[], T]) -> T:
        """Run ``work``, then exchange one status per rank: the lowest failing rank re-raises, the
        others raise ``PeerFailure``. Every fallible step (pickling too) is inside ``work``, so the
        collectives that follow are reached by every rank or by none."""
        import torch.distributed as dist

        value: Any = None
        failure: Exception | None = None
        note_stage(name)
        try:
            value = work()
        except Exception as err:
            failure = err
        status = None if failure is None else (isinstance(failure, UsageError), _first_line(failure))
        statuses: list[Any] = [None] * self.world
        dist.all_gather_object(statuses, status)
        failed = [(r, s) for r, s in enumerate(statuses) if s is not None]
        if failed:
            first, (usage, message) = failed[0]
            if first == self.rank and failure is not None:
                raise failure
            raise PeerFailure(first, name, usage, message)
        return value


def _first_line(err: Exception) -> str:
    text = str(err)
    return f"{type(err).__name__}: {text.splitlines()[0] if text else ''}"


def from_env() -> Distributed:
    """This process's rank and world from torchrun's environment (one process when unset)."""
    world = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if world <= 1:
        return Distributed()
    return Distributed(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))


def is_main_process() -> bool:
    """Rank 0, or the only process: the one that reports, prints and writes."""
    return from_env().is_main


@contextmanager
def session() -> Iterator[Distributed]:
    """The job's ``Distributed``; under torchrun (WORLD_SIZE > 1) it also opens the default process
    group from torchrun's environment (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT) and closes it on
    exit. A group that is already open (an outer session) is used and left open."""
    ctx = from_env()
    if ctx.world == 1:
        yield ctx
        return
    import torch
    import torch.distributed as dist

    if dist.is_initialized():
        yield ctx
        return
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(ctx.local_rank % torch.cuda.device_count())
    timeout = timedelta(seconds=float(os.environ.get(TIMEOUT_ENV) or DEFAULT_TIMEOUT_S))
    die_with_parent()
    dist.init_process_group("cpu:gloo,cuda:nccl" if cuda else "gloo", timeout=timeout)
    dog = Watchdog(dist.distributed_c10d._get_default_store(), ctx.rank, ctx.world).start()
    try:
        yield ctx
    finally:
        dog.stop()
        dist.destroy_process_group()


def split_evenly(items: list[T], rank: int, world: int) -> list[T]:
    """``items`` dealt round robin: rank r gets items r, r + world, ... (work units of similar size)."""
    return items[rank::world]
