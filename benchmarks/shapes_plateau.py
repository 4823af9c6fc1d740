"""How long do the course ViT and a small CNN stay at chance on the grey-clutter shapes?

A small ViT (the course architecture: P = 4, D = 64, L = 4, k = 4) can stay at the chance loss
ln 4 = 1.386 for hundreds of steps on ``make_shapes(clutter="grey")``, while a small CNN with the
same optimiser leaves it at once. This script measures that, so that changes to the data or the
recipe can be judged by numbers: both models see the same batches (AdamW, constant learning rate,
no augmentation), and the script prints the mean training loss per tenth of the run, the test
accuracy and the time.

    python benchmarks/shapes_plateau.py [--steps 600] [--train 4000] [--lr 1e-3] [--threads 2]
                                        [--object-size 3.5 5.5] [--no-rotate] [--blobs 4] [--lines 3]
                                        [--hue-range 0 360] [--weight-init timm|jax] [--scale-inputs]

The object's hue is what keeps the ViT at chance (see benchmarks/README.md): compare

    python benchmarks/shapes_plateau.py --object-size 5 7 --no-rotate --hue-range 0 360
    python benchmarks/shapes_plateau.py --object-size 5 7 --no-rotate --hue-range 0 60
"""

from __future__ import annotations

import argparse
import math
import time

import torch
import torch.nn.functional as F
from torch import nn

from vit_edu import ViT
from vit_edu.data import make_shapes
from vit_edu.training.cnn import SmallCNN
from vit_edu.training.loop import evaluate


def run(model: nn.Module, images, labels, test_images, test_labels, steps: int, batch: int, lr: float, seed: int):
    """Train ``model`` for ``steps`` steps on random batches; mean loss per tenth, test accuracy, seconds."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.05)
    generator = torch.Generator().manual_seed(seed)
    losses, start = [], time.perf_counter()
    model.train()
    for _ in range(steps):
        index = torch.randint(0, len(images), (batch,), generator=generator)
        loss = F.cross_entropy(model(images[index]), labels[index])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    seconds = time.perf_counter() - start
    tenth = max(1, steps // 10)
    curve = [sum(losses[i:i + tenth]) / len(losses[i:i + tenth]) for i in range(0, steps, tenth)]
    return curve, evaluate(model, test_images, test_labels), seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--train", type=int, default=4000, help="training images")
    parser.add_argument("--test", type=int, default=1000, help="test images")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--object-size", type=float, nargs=2, default=(3.5, 5.5))
    parser.add_argument("--no-rotate", action="store_true")
    parser.add_argument("--blobs", type=int, default=4)
    parser.add_argument("--lines", type=int, default=3)
    parser.add_argument("--hue-range", type=float, nargs=2, default=(0.0, 360.0), help="object hues, degrees")
    parser.add_argument("--weight-init", choices=("timm", "jax"), default="timm", help="the ViT's initialisation")
    parser.add_argument("--scale-inputs", action="store_true", help="feed both models 2 x - 1 (in [-1, 1])")
    args = parser.parse_args(argv)
    for name in ("steps", "batch", "train", "test", "threads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1, got {getattr(args, name)}.")
    torch.set_num_threads(args.threads)
    options = dict(object_size=tuple(args.object_size), rotate=not args.no_rotate, num_blobs=args.blobs,
                   num_lines=args.lines, hue_range=tuple(args.hue_range))
    train_set = make_shapes(args.train, seed=0, **options)
    test_set = make_shapes(args.test, seed=1, **options)
    if args.scale_inputs:
        train_set = train_set._replace(images=2 * train_set.images - 1)
        test_set = test_set._replace(images=2 * test_set.images - 1)
    models = {
        "ViT (P=4, D=64, L=4, k=4)": ViT(image_size=32, patch_size=4, num_classes=4, dim=64, depth=4, heads=4,
                                         mlp_dim=128, seed=0, weight_init=args.weight_init),
        "CNN (3 conv, width 32, pool)": SmallCNN(channels=3, num_classes=4, width=32, depth=3, pool_every=1, seed=0),
    }
    print(f"ViT init {args.weight_init}, inputs in {'[-1, 1]' if args.scale_inputs else '[0, 1]'}")
    print(f"shapes grey clutter {options}, {args.train} train / {args.test} test images, {args.steps} steps of "
          f"{args.batch}, AdamW lr {args.lr:g}, {args.threads} threads; chance loss ln 4 = {math.log(4):.3f}")
    for name, model in models.items():
        curve, accuracy, seconds = run(model, train_set.images, train_set.labels, test_set.images, test_set.labels,
                                       args.steps, args.batch, args.lr, seed=0)
        params = sum(p.numel() for p in model.parameters())
        print(f"{name:30s} {params:7,d} params  loss per tenth: {' '.join(f'{v:.2f}' for v in curve)}  "
              f"test {accuracy:.1%}  {seconds:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
