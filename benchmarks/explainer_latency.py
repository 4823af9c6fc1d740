"""Latency of the ViT explainer: from a choice to the new PNG being set on the widget.

Drives ``explainer_widget`` as the browser does, without a browser: a click sets the ClickableImage's
``click`` traitlet (a stage, a patch, a head thumbnail, a logit-lens column), a control sets its
``value`` (the map kind); the clock stops when the new PNG lands in the synced ``png`` traitlet.
Targets: median <= 50 ms for every click and map change, <= 300 ms for an image seen the first time
(one forward pass, attention flow and one gradient map per class), on the committed shapes model.

    python benchmarks/explainer_latency.py [--rounds 30] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

CLICK_MS, NEW_IMAGE_MS = 50.0, 300.0


def build_widget(images: int):
    from vit_edu.data import SHAPE_CLASSES
    from vit_edu.training.recipes import course_shapes, load_course_model
    from vit_edu.widgets.vit_explainer import ExplainerState, explainer_widget

    data = course_shapes(images, seed=4242)
    state = ExplainerState(load_course_model("shapes"), data.images, SHAPE_CLASSES)
    return explainer_widget(state, bundle=False)  # the static-site data is not what a click waits for


def centre(view, ax, x: float, y: float) -> dict:
    """The PNG pixel of data point (x, y) of ``ax``, as a click the browser would send."""
    px, py = ax.transData.transform((x, y))
    return {"x": float(px), "y": view.figure.canvas.get_width_height()[1] - float(py)}


def measure(box, rounds: int, new_images: list[int]) -> dict[str, list[float]]:
    """name -> wall-clock seconds, one per round."""
    from vit_edu.analysis.forward_trace import MAP_KINDS, STAGES

    canvas, view, state = box.canvas, box.view, box.state
    view.figure.canvas.draw()
    stamp: dict[str, float] = {}
    canvas.observe(lambda _change: stamp.__setitem__("t", time.perf_counter()), names="png")
    gh, gw = state.grid_size
    count = 0

    def timed(widget, trait: str, value) -> float:
        stamp.clear()
        start = time.perf_counter()
        setattr(widget, trait, value)
        if "t" not in stamp:
            raise RuntimeError(f"no new PNG after setting {trait} = {value!r}")
        return stamp["t"] - start

    def click(ax, x: float, y: float) -> float:
        nonlocal count
        count += 1
        return timed(canvas, "click", {**centre(view, ax, x, y), "count": count})

    results: dict[str, list[float]] = {name: [] for name in ("stage", "patch", "head", "lens layer", "map")}
    others = [index for index, stage in enumerate(STAGES) if stage != "blocks"]  # a head click selects "blocks"
    for i in range(rounds):
        results["stage"].append(click(view.ax_stages, others[i % len(others)] + 0.5, 0.5))
        row, col = divmod((7 * i + 3) % (gh * gw), gw)
        results["patch"].append(click(view.ax_image, col * state.patch_size + 1, row * state.patch_size + 1))
        layer, head = i % state.num_layers, (i // state.num_layers) % state.num_heads
        results["head"].append(click(view.ax_heads, head * (gw + 1) + 1, layer * (gh + 1) + 1))
        results["lens layer"].append(click(view.ax_lens, (i + 1) % state.num_layers, 0))
        kind = MAP_KINDS[(MAP_KINDS.index(box.controls["map"].value) + 1) % len(MAP_KINDS)]
        results["map"].append(timed(box.controls["map"], "value", kind))
    results["new image"] = [timed(box.controls["image"], "value", index) for index in new_images]
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (tiny models: one is fastest)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    box = build_widget(images=2 + args.rounds)
    measure(box, 3, [1])  # warm-up: caches, allocator, font glyphs
    results = measure(box, args.rounds, list(range(2, 2 + args.rounds)))
    print(f"ViT explainer latency, {args.rounds} rounds, {args.threads} thread(s), committed shapes model, "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    passed = True
    for name, seconds in results.items():
        target = NEW_IMAGE_MS if name == "new image" else CLICK_MS
        median, p90 = 1e3 * statistics.median(seconds), 1e3 * sorted(seconds)[int(0.9 * len(seconds))]
        passed &= median <= target
        print(f"  {name:12s} median {median:7.1f} ms  (p90 {p90:7.1f} ms)  target <= {target:.0f} ms  "
              f"{'PASS' if median <= target else 'FAIL'}")
    print("ALL TARGETS MET" if passed else "SOME TARGETS MISSED")
    return 0 if passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
