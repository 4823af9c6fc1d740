"""The attention-maps lesson's localisation numbers: the helpers on hand-made cases, and the targets
for the committed shapes model on held-out shapes (a smaller set than the benchmark's)."""

import numpy as np
import pytest
import torch

from vit_edu.analysis.attention_maps import attention_rollout, cls_attention
from vit_edu.analysis.attention_metrics import mask_to_patch_mask
from vit_edu.analysis.localisation import (
    GRADIENT,
    RAW,
    ROLLOUT,
    deletion_scores,
    depth_profile,
    discard_name,
    explanation_maps,
    localisation_scores,
)
from vit_edu.viz.attention import (
    attention_distance_figure,
    depth_profile_figure,
    head_grid_figure,
    method_comparison_figure,
)

HELD_OUT_SEED = 101  # as in the attention-maps lesson and benchmarks/attention_localisation.py


def test_scores_of_hand_made_maps():
    masks = torch.tensor([[True, False, False, False], [False, False, True, True]])  # chance 1/4 and 2/4
    maps = {
        "right": torch.tensor([[3.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0]]),  # energy 3/4 and 1
        "wrong": torch.tensor([[0.0, 2.0, 0.0, 0.0], [-5.0, 1.0, 0.0, 3.0]]),  # pointing 0 and 1; energy 0 and 3/4
    }
    table = localisation_scores(maps, masks)
    assert table["chance"] == {"pointing": 0.375, "energy": 0.375}
    assert table["right"] == pytest.approx({"pointing": 1.0, "energy": 0.875})
    assert table["wrong"] == pytest.approx({"pointing": 0.5, "energy": 0.375})


@pytest.mark.slow
def test_explanation_maps_and_depth_profile_match_direct_computation(tiny_vit):
    model = tiny_vit(image_size=16, patch_size=4, num_classes=3, depth=3, heads=2).eval()
    images = torch.rand(5, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    masks = torch.zeros(5, 16, 16, dtype=torch.bool)
    masks[:, 4:9, 2:6] = True
    patch_masks = mask_to_patch_mask(masks, 4)
    maps = explanation_maps(model, images, discard_ratio=0.5, batch_size=2)  # batches of 2, 2, 1
    assert list(maps) == [RAW, ROLLOUT, discard_name(0.5), GRADIENT]
    with torch.no_grad():
        attentions = model(images, return_attention=True)[1]
    torch.testing.assert_close(maps[RAW], attentions[-1].mean(dim=1)[:, 0, 1:])
    torch.testing.assert_close(maps[discard_name(0.5)], attention_rollout(attentions, "mean", 0.5)[:, 0, 1:])
    profile = depth_profile(model, images, patch_masks, discard_ratio=0.5, batch_size=3)
    for layer in range(3):
        raw = cls_attention(attentions, layer)
        top_on_object = patch_masks[torch.arange(5), raw.argmax(dim=-1)].float().mean()  # no ties in random weights
        assert profile["raw_pointing"][layer] == pytest.approx(top_on_object.item(), abs=1e-6)
        energy = ((raw * patch_masks).sum(-1) / raw.sum(-1)).mean()
        assert profile["raw_energy"][layer] == pytest.approx(energy.item(), abs=1e-6)
        head = cls_attention(attentions, layer, 1)
        assert profile["head_energy"][layer, 1] == pytest.approx(((head * patch_masks).sum(-1) / head.sum(-1))
                                                                .mean().item(), abs=1e-6)
    last = attention_rollout(attentions, "mean", 0.5)[:, 0, 1:]
    assert profile["rollout_energy"][-1] == pytest.approx(((last * patch_masks).sum(-1) / last.sum(-1)).mean().item(),
                                                          abs=1e-6)


def test_deletion_scores_have_a_random_baseline(tiny_vit):
    model = tiny_vit(image_size=16, patch_size=4, num_classes=3).eval()
    images = torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    scores = deletion_scores(model, images, {"ones": torch.ones(4, 16)}, steps=4, batch_size=3)
    assert set(scores) == {"ones", "random"} and all(0 <= v <= 1 for v in scores.values())


def test_figures_build(tiny_vit):
    images = torch.rand(2, 3, 16, 16)
    maps = torch.rand(3, 2, 16)
    grid = head_grid_figure(images[0], maps, (4, 4), title="t")
    assert len(grid.axes) == 3 * 4 + 1                                       # the panels and a colour bar
    assert [grid.axes[4 * layer].get_ylabel() for layer in range(3)] == ["layer 0", "layer 1", "layer 2"]
    assert grid.axes[-1].get_ylabel() == "attention weight of the class token"   # the real weights ...
    assert grid.axes[-1].get_ylim()[1] == pytest.approx(float(maps.max()))       # ... up to the largest one
    own_scale = head_grid_figure(images[0], maps, (4, 4), shared_scale=False)
    assert "largest" in own_scale.axes[-1].get_ylabel() and own_scale.axes[-1].get_ylim()[1] == 1.0
    compared = method_comparison_figure(images, {"a": torch.rand(2, 16), "b": torch.rand(2, 16)}, (4, 4),
                                        row_labels=["cat", "dog"])
    assert len(compared.axes) == 6 + 1 and compared.axes[3].get_ylabel() == "dog"
    assert len(attention_distance_figure({"x": torch.rand(3, 2) * 8}, uniform=6.0).axes) == 1
    profile = {f"{k}_{m}": torch.rand(3) for k in ("raw", "rollout") for m in ("pointing", "energy")}
    profile.update(head_pointing=torch.rand(3, 2), head_energy=torch.rand(3, 2))
    assert len(depth_profile_figure(profile, chance=0.2).axes) == 2


# --- acceptance: the committed shapes model on held-out shapes ------------------------------------

@pytest.mark.slow
def test_committed_shapes_model_localises_the_object():
    from vit_edu.training.recipes import course_checkpoint_path, course_shapes, load_course_model

    if not course_checkpoint_path("shapes").is_file():  # runs (and can fail) as soon as the checkpoint is committed
        pytest.skip("the shapes course checkpoint is not committed yet (vit_edu/assets/shapes_vit.safetensors)")
    model = load_course_model("shapes")
    data = course_shapes(1000, seed=HELD_OUT_SEED)  # as benchmarks/attention_localisation.py --images 1000
    patch_masks = mask_to_patch_mask(data.masks, model.config.patch_size)
    chance = patch_masks.float().mean(dim=1).mean().item()  # fraction of patches on the object, by hand
    scores = localisation_scores(explanation_maps(model, data.images, discard_ratio=0.9), patch_masks)
    assert scores["chance"]["pointing"] == pytest.approx(chance)
    best_pointing = max(s["pointing"] for name, s in scores.items() if name != "chance")
    best_energy = max(s["energy"] for name, s in scores.items() if name != "chance")
    assert best_pointing >= 0.95, scores
    assert best_energy >= 0.7 and best_energy >= 4 * chance, scores
    # the maps, not the metric, do the work: a map that knows nothing scores the chance level
    uniform = localisation_scores({"uniform": torch.ones(patch_masks.shape)}, patch_masks)["uniform"]
    assert np.isclose(uniform["energy"], chance) and np.isclose(uniform["pointing"], chance)
