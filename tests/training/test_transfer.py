"""The transfer lesson's helpers and data: new zero head, freezing, E_pos resampling, label subsets, data."""

import dataclasses
import statistics

import pytest
import torch
import torch.nn.functional as F

from vit_edu import ViT
from vit_edu.data.scenes import (
    HUE_RANGE,
    PRETRAIN_CLASSES,
    downstream_data,
    label_subset,
    make_glyph_shapes,
    paste_digits,
)
from vit_edu.training.cnn import SmallCNN
from vit_edu.training.recipes import Recipe
from vit_edu.training.results import find_row, summarize
from vit_edu.training.transfer import (
    METHODS,
    NUM_CLASSES,
    PRETRAIN_RECIPE,
    SUMMARY_BY,
    SUMMARY_ORDER,
    TRANSFER_RECIPE,
    TransferRecipe,
    build_transfer_model,
    freeze_all_but_head,
    prepare_for_transfer,
    replace_head,
    run_transfer,
)


def small_pretrained(seed=0):
    return PRETRAIN_RECIPE.build_model(seed=seed, dim=16, mlp_dim=32, depth=2, heads=2).eval()


def test_replace_head_is_a_zero_d_by_k_layer_and_keeps_the_backbone():
    model = small_pretrained()
    before = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith("head.")}
    replace_head(model, 7)
    assert model.head.weight.shape == (7, 16) and model.config.num_classes == 7
    assert model.head.weight.abs().sum() == 0 and model.head.bias.abs().sum() == 0
    for key, value in before.items():
        assert torch.equal(model.state_dict()[key], value), key
    probabilities = model(torch.rand(3, 3, 32, 32)).softmax(-1)  # zero head: every class 1/K
    assert torch.allclose(probabilities, torch.full((3, 7), 1 / 7))
    with pytest.raises(ValueError, match="num_classes"):
        replace_head(model, 0)


def test_freeze_all_but_head_leaves_gradients_only_on_the_head():
    model = freeze_all_but_head(replace_head(small_pretrained(), 5))
    loss = F.cross_entropy(model(torch.rand(4, 3, 32, 32)), torch.tensor([0, 1, 2, 3]))
    loss.backward()
    with_grad = {name for name, p in model.named_parameters() if p.grad is not None}
    assert with_grad == {"head.weight", "head.bias"}
    assert model.num_parameters(trainable_only=True) == 16 * 5 + 5


def test_prepare_for_transfer_resamples_e_pos_at_48_px_and_keeps_the_original():
    pretrained = small_pretrained()
    original = pretrained.pos_embed.detach().clone()
    model = prepare_for_transfer(pretrained, NUM_CLASSES, image_size=48, mode="bilinear")
    assert torch.equal(pretrained.pos_embed, original) and pretrained.config.num_classes == len(PRETRAIN_CLASSES)
    assert model.pos_embed.shape == (1, 1 + 6 * 6, 16) and model.config.grid_size == (6, 6)
    assert torch.equal(model.pos_embed[:, 0], original[:, 0])  # class token kept
    # independent reference: bilinear interpolation of the 4 x 4 grid at the 6 x 6 patch centres
    grid = original[0, 1:].reshape(4, 4, 16)
    centres = (torch.arange(6) + 0.5) * 4 / 6 - 0.5
    lo = centres.floor().clamp(0, 2).long()
    frac = (centres - lo).clamp(0, 1)
    rows = grid[lo] * (1 - frac)[:, None, None] + grid[lo + 1] * frac[:, None, None]  # (6, 4, D)
    expected = rows[:, lo] * (1 - frac)[None, :, None] + rows[:, lo + 1] * frac[None, :, None]  # (6, 6, D)
    assert torch.allclose(model.pos_embed[0, 1:], expected.reshape(36, 16), atol=1e-6)
    assert model(torch.rand(2, 3, 48, 48)).shape == (2, NUM_CLASSES)


