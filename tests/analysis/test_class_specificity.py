"""Class specificity: maps with known answers, a brute-force reference, the class-agnostic invariants on a tiny ViT."""

import math

import pytest
import torch

from vit_edu.analysis.attention_metrics import mask_to_patch_mask
from vit_edu.analysis.class_specificity import (
    CHANCE,
    FLOW,
    GRADIENT,
    METRICS,
    RAW,
    ClassSpecificity,
    class_specificity,
    default_methods,
    format_class_specificity,
    rollout_name,
    specificity_scores,
)
from vit_edu.data.two_objects import make_two_object_scenes

PATCH = 4


@pytest.fixture(scope="module")
def scenes():
    return make_two_object_scenes(12, image_size=16, seed=7, object_size=(3.5, 5.0))


@pytest.fixture(scope="module")
def patch_masks(scenes):
    return mask_to_patch_mask(scenes.masks.flatten(0, 1), PATCH).reshape(len(scenes.images), 2, -1)  # (B, 2, N)


@pytest.fixture
def model(tiny_vit):
    return tiny_vit(num_classes=4).eval()


def brute_force(maps_first, maps_second, patch_masks):
    """The definitions, one (image, asked object) pair at a time, in plain Python."""
    sums = dict.fromkeys(METRICS, 0.0)
    energy_pairs = {"energy": 0, "energy_other": 0}
    batch, num_patches = maps_first.shape
    for i in range(batch):
        maps = (maps_first[i].tolist(), maps_second[i].tolist())
        moved = []
        for j in (0, 1):
            values, asked, other = maps[j], patch_masks[i, j].tolist(), patch_masks[i, 1 - j].tolist()
            top = max(values)
            tied = [p for p in range(num_patches) if values[p] == top]
            sums["pointing"] += sum(asked[p] for p in tied) / len(tied)
            sums["pointing_other"] += sum(other[p] for p in tied) / len(tied)
            mass = [max(v, 0.0) for v in values]
            on_asked = sum(m for m, a in zip(mass, asked) if a)
            on_other = sum(m for m, o in zip(mass, other) if o)
            moved.append(1.0 if on_asked > on_other else 0.5 if on_asked == on_other else 0.0)
            if sum(mass) > 0:
                sums["energy"] += on_asked / sum(mass)
                sums["energy_other"] += on_other / sum(mass)
                energy_pairs["energy"] += 1
                energy_pairs["energy_other"] += 1
        sums["moves"] += sum(moved)
        sums["both_move"] += moved == [1.0, 1.0]
        dists = []
        for values in maps:
            mass = [max(v, 0.0) for v in values]
            total = sum(mass)
            dists.append([m / total for m in mass] if total > 0 else [1 / num_patches] * num_patches)
        sums["map_change"] += 0.5 * sum(abs(a - b) for a, b in zip(*dists))
    return {"pointing": sums["pointing"] / (2 * batch), "pointing_other": sums["pointing_other"] / (2 * batch),
            "moves": sums["moves"] / (2 * batch), "both_move": sums["both_move"] / batch,
            "energy": sums["energy"] / energy_pairs["energy"] if energy_pairs["energy"] else math.nan,
            "energy_other": sums["energy_other"] / energy_pairs["energy_other"] if energy_pairs["energy"] else math.nan,
            "map_change": sums["map_change"] / batch}


# ----------------------------------------------------------------------------- the scores, on synthetic maps


def test_a_map_of_the_asked_object_scores_one(patch_masks):
    first, second = patch_masks[:, 0].float(), patch_masks[:, 1].float()
    scores = specificity_scores(first, second, patch_masks)
    shared = (patch_masks[:, 0] & patch_masks[:, 1]).any()
    assert not shared  # these 12 scenes have disjoint patch masks, so the answers below are exact
    assert scores["pointing"] == 1.0 and scores["moves"] == 1.0 and scores["both_move"] == 1.0
    assert scores["pointing_other"] == 0.0 and scores["energy"] == 1.0 and scores["energy_other"] == 0.0
    assert scores["map_change"] == pytest.approx(1.0)  # disjoint supports


def test_a_map_of_the_other_object_scores_zero(patch_masks):
    scores = specificity_scores(patch_masks[:, 1].float(), patch_masks[:, 0].float(), patch_masks)
    assert scores["pointing"] == 0.0 and scores["moves"] == 0.0 and scores["both_move"] == 0.0
    assert scores["pointing_other"] == 1.0 and scores["energy_other"] == 1.0


@pytest.mark.parametrize("which", [0, 1])
def test_a_class_agnostic_map_scores_one_half_by_construction(patch_masks, which):
    """The same map for both questions, here object 0's (or 1's) mask: right for one question, wrong for the other."""
    same = patch_masks[:, which].float()
    scores = specificity_scores(same, same, patch_masks)
    assert scores["pointing"] == 0.5 and scores["pointing_other"] == 0.5
    assert scores["moves"] == 0.5 and scores["both_move"] == 0.0 and scores["map_change"] == 0.0


def test_random_class_agnostic_maps_keep_the_invariants(patch_masks):
    generator = torch.Generator().manual_seed(0)
    same = torch.randn(patch_masks.shape[0], patch_masks.shape[2], generator=generator)
    scores = specificity_scores(same, same, patch_masks)
    assert scores["moves"] == 0.5 and scores["both_move"] == 0.0 and scores["map_change"] == 0.0
    assert scores["pointing"] == pytest.approx(scores["pointing_other"]) and scores["pointing"] <= 0.5
    assert scores["energy"] == pytest.approx(scores["energy_other"])


