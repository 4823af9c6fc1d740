"""What self-attention costs as the sequence grows: T^2 time and memory (paper §3.1, App. D.4).

For one head of width d and a sequence of T tokens, attention forms the T x T matrix
A = softmax(q k^T / sqrt(d)) and then A v:

    FLOPs (multiply-add = 2)      2 T^2 d  (q k^T)  +  2 T^2 d  (A v)  =  4 T^2 d
    memory of A                    T^2 * bytes per element (per head, per image)

On a 224 x 224 image, T = (224 / P)^2 + 1, so halving the patch size P multiplies T by about 4
and the attention cost by about 16. This module measures it:

- :func:`saved_activation_bytes` counts, exactly, the bytes autograd keeps for the backward pass
  (the manual path keeps A, T^2 values; the fused ``scaled_dot_product_attention`` kernel works
  on tiles and keeps only O(T) values);
- :func:`measure_attention_cost` times both paths for a list of patch sizes.

Timings depend on the machine; the byte counts and FLOPs do not.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from vit_edu.attention import attention
from vit_edu.checks import to_2tuple


def attention_flops(seq_len: int, head_dim: int, heads: int = 1) -> int:
    """FLOPs of q k^T and A v for one image: 4 T^2 d per head (multiply-add = 2 FLOPs)."""
    return 4 * seq_len * seq_len * head_dim * heads


def attention_matrix_bytes(seq_len: int, heads: int = 1, batch: int = 1, bytes_per_element: int = 4) -> int:
    """Bytes of the attention weights A, shape (B, heads, T, T): B * heads * T^2 * bytes."""
    return batch * heads * seq_len * seq_len * bytes_per_element


def sequence_length(image_size: int | tuple[int, int], patch_size: int | tuple[int, int]) -> int:
    """T = N + 1 = (H / P)(W / P) + 1 tokens (patches and the class token).

    Raises:
        ValueError: if the image size is not a multiple of the patch size.
    """
    height, width = to_2tuple(image_size, "image_size")
    patch_h, patch_w = to_2tuple(patch_size, "patch_size")
    if height % patch_h or width % patch_w:
        raise ValueError(
            f"image_size {height}x{width} is not divisible by patch_size {patch_h}x{patch_w}; "
            "choose a patch size that divides the image size (for 224: 4, 7, 8, 14, 16, 28, 32, 56, 112)."
        )
    return (height // patch_h) * (width // patch_w) + 1


def saved_activation_bytes(function: Callable[..., torch.Tensor], *inputs: torch.Tensor) -> int:
    """Run ``function(*inputs)`` and return the bytes autograd saves for its backward pass.

    Each saved tensor's storage is counted once (views of the same storage are not counted
    twice). ``inputs`` must require grad, otherwise nothing is saved.
    """
    storages: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        function(*inputs)
    return sum(storages.values())


def manual_attention_output(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """The manual path (``vit_edu.attention``), output only."""
    return attention(q, k, v)[0]


def _best_seconds(function: Callable[[], object], repeats: int) -> float:
    """The fastest of ``repeats`` calls (as ``timeit`` reports): the least disturbed by other processes."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


@dataclass(frozen=True)
class AttentionCost:
    """One row of :func:`measure_attention_cost` (one head, one image)."""

    patch_size: int
    seq_len: int  # T = N + 1
    flops: int  # 4 T^2 d
    matrix_bytes: int  # T^2 * 4 (float32)
    manual_saved_bytes: int  # measured: what the manual path keeps for backward
    fused_saved_bytes: int  # measured: what scaled_dot_product_attention keeps
    manual_seconds: float  # best forward time, manual path
    fused_seconds: float  # best forward time, fused path


def measure_attention_cost(
    patch_sizes: Sequence[int] = (32, 16, 14, 8, 7, 4),
    image_size: int = 224,
    head_dim: int = 64,
    repeats: int = 3,
    seed: int = 0,
    num_threads: int | None = 1,
) -> list[AttentionCost]:
    """Time and memory of one attention head for the sequence lengths of several patch sizes.

    Args:
        patch_sizes: P values; each gives T = (image_size / P)^2 + 1.
        image_size: H = W in pixels.
        head_dim: d, the width of one head (64 in ViT-B).
        repeats: forward passes timed per path; the fastest is kept (after one warm-up).
        seed: seed of the random q, k, v.
        num_threads: torch threads while timing (restored afterwards); ``None`` leaves it. One
            thread gives the steadiest timings on a shared machine.

    Returns:
        One :class:`AttentionCost` per patch size, in the given order.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}.")
    generator = torch.Generator().manual_seed(seed)
    old_threads = torch.get_num_threads()
    if num_threads is not None:
        torch.set_num_threads(num_threads)
    rows = []
    try:
        for patch_size in patch_sizes:
            seq_len = sequence_length(image_size, patch_size)
            q, k, v = (torch.randn(1, 1, seq_len, head_dim, generator=generator) for _ in range(3))  # (1, 1, T, d)
            grads = [t.clone().requires_grad_(True) for t in (q, k, v)]
            manual_saved = saved_activation_bytes(manual_attention_output, *grads)
            fused_saved = saved_activation_bytes(F.scaled_dot_product_attention, *grads)
            with torch.no_grad():
                manual_attention_output(q, k, v)  # warm-up
                manual = _best_seconds(lambda q=q, k=k, v=v: manual_attention_output(q, k, v), repeats)
                F.scaled_dot_product_attention(q, k, v)  # warm-up
                fused = _best_seconds(lambda q=q, k=k, v=v: F.scaled_dot_product_attention(q, k, v), repeats)
            rows.append(AttentionCost(
                patch_size=patch_size, seq_len=seq_len, flops=attention_flops(seq_len, head_dim),
                matrix_bytes=attention_matrix_bytes(seq_len), manual_saved_bytes=manual_saved,
                fused_saved_bytes=fused_saved, manual_seconds=manual, fused_seconds=fused,
            ))
    finally:
        torch.set_num_threads(old_threads)
    return rows