def test_build_transfer_model_methods():
    pretrained = small_pretrained()
    scratch = build_transfer_model("scratch", seed=0)
    cnn = build_transfer_model("cnn", seed=0)
    probe = build_transfer_model("linear_probe", seed=0, pretrained=pretrained)
    assert isinstance(scratch, ViT) and scratch.config.num_classes == NUM_CLASSES
    assert isinstance(cnn, SmallCNN) and abs(cnn.num_parameters() / scratch.num_parameters() - 1) < 0.1
    assert probe.num_parameters(trainable_only=True) == 16 * NUM_CLASSES + NUM_CLASSES
    with pytest.raises(ValueError, match="method must be one of"):
        build_transfer_model("finetuned", seed=0)


def test_label_subset_is_balanced_nested_and_seeded():
    labels = torch.arange(10).repeat_interleave(30)[torch.randperm(300, generator=torch.Generator().manual_seed(0))]
    five, twenty = label_subset(labels, 5, seed=3), label_subset(labels, 20, seed=3)
    assert torch.bincount(labels[five], minlength=10).tolist() == [5] * 10
    assert set(five.tolist()) <= set(twenty.tolist())
    assert not torch.equal(five, label_subset(labels, 5, seed=4))
    assert torch.equal(label_subset(labels, None), torch.arange(300))
    with pytest.raises(ValueError, match="fewer than per_class=31"):
        label_subset(labels, 31)
    with pytest.raises(ValueError, match="per_class"):
        label_subset(labels, 0)


def test_glyph_shapes_are_deterministic_and_objects_are_warm_coloured():
    images, labels = make_glyph_shapes(64, seed=3)
    again, _ = make_glyph_shapes(64, seed=3)
    assert images.shape == (64, 3, 32, 32) and labels.dtype == torch.int64
    assert torch.equal(images, again) and 0 <= labels.min() and labels.max() < len(PRETRAIN_CLASSES)
    assert images.min() >= 0 and images.max() <= 1
    # grey clutter has R == G == B; the object's hue in HUE_RANGE (red..yellow) has R >= G >= B
    red, green, blue = images[:, 0], images[:, 1], images[:, 2]
    coloured = (red - blue) > 0.2
    assert HUE_RANGE == (0.0, 60.0)
    assert coloured.any(dim=(1, 2)).all()
    assert (red[coloured] >= green[coloured] - 1e-5).all() and (green[coloured] >= blue[coloured] - 1e-5).all()
    with pytest.raises(ValueError, match="n must be"):
        make_glyph_shapes(0)


def test_paste_digits_draws_the_same_scene_at_any_size():
    glyphs = torch.zeros(4, 1, 8, 8)
    glyphs[:, :, 2:6, 3:5] = 1.0
    small, large = paste_digits(glyphs, 32, seed=1), paste_digits(glyphs, 48, seed=1)
    assert small.shape == (4, 3, 32, 32) and large.shape == (4, 3, 48, 48)
    shrunk = F.interpolate(large, size=(32, 32), mode="area")
    correlation = torch.corrcoef(torch.stack([small.flatten(), shrunk.flatten()]))[0, 1]
    assert correlation > 0.9
    other = paste_digits(glyphs, 32, seed=2)
    assert torch.corrcoef(torch.stack([small.flatten(), other.flatten()]))[0, 1] < correlation
    with pytest.raises(ValueError, match="glyphs must be"):
        paste_digits(torch.zeros(4, 8, 8))


def test_glyph_shapes_draw_the_same_scene_at_any_size():
    small, labels = make_glyph_shapes(64, 32, seed=3)
    large, large_labels = make_glyph_shapes(64, 48, seed=3)
    assert large.shape == (64, 3, 48, 48) and torch.equal(labels, large_labels)
    shrunk = F.interpolate(large, size=(32, 32), mode="area")
    # pixel noise and one-pixel edges differ: a mean difference of about 0.024 over seeds, ~0.17 between seeds
    difference = (shrunk - small).abs().mean().item()
    assert difference < 0.04
    assert (make_glyph_shapes(64, 32, seed=4)[0] - small).abs().mean().item() > 3 * difference


