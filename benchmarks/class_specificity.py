"""What can a class-specific map do that rollout cannot? Ask each method about both objects of two-object scenes.

    python benchmarks/class_specificity.py            # -> benchmarks/results/class_specificity.json
    python benchmarks/class_specificity.py --force    # replace it
    python benchmarks/class_specificity.py --scenes 50 --out /tmp/try.json

Loads the committed two-object ViT (``vit_edu.training.multilabel.load_two_object_model``), draws held-out
scenes (a seed that neither its training nor its test split used) and runs
``vit_edu.analysis.class_specificity.class_specificity``: for every (scene, asked class) pair, raw last-layer
attention, rollout (discard 0.9, as the attention-maps lesson), gradient-weighted attention for the asked class
and attention flow; pointing at the asked object, at the other one, and whether the map puts more mass on the
asked object than on the other ("moves"). Class-agnostic methods give one map for both questions, so they score
``moves`` = 0.5 and ``pointing`` = ``pointing_other`` <= 0.5 by construction; the table measures it.
An existing result file is not overwritten without ``--force``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
RESULT = ROOT / "benchmarks" / "results" / "class_specificity.json"
HELD_OUT_SEED = 1001  # the model trains on seed 0 and is tested on seed 1; train_two_object_model.py uses 101


def main() -> int:
    from vit_edu.analysis.class_specificity import class_specificity, default_methods, format_class_specificity
    from vit_edu.training.multilabel import load_two_object_model, two_object_model_info, two_object_scenes

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=300)
    parser.add_argument("--seed", type=int, default=HELD_OUT_SEED, help="seed of the held-out scenes")
    parser.add_argument("--discard-ratio", type=float, default=0.9)
    parser.add_argument("--no-flow", action="store_true", help="leave out attention flow (the slowest method)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULT)
    parser.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    args = parser.parse_args()
    if args.scenes < 1 or args.threads < 1:
        parser.error("--scenes and --threads must be positive integers.")
    if args.seed in (0, 1):
        parser.error("--seed 0 and 1 are the model's training and test scenes; choose another seed.")
    if args.out.exists() and not args.force:
        parser.error(f"{args.out} exists; pass --force to overwrite it or --out to write elsewhere.")
    torch.set_num_threads(args.threads)
    start = time.perf_counter()

    model = load_two_object_model()
    info = two_object_model_info()
    scenes = two_object_scenes(args.scenes, args.seed)
    methods = default_methods(args.discard_ratio, flow=not args.no_flow)
    result = class_specificity(model, scenes, methods)
    seconds = time.perf_counter() - start
    print(format_class_specificity(result))
    print(f"\n{seconds:.0f} s with {args.threads} thread(s), load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} CPUs")

    table = {
        "settings": {"scenes": args.scenes, "seed": args.seed, "discard_ratio": args.discard_ratio,
                     "methods": list(methods), "threads": args.threads,
                     "model": {key: info[key] for key in ("test_accuracy", "seed", "data_seed", "epochs")
                               if key in info}},
        "machine": {"torch": torch.__version__, "platform": platform.platform(), "cpus": os.cpu_count()},
        "date": datetime.date.today().isoformat(),
        "seconds": round(seconds, 1),
        **result.as_dict(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(table, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