def test_scores_equal_the_brute_force_definitions(patch_masks):
    generator = torch.Generator().manual_seed(1)
    shape = (patch_masks.shape[0], patch_masks.shape[2])
    first, second = torch.randn(shape, generator=generator), torch.randn(shape, generator=generator)
    first[0] = 0.0  # no positive mass: energy skips it, the map counts as uniform for map_change
    second[1, :] = second[1].max()  # a full tie: pointing shares the point
    first[2] = first[2].round()  # partial ties
    ours, reference = specificity_scores(first, second, patch_masks), brute_force(first, second, patch_masks)
    for metric in METRICS:
        assert ours[metric] == pytest.approx(reference[metric], abs=1e-6), metric


def test_scores_reject_bad_input(patch_masks):
    maps = patch_masks[:, 0].float()
    with pytest.raises(ValueError, match="patch_masks must be a bool tensor"):
        specificity_scores(maps, maps, patch_masks.float())
    with pytest.raises(ValueError, match="patch_masks must be a bool tensor"):
        specificity_scores(maps, maps, patch_masks[:, 0])
    with pytest.raises(ValueError, match="maps_second must be a float tensor"):
        specificity_scores(maps, maps[:, :-1], patch_masks)
    with pytest.raises(ValueError, match="maps_first contains NaN"):
        specificity_scores(torch.full_like(maps, math.nan), maps, patch_masks)


# ----------------------------------------------------------------------------- with a model


def test_fake_methods_through_class_specificity(model, scenes, patch_masks):
    """A method that returns the asked object's patches scores 1 through the whole pipeline (the asked class is
    routed to the right object), one that ignores the asked class scores one half."""
    def index_of(images):
        return [int((scenes.images == image).flatten(1).all(dim=1).nonzero()[0]) for image in images]

    def oracle(model, images, asked):
        rows = index_of(images)
        which = (scenes.classes[rows] == asked[:, None]).int().argmax(dim=1)  # the object of the asked class
        return patch_masks[rows, which].float()

    def agnostic(model, images, asked):
        return patch_masks[index_of(images), 0].float()

    result = class_specificity(model, scenes, {"oracle": oracle, "agnostic": agnostic}, batch_size=5)
    assert list(result.scores) == ["oracle", "agnostic", CHANCE]
    assert result.scores["oracle"]["pointing"] == 1.0 and result.scores["oracle"]["both_move"] == 1.0
    assert result.scores["agnostic"]["pointing"] == 0.5 and result.scores["agnostic"]["moves"] == 0.5
    chance = result.scores[CHANCE]
    fraction = patch_masks.float().mean(dim=2).mean().item()  # mean share of patches on an object
    assert chance["pointing"] == pytest.approx(fraction) and chance["moves"] == 0.5
    assert result.images == 12 and result.shared_patches == 0.0 and 0.0 <= result.model_accuracy <= 1.0


def test_builtin_methods_on_a_tiny_vit(model, scenes):
    """Raw attention, rollout and attention flow ignore the asked class; gradient-weighted attention does not."""
    result = class_specificity(model, scenes, batch_size=8)
    assert list(result.scores) == [RAW, rollout_name(0.9), GRADIENT, FLOW, CHANCE]
    for name in (RAW, rollout_name(0.9), FLOW):
        row = result.scores[name]
        assert row["map_change"] == 0.0 and row["moves"] == 0.5 and row["both_move"] == 0.0, name
        assert row["pointing"] == pytest.approx(row["pointing_other"]) and row["pointing"] <= 0.5, name
    assert result.scores[GRADIENT]["map_change"] > 0.05  # even an untrained model's class logits differ
    text = format_class_specificity(result)
    assert all(name in text for name in result.scores) and all(metric in text for metric in METRICS)
    assert "12 scenes, 24 (scene, asked class) pairs" in text
    assert isinstance(result.as_dict()["scores"][GRADIENT]["pointing"], float)


def test_gradient_method_follows_the_target_class(model, scenes):
    """The built-in gradient method passes the asked class on: its map equals the reference call for that class."""
    from vit_edu.analysis.attention_maps import class_token_map, gradient_weighted_attention

    method = default_methods(flow=False)[GRADIENT]
    asked = scenes.classes[:4, 1]
    expected = class_token_map(gradient_weighted_attention(model, scenes.images[:4], target_class=asked))
    assert torch.allclose(method(model, scenes.images[:4], asked), expected)


def test_class_specificity_rejects_bad_input(model, scenes):
    with pytest.raises(TypeError, match="scenes must be TwoObjectScenes"):
        class_specificity(model, (scenes.images, scenes.classes))
    with pytest.raises(ValueError, match="unknown methods"):
        class_specificity(model, scenes, ["grad-cam"])
    with pytest.raises(TypeError, match="methods must be None"):
        class_specificity(model, scenes, "rollout")
    with pytest.raises(ValueError, match="methods is empty"):
        class_specificity(model, scenes, {})
    with pytest.raises(TypeError, match="methods must map names"):
        class_specificity(model, scenes, {"x": 3})
    with pytest.raises(ValueError, match="method 'flat' must return a float tensor"):
        class_specificity(model, scenes, {"flat": lambda m, images, asked: torch.zeros(len(images), 3)})
    with pytest.raises(TypeError, match="model must be a vit_edu ViT"):
        class_specificity(torch.nn.Linear(2, 2), scenes)
    with pytest.raises(ValueError, match="batch_size"):
        class_specificity(model, scenes, [RAW], batch_size=0)
    with pytest.raises(ValueError, match="discard_ratio"):
        default_methods(discard_ratio=1.0)
    with pytest.raises(TypeError, match="result must be a ClassSpecificity"):
        format_class_specificity({"rollout": {}})
    assert ClassSpecificity  # the result type is public
