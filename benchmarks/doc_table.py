"""The tables of docs/benchmarks.md as the benchmarks print them: after its own report, each script
prints the machine it ran on and its table in the doc's columns (markdown), so a rerun's lines can
replace the old ones in docs/benchmarks.md as they are."""

from __future__ import annotations

import datetime
import os
import platform
from collections.abc import Sequence

import torch


def machine() -> str:
    """``2-core AMD EPYC 7B13 (AVX2, no native bf16), 24 GiB, torch 2.14.1, 2 threads, 2026-12-02``."""
    cpu, flags = platform.processor() or platform.machine(), set()
    try:
        info = open("/proc/cpuinfo").read()
        cpu = next(line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name"))
        flags = set(next(line for line in info.splitlines() if line.startswith("flags")).split())
    except (OSError, StopIteration):
        pass
    simd = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    bf16 = "native bf16" if flags & {"avx512_bf16", "amx_bf16"} else "no native bf16"
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    gpu = f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""
    return (
        f"{os.cpu_count()}-core {cpu} ({simd}, {bf16}), {memory:.0f} GiB{gpu}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, {datetime.date.today().isoformat()}"
    )


def print_table(
    title: str, header: Sequence[str], rows: Sequence[Sequence[object]], command: str = "", where: str = ""
) -> None:
    """The doc's table ``title``: a line naming the machine (``where``, else this one) and the command,
    then the markdown rows."""
    print(f"\n--- docs/benchmarks.md, {title}: {where or machine()}" + (f"; `{command}`" if command else ""))
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(str(cell) for cell in row) + " |")
