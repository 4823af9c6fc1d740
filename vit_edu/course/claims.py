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
outside the range, so no tolerance is so wide that the check cannot fail; ``tests/course/test_claims.py``
checks both properties against the measured table. A claim is written with the function of its kind
(:func:`fraction`, :func:`holds`, :func:`cosine`, :func:`magnitude`, :func:`within`,
:func:`difference`), which fixes the values it can take and, where the kind implies it, the null.

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

DIGITS_CHANCE = 1 / 10  # the accuracy of a guess among the ten digits
SHAPES_CHANCE = 1 / 4  # among the four shapes


# The kinds of claims the lessons make: each fixes the limits and, where it can, the null value.
def fraction(low: float, high: float, says: str, *, null: float) -> Claim:
    """An accuracy, share or proportion, in [0, 1]."""
    return Claim(low, high, says, null, limits=FRACTION)


def holds(says: str) -> Claim:
    """A finding measured as 1 where it holds and 0 where it does not; it must hold."""
    return Claim(1.0, 1.0, says, null=0.0, limits=FRACTION)


def cosine(low: float, high: float, says: str, *, null: float) -> Claim:
    """A cosine similarity, in [-1, 1]."""
    return Claim(low, high, says, null, limits=COSINE)


def magnitude(low: float, high: float, says: str, *, null: float = 0.0) -> Claim:
    """A distance, norm, absolute difference or ratio of distances, >= 0; the default null is no change at all."""
    return Claim(low, high, says, null, limits=NONNEGATIVE)


def within(tolerance: float, says: str) -> Claim:
    """A live accuracy that repeats a recorded one: |live - recorded| <= tolerance.

    The null, 0.5, is half the range an accuracy can take: a run that reproduces nothing.
    """
    return Claim(0.0, tolerance, says, null=0.5, limits=NONNEGATIVE)


def difference(low: float, high: float, says: str, *, null: float = 0.0) -> Claim:
    """A signed difference of two measurements (one model ahead of another); the default null is no difference."""
    return Claim(low, high, says, null)


def _claims(topic: str, **claims: Claim) -> dict[str, Claim]:
    return {f"{topic}.{name}": claim for name, claim in claims.items()}


