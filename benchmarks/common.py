"""Shared timing helpers for the benchmark scripts.

On a shared, noisy CPU the *best* of several runs is a steadier estimate of what the code can do
than a mean (noise only ever adds time). Compare implementations by running them *interleaved*
in one process, so that a burst of load from elsewhere hits all of them alike.

    from common import interleaved_best_of, matmul_task      # run as `python benchmarks/x.py`
    times = interleaved_best_of({"a": fn_a, "b": fn_b}, rounds=10)
    best_a = min(times["a"])

A matmul-peak reference: ``fn, flops = matmul_task(2048)``; ``flops / best_time`` is the fp32
matrix-product throughput of this machine with the current ``torch.get_num_threads()``.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import torch


def time_once(fn: Callable[[], object]) -> float:
    """Wall-clock seconds of one call of ``fn``."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def best_of(fn: Callable[[], object], rounds: int = 10, warmup: int = 2) -> float:
    """Best (smallest) wall-clock seconds of ``rounds`` calls of ``fn`` after ``warmup`` calls."""
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}.")
    for _ in range(warmup):
        fn()
    return min(time_once(fn) for _ in range(rounds))


def interleaved_best_of(
    tasks: Mapping[str, Callable[[], object]], rounds: int = 10, warmup: int = 2
) -> dict[str, list[float]]:
    """Time several callables interleaved: each round calls every task once.

    The order rotates from round to round so that no task always runs right after the same
    neighbour (caches, CPU frequency). Take ``min(times[name])`` for the best-of estimate.

    Args:
        tasks: name -> zero-argument callable.
        rounds: timed rounds (each task is timed once per round).
        warmup: untimed rounds first (allocator, oneDNN/MKL kernel selection, page faults).

    Returns:
        name -> list of ``rounds`` wall-clock times in seconds, in the order they were measured.
    """
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}.")
    if not tasks:
        raise ValueError("tasks must name at least one callable.")
    names = list(tasks)
    for _ in range(warmup):
        for name in names:
            tasks[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            times[name].append(time_once(tasks[name]))
    return times


def matmul_task(n: int = 2048, dtype: torch.dtype = torch.float32, seed: int = 0) -> tuple[Callable[[], object], int]:
    """One n x n by n x n matrix product as a zero-argument callable, and its FLOPs (2 n^3).

    The output buffer is preallocated so that the timing is the product alone.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}.")
    gen = torch.Generator().manual_seed(seed)
    a = torch.randn(n, n, generator=gen, dtype=dtype)
    b = torch.randn(n, n, generator=gen, dtype=dtype)
    out = torch.empty(n, n, dtype=dtype)
    return (lambda: torch.matmul(a, b, out=out)), 2 * n**3


def matmul_peak_gflops(n: int = 2048, rounds: int = 10, warmup: int = 2) -> float:
    """Measured fp32 matmul throughput in GFLOP/s: 2 n^3 / best time of one n x n product."""
    fn, flops = matmul_task(n)
    return flops / best_of(fn, rounds=rounds, warmup=warmup) / 1e9


def machine_load() -> str:
    """The 1/5/15-minute load averages and the CPU count, for the benchmark's report."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"


def keep_freed_memory(threshold: int = 1 << 30) -> str:
    """Ask glibc's malloc to reuse freed memory instead of returning it to the OS after every call.

    By default glibc serves large blocks (a (B, k, T, T) attention tensor is 7 MB for S/16, batch 8)
    with fresh ``mmap`` pages and gives them back on ``free``, so every forward pass pays page faults
    and the kernel's zeroing of those pages again. That cost falls mostly on code that allocates
    many large tensors, i.e. on the attention-returning path, and is an artefact of the allocator,
    not of the model. PyTorch's CPU performance guide recommends jemalloc or tcmalloc for the same
    reason; ``mallopt`` gets the same effect without a preload. ``threshold`` (bytes, < 2 GiB: mallopt
    takes a C int) becomes both the mmap and the trim threshold. Returns a line describing what was
    set (or why nothing was: not glibc).
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return "malloc: default (no glibc mallopt on this system)"
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
    if not 0 < threshold < 2**31:
        raise ValueError(f"threshold must be in (0, 2 GiB) bytes, got {threshold}.")
    if not all(mallopt(option, ctypes.c_int(threshold)) == 1 for option in (M_MMAP_THRESHOLD, M_TRIM_THRESHOLD)):
        return "malloc: default (mallopt refused the thresholds)"
    return (f"malloc: glibc mmap and trim thresholds {threshold >> 20} MiB "
            f"(freed memory is reused; --default-malloc to turn off)")


# Other CPUs, emulated on this one: PyTorch (ATEN_CPU_CAPABILITY), MKL and oneDNN each pick their
# vector kernels from these variables, read once when the library loads, so a setting is applied to a
# fresh process (subprocess with ``env=emulated_env(name)``), never to the running one.
CPU_SETTINGS: dict[str, dict[str, str]] = {
    "native": {},
    "avx2": {"ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2"},
    "default": {"ATEN_CPU_CAPABILITY": "default", "MKL_ENABLE_INSTRUCTIONS": "SSE4_2", "ONEDNN_MAX_CPU_ISA": "SSE41"},
}


def emulated_env(setting: str, **extra: str) -> dict[str, str]:
    """``os.environ`` with the variables of one of :data:`CPU_SETTINGS` (and ``extra``) set."""
    if setting not in CPU_SETTINGS:
        raise ValueError(f"unknown CPU setting {setting!r}; choose one of {sorted(CPU_SETTINGS)}.")
    env = {key: value for key, value in os.environ.items() if key not in CPU_SETTINGS["avx2"]}
    env.update(CPU_SETTINGS[setting])
    env.update(extra)
    return env


def worker_rows(command: list[str], setting: str, expected: int, cwd: Path) -> Iterator[dict]:
    """Run ``command`` under one of :data:`CPU_SETTINGS` and yield every JSON object it prints on a line of its own.

    Raises:
        RuntimeError: after the last row, if the worker failed or printed other than ``expected`` rows.
    """
    count = 0
    with subprocess.Popen(command, env=emulated_env(setting), stdout=subprocess.PIPE, text=True, cwd=cwd) as worker:
        for line in worker.stdout:
            if line.startswith("{"):
                count += 1
                yield json.loads(line)
    if worker.returncode != 0 or count != expected:
        raise RuntimeError(f"{' '.join(command[1:3])} under {setting} failed (exit code {worker.returncode}, "
                           f"{count} of {expected} rows); see the error above.")
