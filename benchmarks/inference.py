"""CPU inference speed of vit_edu against Hugging Face ``transformers`` (a ratio measured in one run).

Three forward passes of the same network (default S/16 at 224 px, batch 8, 2 threads, eval mode,
``torch.inference_mode()``), timed interleaved in one process, best of ``--rounds`` each:

- ``vit_edu fused``: ``ViT.from_config(preset(...))``, attention through SDPA;
- ``vit_edu attention``: the same model with ``return_attention=True`` (manual attention that
  materialises the (B, k, T, T) weights of every layer);
- ``transformers``: ``ViTForImageClassification`` (sdpa) of the same config holding *our* weights
  (``vit_edu.checkpoints.layouts.to_transformers``);
  its logits are checked against ours (max abs diff <= 1e-4) before anything is timed.

A fp32 matmul (n = 2048, 2 n^3 FLOPs) is timed in the same rounds as the machine's peak. The last
line gives the ratios and PASS/FAIL against the targets (fused/transformers <= 1.0,
attention/fused <= 1.2). The exit code is 0 whether or not a target is met (this is a benchmark,
not a test); a failed weight-copy check is an error, since the comparison would be meaningless.

Memory allocator: before timing, glibc's malloc is told to keep freed memory for reuse
(``common.keep_freed_memory``). With the default settings every large tensor comes from fresh pages
that the kernel must fault in and zero, on every forward pass; that penalises the attention path
(it keeps L tensors of (B, k, T, T)) far more than the compute does: measured here,
attention/fused = 1.23-1.32 with the default allocator and 0.90-1.17 (5 runs) with freed memory
reused, while the fused and transformers times barely moved. ``--default-malloc`` measures without it.

    python benchmarks/inference.py [--rounds 10] [--batch 8] [--preset S/16]
"""

from __future__ import annotations

import argparse

import torch

import vit_edu
from vit_edu import ViT
from vit_edu.checkpoints.layouts import to_transformers

try:  # `python -m benchmarks.inference` from the repo root
    from benchmarks.common import interleaved_best_of, keep_freed_memory, machine_load, matmul_task
except ImportError:  # `python benchmarks/inference.py`
    from common import interleaved_best_of, keep_freed_memory, machine_load, matmul_task

FUSED_TARGET = 1.0  # vit_edu fused / transformers
ATTENTION_TARGET = 1.2  # vit_edu with attention / vit_edu fused
LOGIT_TOLERANCE = 1e-4


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=10, help="timed rounds, best-of (default 10)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed rounds first (default 2)")
    parser.add_argument("--batch", type=int, default=8, help="images per forward pass (default 8)")
    parser.add_argument("--preset", default="S/16", help=f"one of {', '.join(vit_edu.PRESET_NAMES)} (default S/16)")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    parser.add_argument("--matmul-n", type=int, default=2048, help="matmul peak size n (default 2048)")
    parser.add_argument("--default-malloc", action="store_true",
                        help="leave glibc malloc's thresholds alone (see the module docstring)")
    args = parser.parse_args(argv)
    for name in ("rounds", "batch", "threads", "matmul_n"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}.")
    if args.warmup < 0:
        parser.error(f"--warmup must be >= 0, got {args.warmup}.")
    if args.preset not in vit_edu.PRESET_NAMES:
        parser.error(f"unknown --preset {args.preset!r}; choose one of {', '.join(vit_edu.PRESET_NAMES)}.")
    return args


def verdict(ratio: float, target: float) -> str:
    return "PASS" if ratio <= target else "FAIL"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    allocator = "malloc: default (--default-malloc)" if args.default_malloc else keep_freed_memory()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cfg = vit_edu.preset(args.preset)
    model = ViT.from_config(cfg, seed=0).eval()
    hf = to_transformers(model, attn_implementation="sdpa")
    if hf.config._attn_implementation != "sdpa":
        raise RuntimeError(f"transformers model uses {hf.config._attn_implementation!r} attention, not 'sdpa'.")
    images = torch.randn(args.batch, cfg.channels, *cfg.image_size, generator=torch.Generator().manual_seed(0))
    matmul, matmul_flops = matmul_task(args.matmul_n)

    with torch.inference_mode():
        ours = model(images)
        with_attention, attentions = model(images, return_attention=True)
        theirs = hf(pixel_values=images).logits
        diff_hf = (ours - theirs).abs().max().item()
        diff_attention = (ours - with_attention).abs().max().item()
        if diff_hf > LOGIT_TOLERANCE or diff_attention > LOGIT_TOLERANCE:
            raise AssertionError(
                f"logits disagree (max abs diff vs transformers {diff_hf:.2e}, fused vs attention path "
                f"{diff_attention:.2e}, tolerance {LOGIT_TOLERANCE:g}); the timing would compare different networks."
            )
        assert len(attentions) == cfg.depth and attentions[0].shape == (args.batch, cfg.heads, cfg.seq_len, cfg.seq_len)

        tasks = {
            "vit_edu fused": lambda: model(images),
            "vit_edu attention": lambda: model(images, return_attention=True),
            "transformers sdpa": lambda: hf(pixel_values=images),
            f"matmul n={args.matmul_n}": matmul,
        }
        times = interleaved_best_of(tasks, rounds=args.rounds, warmup=args.warmup)

    best = {name: min(t) for name, t in times.items()}
    peak = matmul_flops / best[f"matmul n={args.matmul_n}"] / 1e9  # GFLOP/s
    flops = vit_edu.count_flops(cfg) * args.batch
    print(f"{args.preset} at {cfg.image_size[0]}x{cfg.image_size[1]}, batch {args.batch}, {args.threads} threads, "
          f"torch {torch.__version__}, best of {args.rounds} interleaved rounds; {machine_load()}")
    print(allocator)
    print(f"logits: max abs diff vs transformers {diff_hf:.1e}, fused vs attention path {diff_attention:.1e}")
    print(f"{'':20s} {'ms/batch':>9s} {'median':>9s} {'images/s':>9s} {'GFLOP/s':>8s} {'of peak':>8s}")
    for name, t in times.items():
        median = sorted(t)[len(t) // 2]
        if name.startswith("matmul"):
            print(f"{name:20s} {best[name] * 1e3:9.1f} {median * 1e3:9.1f} {'':>9s} {peak:8.1f} {'100%':>8s}")
            continue
        gflops = flops / best[name] / 1e9
        print(f"{name:20s} {best[name] * 1e3:9.1f} {median * 1e3:9.1f} {args.batch / best[name]:9.1f} "
              f"{gflops:8.1f} {gflops / peak:8.0%}")
    fused_ratio = best["vit_edu fused"] / best["transformers sdpa"]
    attention_ratio = best["vit_edu attention"] / best["vit_edu fused"]
    share = flops / best["vit_edu fused"] / 1e9 / peak
    print(f"vit_edu_fused/transformers = {fused_ratio:.2f} (target <= {FUSED_TARGET}) "
          f"{verdict(fused_ratio, FUSED_TARGET)}; attention/fused = {attention_ratio:.2f} "
          f"(target <= {ATTENTION_TARGET}) {verdict(attention_ratio, ATTENTION_TARGET)}; "
          f"fused at {share:.0%} of matmul peak")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