CLAIMS: dict[str, Claim] = {
    # The class-token-and-positions lesson: a digits ViT (P = 2, D = 64, L = 4) trained for 10 epochs.
    **_claims(
        "positions",
        class_token_output_change=magnitude(0.5, 50.0, "the class token enters the same for every image and leaves "
                                            "different (max abs difference of two images' outputs)"),
        cls_accuracy=fraction(0.8, 1.0, "the model trained with pool='cls' classifies the test digits",
                              null=DIGITS_CHANCE),
        mean_pool_accuracy=fraction(0.3, 1.0, "pool='mean' with the same weights stays well above chance",
                                    null=DIGITS_CHANCE),
        mean_pool_cost=difference(-0.05, 0.3, "pool='mean' with the weights trained for 'cls' loses at most a few "
                                  "points (it could have dropped to chance)", null=0.8),
        cls_mean_cosine=cosine(0.5, 1.0, "the class token's output points nearly the same way as the mean patch "
                               "output", null=0.0),
        shuffle_class_output_change=magnitude(0.5, 50.0, "with positions, shuffling the patches changes the class "
                                              "token's output"),
        shuffled_accuracy=fraction(0.0, 0.2, "on shuffled digits the trained model drops to about chance", null=0.9),
        random_similarity_by_distance=magnitude(0.0, 0.3, "random position embeddings show no structure by "
                                                "distance", null=0.5),
        neighbour_similarity=cosine(-1.0, 0.3, "neighbouring patches' embeddings are hardly more alike than far "
                                    "ones (no neighbour bump)", null=0.5),
        far_corners_most_alike=holds("the opposite corners are the most alike"),
        side_middle_separation=difference(0.1, 2.0, "side patches resemble side patches and middle patches middle "
                                          "ones, and the two groups point apart"),
        side_middle_similarity=cosine(-1.0, 0.0, "after training, side and middle patches' embeddings point apart "
                                      "(negative similarity)", null=0.3),
        random_group_similarity=magnitude(0.0, 0.1, "at random init the group similarities are all about 0",
                                          null=0.3),
        closest_to_side_patch_is_side=holds("a side patch's closest embedding is another side patch"),
        resampled_gain=difference(0.2, 1.0, "at 12 px, resampled position embeddings beat none by far"),
    ),
    # The training lesson: the course's digits recipe (40 epochs) and 5-epoch variants of it.
    **_claims(
        "training",
        digits_accuracy=fraction(0.95, 1.0, "the digits recipe reaches about 97% test accuracy (96-98% across "
                                 "seeds)", null=DIGITS_CHANCE),
        digits_loss_above_floor=magnitude(0.0, 0.1, "the training loss levels off just above the label-smoothing "
                                          "floor", null=1.8),
        digits_overfitting_gap=difference(0.001, 0.1, "at the end the training accuracy is above the test accuracy"),
        digits_worst_class_recall=fraction(0.8, 1.0, "the diagonal dominates the confusion matrix: every digit is "
                                           "mostly read right", null=DIGITS_CHANCE),
        shapes_checkpoint_reproduces=within(0.002, "the shipped shapes model re-evaluates to the accuracy recorded "
                                            "when it was trained"),
        shapes_accuracy=fraction(0.95, 1.0, "the shapes model reaches the course's target of 95%",
                                 null=SHAPES_CHANCE),
        short_shallower_gain=difference(0.001, 0.3, "on a 5-epoch budget the shallower model (L = 2) is ahead"),
        short_small_patch_loss=difference(0.001, 0.6, "on a 5-epoch budget 16 small patches (P = 2) learn more "
                                          "slowly than 4 big ones"),
    ),
    # The inductive-bias lesson: the 10% digits row of the data-efficiency table (CNN, hybrid, ViT), re-run live.
    **_claims(
        "inductive_bias",
        live_cnn_vs_table=within(0.02, "the live CNN lands within about a point of the committed table"),
        live_vit_vs_table=within(0.08, "the live ViT lands within several points of the committed table"),
        live_hybrid_vs_table=within(0.08, "the live hybrid lands within several points of the committed table"),
        trained_shift_error_with_positions=magnitude(0.05, 10.0, "with learned position embeddings a one-patch "
                                                     "shift changes the trained ViT's output tokens"),
        trained_vit_predictions_changed=fraction(0.1, 1.0, "many of the trained ViT's predictions change when the "
                                                 "digits move by one pixel", null=0.0),
        cnn_keeps_more_predictions=difference(0.05, 1.0, "the CNN keeps more of its predictions than the ViT under "
                                              "a one-pixel shift"),
        attention_distance_vs_uniform=magnitude(0.5, 1.2, "every head of the trained ViT reaches across the image "
                                                "from the first layer on (its distance / uniform attention's)",
                                                null=0.25),
    ),
    # The transfer lesson: the committed pre-trained ViT, the 20-labels row of the transfer table and the 1k ViT
    # point of the data-scale sweep, live.
    **_claims(
        "transfer",
        pretrained_reproduces=within(0.005, "the committed pre-trained model re-evaluates to its recorded accuracy"),
        live_vs_table=within(0.08, "each live run lands within a few points of the committed table"),
        live_finetune_gain=difference(0.1, 1.0, "fine-tuning the pre-trained ViT beats training it from scratch"),
        ridge_fewshot=fraction(0.2, 0.4, "closed-form ridge on the pre-trained ViT's frozen features reads digits "
                               "from 10 labels per class, far above chance", null=DIGITS_CHANCE),
        crossover_live_vs_table=within(0.08, "the live pre-training point lands within a few points of the "
                                       "committed sweep"),
    ),
    # The inside-the-model lesson: the sanity check on the committed shapes model, block 3 re-initialised with the
    # lesson's seed; Spearman's rho with the trained map, mean over 32 held-out shapes (a rho is a cosine of
    # centred ranks, hence its kind). A map that ignored block 3 would keep rho = 1.
    **_claims(
        "inside_the_model",
        raw_after_top_block=cosine(-0.5, 0.6, "re-initialising block 3 replaces the last layer's attention map",
                                   null=1.0),
        rollout_after_top_block=cosine(0.9, 1.0, "rollout hardly notices a re-initialised block 3", null=0.0),
        gradient_after_top_block=cosine(0.4, 0.92, "the gradient-weighted map changes clearly when block 3 is "
                                        "re-initialised, but keeps part of its ranking", null=1.0),
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
