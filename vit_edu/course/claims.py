"""The numeric claims the lessons make about trained models, with tolerances measured across CPUs.

A trained number is not the same on every machine: the same seed gives other floats on another
CPU (PyTorch, MKL and oneDNN pick other vector kernels) and training amplifies the last bits. So a
lesson does not compare such a number as text; it states the claim once, here, and checks it with
one line::

    expect("positions.cls_accuracy", acc_cls)

Each :class:`Claim` gives the range the value must fall in. The ranges are set from the spread that
``benchmarks/lesson_claims.py`` measured (every lesson run with 3 seeds under native and emulated
CPU kernels; table in ``benchmarks/results/lesson_claims.json``), widened by a margin for machines
that cannot be emulated here (Apple silicon, Windows). Each claim also names a ``null`` value:
what the number would be if the claim were false (chance accuracy, no effect, ...). It lies
outside the range, so no tolerance is so wide that the check cannot fail; ``tests/test_claims.py``
checks both properties against the measured table.

Setting the environment variable ``VIT_EDU_CLAIMS_LOG`` to a file path appends every checked value
to that file (one JSON object per line); the benchmark reads it.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass

LOG_VARIABLE = "VIT_EDU_CLAIMS_LOG"
SPREAD_TABLE = "benchmarks/results/lesson_claims.json"


@dataclass(frozen=True)
class Claim:
    """A lesson's statement about a number: it lies in ``[low, high]``.

    Attributes:
        low, high: the accepted range (inclusive).
        says: the statement in the lesson's words.
        null: a value that would make the statement false (e.g. chance level); outside the range.
        limits: the values the quantity can take at all (an accuracy lies in [0, 1]); a bound at a
            limit needs no margin beyond the measured values.
    """

    low: float
    high: float
    says: str
    null: float
    limits: tuple[float, float] = (-math.inf, math.inf)


FRACTION = (0.0, 1.0)  # accuracies, shares, proportions; also a claim that holds (1) or not (0)
COSINE = (-1.0, 1.0)
NONNEGATIVE = (0.0, math.inf)  # distances, absolute differences, norms


def _claims(topic: str, **claims: Claim) -> dict[str, Claim]:
    return {f"{topic}.{name}": claim for name, claim in claims.items()}


CLAIMS: dict[str, Claim] = {
    # The class-token-and-positions lesson: a digits ViT (P = 2, D = 64, L = 4) trained for 10 epochs.
    **_claims(
        "positions",
        class_token_output_change=Claim(0.5, 50.0, "the class token enters the same for every image and leaves "
                                        "different (max abs difference of two images' outputs)",
                                        null=0.0, limits=NONNEGATIVE),
        cls_accuracy=Claim(0.8, 1.0, "the model trained with pool='cls' classifies the test digits",
                           null=0.1, limits=FRACTION),
        mean_pool_accuracy=Claim(0.3, 1.0, "pool='mean' with the same weights stays well above chance",
                                 null=0.1, limits=FRACTION),
        mean_pool_cost=Claim(-0.05, 0.3, "pool='mean' with the weights trained for 'cls' loses at most a few "
                             "points (it could have dropped to chance)", null=0.8),
        cls_mean_cosine=Claim(0.5, 1.0, "the class token's output points nearly the same way as the mean patch "
                              "output", null=0.0, limits=COSINE),
        shuffle_class_output_change=Claim(0.5, 50.0, "with positions, shuffling the patches changes the class "
                                          "token's output", null=0.0, limits=NONNEGATIVE),
        shuffled_accuracy=Claim(0.0, 0.2, "on shuffled digits the trained model drops to about chance",
                                null=0.9, limits=FRACTION),
        random_similarity_by_distance=Claim(0.0, 0.3, "random position embeddings show no structure by "
                                            "distance", null=0.5, limits=NONNEGATIVE),
        neighbour_similarity=Claim(-1.0, 0.3, "neighbouring patches' embeddings are hardly more alike than far "
                                   "ones (no neighbour bump)", null=0.5, limits=COSINE),
        far_corners_most_alike=Claim(1.0, 1.0, "the opposite corners are the most alike", null=0.0, limits=FRACTION),
        side_middle_separation=Claim(0.1, 2.0, "side patches resemble side patches and middle patches middle "
                                     "ones, and the two groups point apart", null=0.0),
        side_middle_similarity=Claim(-1.0, 0.0, "after training, side and middle patches' embeddings point apart "
                                     "(negative similarity)", null=0.3, limits=COSINE),
        random_group_similarity=Claim(0.0, 0.1, "at random init the group similarities are all about 0",
                                      null=0.3, limits=NONNEGATIVE),
        closest_to_side_patch_is_side=Claim(1.0, 1.0, "a side patch's closest embedding is another side patch",
                                            null=0.0, limits=FRACTION),
        resampled_gain=Claim(0.2, 1.0, "at 12 px, resampled position embeddings beat none by far", null=0.0),
    ),
    # The training lesson: the course's digits recipe (40 epochs) and 5-epoch variants of it.
    **_claims(
        "training",
        digits_accuracy=Claim(0.95, 1.0, "the digits recipe reaches about 97% test accuracy (96-98% across seeds)",
                              null=0.1, limits=FRACTION),
        digits_loss_above_floor=Claim(0.0, 0.1, "the training loss levels off just above the label-smoothing floor",
                                      null=1.8, limits=NONNEGATIVE),
        digits_overfitting_gap=Claim(0.001, 0.1, "at the end the training accuracy is above the test accuracy",
                                     null=0.0),
        digits_worst_class_recall=Claim(0.8, 1.0, "the diagonal dominates the confusion matrix: every digit is "
                                        "mostly read right", null=0.1, limits=FRACTION),
        shapes_checkpoint_reproduces=Claim(0.0, 0.002, "the shipped shapes model re-evaluates to the accuracy "
                                           "recorded when it was trained", null=0.5, limits=NONNEGATIVE),
        shapes_accuracy=Claim(0.95, 1.0, "the shapes model reaches the course's target of 95%",
                              null=0.25, limits=FRACTION),
        short_shallower_gain=Claim(0.001, 0.3, "on a 5-epoch budget the shallower model (L = 2) is ahead", null=0.0),
        short_small_patch_loss=Claim(0.001, 0.6, "on a 5-epoch budget 16 small patches (P = 2) learn more slowly than "
                                     "4 big ones", null=0.0),
    ),
    # The inductive-bias lesson: the 10% digits row of the data-efficiency table, re-run live.
    **_claims(
        "inductive_bias",
        live_cnn_vs_table=Claim(0.0, 0.02, "the live CNN lands within about a point of the committed table",
                                null=0.5, limits=NONNEGATIVE),
        live_vit_vs_table=Claim(0.0, 0.08, "the live ViT lands within several points of the committed table",
                                null=0.5, limits=NONNEGATIVE),
        trained_shift_error_with_positions=Claim(0.05, 10.0, "with learned position embeddings a one-patch shift "
                                                 "changes the trained ViT's output tokens",
                                                 null=0.0, limits=NONNEGATIVE),
        trained_vit_predictions_changed=Claim(0.1, 1.0, "many of the trained ViT's predictions change when the "
                                              "digits move by one patch", null=0.0, limits=FRACTION),
        cnn_keeps_more_predictions=Claim(0.05, 1.0, "the CNN keeps more of its predictions than the ViT under a "
                                         "one-patch shift", null=0.0),
        attention_distance_vs_uniform=Claim(0.85, 1.1, "the trained ViT spreads its attention almost evenly over "
                                            "the image (every head's distance / uniform attention's)", null=0.25),
    ),
    # The transfer lesson: the committed pre-trained ViT and the 20-labels row of the transfer table, live.
    **_claims(
        "transfer",
        pretrained_reproduces=Claim(0.0, 0.005, "the committed pre-trained model re-evaluates to its recorded "
                                    "accuracy", null=0.5, limits=NONNEGATIVE),
        live_vs_table=Claim(0.0, 0.08, "each live run lands within a few points of the committed table",
                            null=0.5, limits=NONNEGATIVE),
        live_finetune_gain=Claim(0.1, 1.0, "fine-tuning the pre-trained ViT beats training it from scratch",
                                 null=0.0),
    ),
}


def expect(name: str, value: float) -> None:
    """Check a lesson's claim ``name`` about ``value`` (returns nothing, so a lesson cell shows no echo).

    Raises:
        ValueError: ``name`` is not a known claim.
        AssertionError: the value is outside the claim's range (a NaN always is).
    """
    if name not in CLAIMS:
        raise ValueError(f"unknown claim {name!r}; the claims are defined in vit_edu.course.claims.CLAIMS.")
    claim = CLAIMS[name]
    value = float(value)
    log = os.environ.get(LOG_VARIABLE)
    if log:
        with open(log, "a", encoding="utf-8") as file:
            file.write(json.dumps({"claim": name, "value": value if math.isfinite(value) else str(value)}) + "\n")
    if not claim.low <= value <= claim.high:
        raise AssertionError(
            f"claim {name!r} does not hold: {value:.4g} is outside [{claim.low:g}, {claim.high:g}]. The lesson says: "
            f"{claim.says} (the range covers the spread measured over seeds and CPUs in {SPREAD_TABLE})."
        )