@pytest.mark.slow
def test_downstream_data_uses_the_fixed_digit_split():
    data = downstream_data(32, test_copies=2)
    assert data.train_images.shape == (1347, 3, 32, 32) and len(data.test_labels) == 900
    assert torch.equal(data.test_labels[:450], data.test_labels[450:])
    assert not torch.equal(data.test_images[:450], data.test_images[450:])  # two scenes per test digit


def test_summarize_and_find_row():
    rows = [{"method": m, "image_size": 32, "per_class": k, "seed": s, "test_accuracy": a}
            for m, k, s, a in [("cnn", 5, 0, 0.5), ("cnn", 5, 1, 0.7), ("scratch", None, 0, 0.2),
                               ("scratch", 5, 0, 0.1)]]
    summary = summarize(rows, by=SUMMARY_BY, order=SUMMARY_ORDER)
    # in the order of METHODS, then BUDGETS (None = all labels last), not alphabetically
    assert [(r["method"], r["per_class"]) for r in summary] == [("scratch", 5), ("scratch", None), ("cnn", 5)]
    assert summary[2]["mean"] == pytest.approx(statistics.fmean([0.5, 0.7])) and summary[2]["min"] == 0.5
    assert find_row(rows, method="cnn", seed=1)["test_accuracy"] == 0.7
    with pytest.raises(ValueError, match="2 rows match method='cnn'"):
        find_row(rows, method="cnn")


@pytest.mark.slow
def test_run_transfer_linear_probe_row():
    data = downstream_data(32)
    recipe = dataclasses.replace(
        TRANSFER_RECIPE, downstream=TRANSFER_RECIPE.downstream.updated(training=dict(steps=4, batch_size=10,
                                                                                     warmup_steps=1)))
    row = run_transfer("linear_probe", 2, 0, data=data, pretrained=small_pretrained(), recipe=recipe)
    assert row["num_train"] == 20 and row["trainable"] == 16 * 10 + 10 and row["steps"] == 4
    assert 0.0 <= row["test_accuracy"] <= 1.0
    with pytest.raises(ValueError, match="pass downstream_data\\(48\\)"):
        run_transfer("scratch", 2, 0, image_size=48, data=data, recipe=recipe)


def test_transfer_recipe_shares_one_step_budget_and_has_an_lr_per_method():
    downstream = TRANSFER_RECIPE.downstream
    assert isinstance(downstream, Recipe) and set(TRANSFER_RECIPE.lr) == set(METHODS)
    assert downstream.model == {**PRETRAIN_RECIPE.model, "num_classes": NUM_CLASSES}
    # 20 labels per class = 200 images in batches of 32: 6 updates an epoch, so 50 epochs make the 300 steps
    settings = downstream.train_settings(200)
    assert (settings["epochs"], settings["batch_size"], settings["warmup_epochs"]) == (50, 32, 5.0)
    with pytest.raises(ValueError, match="lr must map every method"):
        dataclasses.replace(TRANSFER_RECIPE, lr={"scratch": 1e-3})
    with pytest.raises(ValueError, match="without lr"):
        dataclasses.replace(TRANSFER_RECIPE, downstream=downstream.updated(training={"lr": 1e-3}))
    with pytest.raises(TypeError, match="downstream must be a Recipe"):
        TransferRecipe(downstream={"model": {}}, lr=TRANSFER_RECIPE.lr)


def test_only_the_scratch_vit_scales_its_inputs():
    # the pre-trained ViT has its pre-training normalisation folded into the patch embedding, so fine-tuning
    # and the probe feed it images in [0, 1]; scaling them again would shift every token
    assert PRETRAIN_RECIPE.input_normalization == (0.5, 0.5) and PRETRAIN_RECIPE.model["weight_init"] == "jax"
    assert TRANSFER_RECIPE.recipe_for("scratch").input_normalization == PRETRAIN_RECIPE.input_normalization
    for method in ("finetune", "linear_probe", "cnn"):
        recipe = TRANSFER_RECIPE.recipe_for(method)
        assert recipe.input_normalization is None
        shared = TRANSFER_RECIPE.downstream
        assert (recipe.model, recipe.training) == (shared.model, shared.training)
    with pytest.raises(ValueError, match="method must be one of"):
        TRANSFER_RECIPE.recipe_for("resnet")
