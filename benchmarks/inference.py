"""CPU inference speed of vit_edu against Hugging Face ``transformers`` (issue 3, "Benchmark").

Three forward passes of the same network (default S/16 at 224 px, batch 8, 2 threads, eval mode,
``torch.inference_mode()``), timed interleaved in one process, best of ``--rounds`` each:

- ``vit_edu fused``: ``ViT.from_config(preset(...))``, attention through SDPA;
- ``vit_edu attention``: the same model with ``return_attention=True`` (manual attention that
  materialises the (B, k, T, T) weights of every layer);
- ``transformers``: ``ViTForImageClassification`` (sdpa) of the same config holding *our* weights;
  its logits are checked against ours (max abs diff <= 1e-4) before anything is timed.

A fp32 matmul (n = 2048, 2 n^3 FLOPs) is timed in the same rounds as the machine's peak. The last
line gives the ratios and PASS/FAIL against the targets (fused/transformers <= 1.0,
attention/fused <= 1.2). The exit code is 0 whether or not a target is met (this is a benchmark,
not a test); a failed weight-copy check is an error, since the comparison would be meaningless.

    python benchmarks/inference.py [--rounds 10] [--batch 8] [--preset S/16]
"""

from __future__ import annotations

import argparse

import torch
from torch import nn

import vit_edu
from vit_edu import ViT

try:  # `python -m benchmarks.inference` from the repo root
    from benchmarks.common import interleaved_best_of, machine_load, matmul_task
except ImportError:  # `python benchmarks/inference.py`
    from common import interleaved_best_of, machine_load, matmul_task

FUSED_TARGET = 1.0  # vit_edu fused / transformers
ATTENTION_TARGET = 1.2  # vit_edu with attention / vit_edu fused
LOGIT_TOLERANCE = 1e-4


@torch.no_grad()
def to_transformers(model: ViT) -> nn.Module:
    """A ``transformers.ViTForImageClassification`` (sdpa, eval mode) holding ``model``'s weights.

    Only for the class-token pool with a head and one image size (what HF's ViT supports).
    """
    from transformers import ViTConfig as HFViTConfig
    from transformers import ViTForImageClassification

    cfg = model.config
    if cfg.pool != "cls" or cfg.num_classes == 0 or cfg.inner_dim != cfg.dim:
        raise ValueError("to_transformers needs pool='cls', num_classes > 0 and dim_head = dim // heads.")
    if cfg.image_size[0] != cfg.image_size[1] or cfg.patch_size[0] != cfg.patch_size[1]:
        raise ValueError(f"to_transformers needs square images and patches, got {cfg.image_size}, {cfg.patch_size}.")
    hf_cfg = HFViTConfig(
        hidden_size=cfg.dim, num_hidden_layers=cfg.depth, num_attention_heads=cfg.heads,
        intermediate_size=cfg.mlp_dim, hidden_act="gelu", hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0, layer_norm_eps=cfg.layer_norm_eps, image_size=cfg.image_size[0],
        patch_size=cfg.patch_size[0], num_channels=cfg.channels, qkv_bias=True, num_labels=cfg.num_classes,
        attn_implementation="sdpa",
    )
    hf = ViTForImageClassification(hf_cfg).eval()
    ours = model.state_dict()
    proj_weight = ours["patch_embed.proj.weight"]
    if proj_weight.ndim == 2:  # linear form (D, P*P*C) -> conv form (D, C, P, P)
        p = cfg.patch_size[0]
        proj_weight = proj_weight.reshape(cfg.dim, p, p, cfg.channels).permute(0, 3, 1, 2)
    theirs = {
        "vit.embeddings.cls_token": ours["cls_token"],
        "vit.embeddings.position_embeddings": ours["pos_embed"],
        "vit.embeddings.patch_embeddings.projection.weight": proj_weight,
        "vit.embeddings.patch_embeddings.projection.bias": ours["patch_embed.proj.bias"],
        "vit.layernorm.weight": ours["norm.weight"],
        "vit.layernorm.bias": ours["norm.bias"],
        "classifier.weight": ours["head.weight"],
        "classifier.bias": ours["head.bias"],
    }
    for i in range(cfg.depth):
        src, dst = f"blocks.{i}.", f"vit.layers.{i}."
        for kind in ("weight", "bias"):
            q, k, v = ours[f"{src}attn.qkv.{kind}"].chunk(3, dim=0)  # rows ordered q, k, v
            theirs.update({
                f"{dst}attention.q_proj.{kind}": q,
                f"{dst}attention.k_proj.{kind}": k,
                f"{dst}attention.v_proj.{kind}": v,
                f"{dst}attention.o_proj.{kind}": ours[f"{src}attn.proj.{kind}"],
                f"{dst}layernorm_before.{kind}": ours[f"{src}norm1.{kind}"],
                f"{dst}layernorm_after.{kind}": ours[f"{src}norm2.{kind}"],
                f"{dst}mlp.fc1.{kind}": ours[f"{src}mlp.fc1.{kind}"],
                f"{dst}mlp.fc2.{kind}": ours[f"{src}mlp.fc2.{kind}"],
            })
    # strict: every HF parameter must be set, and every name above must exist in HF's model
    hf.load_state_dict({name: tensor.contiguous() for name, tensor in theirs.items()}, strict=True)
    return hf


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=10, help="timed rounds, best-of (default 10)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed rounds first (default 2)")
    parser.add_argument("--batch", type=int, default=8, help="images per forward pass (default 8)")
    parser.add_argument("--preset", default="S/16", help=f"one of {', '.join(vit_edu.PRESET_NAMES)} (default S/16)")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    parser.add_argument("--matmul-n", type=int, default=2048, help="matmul peak size n (default 2048)")
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
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cfg = vit_edu.preset(args.preset)
    model = ViT.from_config(cfg, seed=0).eval()
    hf = to_transformers(model)
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
