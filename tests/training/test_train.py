"""The training loop, its schedule and augmentation, recipes, result tables, the CLI, and the training plots
(tiny, fast runs)."""

import json
import math

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from vit_edu import ViT
from vit_edu.__main__ import main
from vit_edu.checkpoints import load_checkpoint, read_checkpoint_metadata
from vit_edu.data import load_digits_split
from vit_edu.training.cnn import SmallCNN
from vit_edu.training.loop import History, evaluate, learning_rate_at, predict, random_shift, resolve_device, train
from vit_edu.training.recipes import COURSE_RECIPES, Recipe, optimizer_steps, train_with_recipe
from vit_edu.training.results import find_row, summarize
from vit_edu.viz.training import confusion_matrix, plot_confusion_matrix, plot_history, plot_image_grid


@pytest.fixture(scope="module")
def digits():
    return load_digits_split(seed=0)


def small_digits_vit(seed=0):
    return ViT(image_size=8, patch_size=2, channels=1, num_classes=10, dim=32, depth=1, heads=2, mlp_dim=64,
               seed=seed)


def run(digits, seed=0, epochs=2, **kwargs):
    model = small_digits_vit(seed)
    history = train(model, digits.train_images, digits.train_labels, digits.test_images, digits.test_labels,
                    epochs=epochs, batch_size=64, lr=3e-3, warmup_epochs=0.5, label_smoothing=0.1, seed=seed,
                    progress=False, **kwargs)
    return model, history


# ----------------------------------------------------------------------------- schedule and augmentation


def test_learning_rate_warms_up_linearly_then_follows_a_half_cosine():
    peak, total, warmup = 1e-3, 100, 10
    rates = [learning_rate_at(step, total, warmup, peak) for step in range(total)]
    np.testing.assert_allclose(rates[:warmup], peak * np.arange(1, warmup + 1) / warmup)
    for step in (10, 32, 55, 99):  # closed form: peak/2 (1 + cos(pi t)), t = fraction of the decay done
        t = (step - warmup) / (total - warmup)
        assert rates[step] == pytest.approx(peak / 2 * (1 + math.cos(math.pi * t)))
    assert rates[warmup] == pytest.approx(peak) and rates[55] == pytest.approx(peak / 2)
    assert rates[-1] < 1e-3 * peak


def test_random_shift_moves_each_image_by_at_most_max_shift_pixels():
    images = torch.rand(16, 2, 10, 10)
    generator = torch.Generator().manual_seed(0)
    assert torch.equal(random_shift(images, 0, generator), images)
    shifted = random_shift(images, 2, generator)
    assert shifted.shape == images.shape
    found = set()
    for original, moved in zip(images, shifted):
        # reference: the output's centre equals the input's centre moved by some (dy, dx) with |dy|, |dx| <= 2
        matches = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)
                   if torch.equal(moved[:, 2:8, 2:8], original[:, 2 + dy:8 + dy, 2 + dx:8 + dx])]
        assert len(matches) == 1
        found.add(matches[0])
    assert len(found) > 5  # the shifts vary between images
    zero_padded = random_shift(torch.ones(50, 1, 4, 4), 1, generator, padding="zeros")
    assert (zero_padded == 0).flatten(1).any(dim=1).float().mean() > 0.5  # 8 of 9 shifts uncover a zero border
    assert (random_shift(torch.ones(50, 1, 4, 4), 1, generator) == 1).all()  # replicate: edges repeated
    with pytest.raises(ValueError, match="padding"):
        random_shift(images, 1, generator, padding="reflect")


def test_random_shift_with_a_pair_bounds_each_axis_separately():
    images = torch.rand(64, 1, 8, 8)
    shifted = random_shift(images, (0, 2), torch.Generator().manual_seed(0), padding="zeros")
    found = set()
    for original, moved in zip(images, shifted):
        # reference: which column offset dx in [-2, 2] makes the output equal the input moved by dx (rows fixed)
        matches = [dx for dx in range(-2, 3)
                   if torch.equal(moved[:, :, 2:6], original[:, :, 2 + dx:6 + dx])]
        assert len(matches) == 1
        found.add(matches[0])
    assert found == {-2, -1, 0, 1, 2}
    ramp = torch.arange(8.0).repeat(8, 1)[None, None].expand(40, 1, 8, 8)  # every row is 0..7: rows are alike
    rows_only = random_shift(ramp.transpose(-1, -2), (1, 0), torch.Generator().manual_seed(0))
    assert torch.equal(random_shift(ramp, (1, 0), torch.Generator().manual_seed(0)), ramp)  # vertical moves only
    assert not torch.equal(rows_only, ramp.transpose(-1, -2))  # ... which do move a vertical ramp
    # the same bound twice consumes the generator like a single int, so old results stay reproducible
    assert torch.equal(random_shift(images, (1, 1), torch.Generator().manual_seed(3)),
                       random_shift(images, 1, torch.Generator().manual_seed(3)))
    for bad in (-1, (0, -1), (1.5, 0), (True, 0)):
        with pytest.raises(ValueError, match="max_shift"):
            random_shift(images, bad, torch.Generator())


def test_random_flip_mirrors_about_half_of_the_images():
    images = torch.rand(200, 1, 6, 6)
    flipped = random_shift(images, 0, torch.Generator().manual_seed(1), flip=True)
    mirrored = torch.tensor([torch.equal(a, b.flip(-1)) for a, b in zip(flipped, images)])
    unchanged = torch.tensor([torch.equal(a, b) for a, b in zip(flipped, images)])
    assert (mirrored | unchanged).all() and 70 < mirrored.sum() < 130


def test_resolve_device(monkeypatch):
    assert resolve_device("cpu") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("cuda")


# ----------------------------------------------------------------------------- the loop


@pytest.mark.slow
def test_training_learns_and_records_a_consistent_history(digits):
    model, history = run(digits, epochs=3)
    assert isinstance(history, History)
    assert all(len(values) == 3 for values in history.as_dict().values())
    assert history.train_loss[-1] < history.train_loss[0]
    assert history.final_test_accuracy > 0.3  # chance is 0.1
    assert history.test_accuracy[-1] == pytest.approx(evaluate(model, digits.test_images, digits.test_labels))
    assert history.total_seconds == pytest.approx(sum(history.seconds))
    assert not model.training


@pytest.mark.slow
def test_same_seed_gives_a_bit_identical_history_and_weights(digits):
    first_model, first = run(digits, seed=3, epochs=2, max_shift=1, flip=True)
    second_model, second = run(digits, seed=3, epochs=2, max_shift=1, flip=True)
    _, other = run(digits, seed=4, epochs=2, max_shift=1, flip=True)
    keys = ("train_loss", "train_accuracy", "test_accuracy", "learning_rate")
    assert all(getattr(first, key) == getattr(second, key) for key in keys)
    assert all(torch.equal(a, b) for a, b in zip(first_model.state_dict().values(),
                                                 second_model.state_dict().values()))
    assert first.train_loss != other.train_loss


def test_dropout_is_seeded_too(digits):
    def with_dropout():
        model = ViT(image_size=8, patch_size=4, channels=1, num_classes=10, dim=16, depth=1, heads=2, mlp_dim=32,
                    dropout=0.3, seed=0)
        return train(model, digits.train_images[:128], digits.train_labels[:128], epochs=1, batch_size=32,
                     seed=5, progress=False).train_loss

    assert with_dropout() == with_dropout()


def test_training_leaves_the_global_rng_untouched(digits):
    model = small_digits_vit()  # building layers draws from the global RNG (torch's default init), so first
    state = torch.random.get_rng_state()
    train(model, digits.train_images[:64], digits.train_labels[:64], epochs=1, batch_size=32, max_shift=1,
          seed=0, progress=False)
    assert torch.equal(torch.random.get_rng_state(), state)


def test_evaluate_and_predict_match_a_direct_forward_pass(digits):
    model = small_digits_vit(seed=1).eval()
    with torch.no_grad():
        logits = model(digits.test_images)
    torch.testing.assert_close(predict(model, digits.test_images, batch_size=100), logits)
    expected = (logits.argmax(dim=1) == digits.test_labels).double().mean().item()
    assert evaluate(model, digits.test_images, digits.test_labels, batch_size=64) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [(dict(epochs=0), "epochs"), (dict(batch_size=-1), "batch_size"), (dict(label_smoothing=1.0), "label_smoothing")],
)
def test_train_rejects_bad_arguments(digits, kwargs, match):
    with pytest.raises(ValueError, match=match):
        train(small_digits_vit(), digits.train_images, digits.train_labels, progress=False, **kwargs)


def test_train_rejects_mismatched_data(digits):
    with pytest.raises(ValueError, match="differ in length"):
        train(small_digits_vit(), digits.train_images, digits.train_labels[:10], progress=False)
    with pytest.raises(ValueError, match="both test_images and test_labels"):
        train(small_digits_vit(), digits.train_images, digits.train_labels, digits.test_images, progress=False)


# ----------------------------------------------------------------------------- recipes

TINY_MODEL = dict(image_size=8, patch_size=2, channels=1, num_classes=10, dim=32, depth=1, heads=2, mlp_dim=64)


def test_recipe_json_round_trip_and_older_json_without_input_normalization():
    for recipe in COURSE_RECIPES.values():
        assert Recipe.from_dict(json.loads(json.dumps(recipe.as_dict()))) == recipe  # tuples survive as tuples
    stored = {key: value for key, value in COURSE_RECIPES["shapes"].as_dict().items() if key != "input_normalization"}
    assert Recipe.from_dict(stored).input_normalization is None
    with pytest.raises(ValueError, match="unknown recipe fields \\['class_names'\\]"):
        Recipe.from_dict({**stored, "class_names": ["a"]})
    with pytest.raises(ValueError, match="lacks \\['training'\\]"):
        Recipe.from_dict({"model": {}, "data": {}})


def test_recipe_copies_its_dicts_and_updated_merges_them():
    training = dict(epochs=2, batch_size=16, lr=1e-3)
    recipe = Recipe(TINY_MODEL, {}, training)
    training["epochs"] = 99
    assert recipe.training["epochs"] == 2
    changed = recipe.updated(training={"epochs": 5}, model={"depth": 2}, input_normalization=(0.5, 0.5))
    assert changed.training == {"epochs": 5, "batch_size": 16, "lr": 1e-3} and changed.model["depth"] == 2
    assert changed.input_normalization == (0.5, 0.5) and recipe.model["depth"] == 1
    with pytest.raises(TypeError, match="unknown recipe fields"):
        recipe.updated(optimizer="sgd")


@pytest.mark.parametrize(("change", "error", "match"), [
    (dict(model={**TINY_MODEL, "width": 3}), TypeError, "Recipe.model holds ViT keyword arguments"),
    (dict(model={**TINY_MODEL, "heads": 5}), ValueError, "not divisible by heads"),
    (dict(model=[("dim", 32)]), TypeError, "Recipe.model must be a dict"),
    (dict(training={"epochs": 2, "momentum": 0.9}), ValueError, "unknown settings \\['momentum'\\]"),
    (dict(training={"epochs": 2, "seed": 1}), ValueError, "unknown settings \\['seed'\\]"),
    (dict(training={"lr": 1e-3}), ValueError, "needs epochs"),
    (dict(training={"epochs": 0}), ValueError, "epochs'\\] must be a positive integer"),
    (dict(training={"steps": 10, "batch_size": 8}), ValueError, "missing \\['warmup_steps'\\]"),
    (dict(training={"steps": 10, "warmup_steps": 1, "batch_size": 8, "epochs": 2}), ValueError, "extra \\['epochs'\\]"),
    (dict(training={"epochs": 2, "warmup_steps": 1}), ValueError, "warmup_steps goes with steps"),
    (dict(input_normalization=(0.5, 0.0)), ValueError, "std must be > 0"),
    (dict(input_normalization=("0.5", 1)), TypeError, "pair \\(mean, std\\) of numbers"),
])
def test_recipe_rejects_bad_settings(change, error, match):
    fields = {"model": TINY_MODEL, "data": {}, "training": {"epochs": 1}, **change}
    with pytest.raises(error, match=match):
        Recipe(**fields)


@pytest.mark.parametrize(("num_train", "epochs", "batch_size", "warmup_epochs"), [
    (100, 4, 32, 2 / 3),  # 3 full batches an epoch: ceil(10 / 3) = 4 epochs, 12 updates
    (64, 5, 32, 1.0),  # 2 an epoch: exactly 10 updates
    (20, 10, 20, 2.0),  # fewer images than a batch: one batch of all 20 an epoch
])
def test_a_step_budget_becomes_epochs_and_train_makes_that_many_updates(digits, num_train, epochs, batch_size,
                                                                          warmup_epochs):
    recipe = Recipe(TINY_MODEL, {}, dict(steps=10, warmup_steps=2, batch_size=32, lr=1e-3))
    settings = recipe.train_settings(num_train)
    assert (settings["epochs"], settings["batch_size"]) == (epochs, batch_size)
    assert settings["warmup_epochs"] == pytest.approx(warmup_epochs) and "steps" not in settings
    total = optimizer_steps(settings, num_train)
    assert total == epochs * (num_train // batch_size) >= 10
    history = train_with_recipe(small_digits_vit(), recipe, digits.train_images[:num_train],
                                digits.train_labels[:num_train])
    # the schedule ends where train's learning-rate formula puts the last of exactly `total` updates
    warmup = max(1, round(warmup_epochs * (num_train // batch_size)))
    assert history.learning_rate[-1] == pytest.approx(learning_rate_at(total - 1, total, warmup, 1e-3))
    assert len(history.train_loss) == epochs


@pytest.mark.slow
def test_train_with_recipe_is_train_with_the_recipe_settings(digits):
    recipe = Recipe(TINY_MODEL, {}, dict(epochs=2, batch_size=64, lr=3e-3, warmup_epochs=0.5, label_smoothing=0.1))
    by_recipe = train_with_recipe(recipe.build_model(seed=1), recipe, digits.train_images, digits.train_labels,
                                  digits.test_images, digits.test_labels, seed=1)
    by_hand = train(ViT(**TINY_MODEL, seed=1), digits.train_images, digits.train_labels, digits.test_images,
                    digits.test_labels, seed=1, device="cpu", progress=False, **recipe.training)
    assert by_recipe.train_loss == by_hand.train_loss and by_recipe.test_accuracy == by_hand.test_accuracy
    shorter = train_with_recipe(recipe.build_model(seed=1), recipe, digits.train_images[:128],
                                digits.train_labels[:128], epochs=1, lr=1e-4)
    # 2 updates: one warm-up step, then the cosine starts at the peak, the overriding lr (the recipe's is 3e-3)
    assert len(shorter.train_loss) == 1 and shorter.learning_rate == [pytest.approx(1e-4)]
    cnn = SmallCNN(channels=1, num_classes=10, width=4, depth=1, seed=0)
    with pytest.raises(TypeError, match="SmallCNN has none"):
        train_with_recipe(cnn, recipe.updated(input_normalization=(0.5, 0.5)), digits.train_images[:64],
                          digits.train_labels[:64])


# ----------------------------------------------------------------------------- result tables


def made_up_rows(seed=0):
    """Rows of a sweep with groups of 1, 2 and 5 seeds, and a budget None (all labels)."""
    rng = np.random.default_rng(seed)
    sizes = {("vit", 0.5): 5, ("cnn", 0.5): 2, ("vit", 0.1): 1, ("cnn", None): 3}
    return [{"model": model, "fraction": fraction, "seed": s, "test_accuracy": float(rng.random())}
            for (model, fraction), n in sizes.items() for s in range(n)]


def test_summarize_matches_numpy_per_group():
    rows = made_up_rows()
    summary = summarize(rows, by=("model", "fraction"))
    assert [(s["model"], s["fraction"]) for s in summary] == [("cnn", 0.5), ("cnn", None), ("vit", 0.1), ("vit", 0.5)]
    for s in summary:
        group = (s["model"], s["fraction"])
        values = np.array([r["test_accuracy"] for r in rows if (r["model"], r["fraction"]) == group])
        assert s["seeds"] == len(values)
        assert s["mean"] == pytest.approx(values.mean(), abs=1e-12)
        assert s["std"] == pytest.approx(values.std(ddof=1) if len(values) > 1 else 0.0, abs=1e-12)
        assert (s["min"], s["max"]) == (values.min(), values.max())
    ordered = summarize(rows, by=("model", "fraction"), order={"model": ("vit", "cnn"), "fraction": (None, 0.5)})
    assert [(s["model"], s["fraction"]) for s in ordered] == [("vit", 0.5), ("vit", 0.1), ("cnn", None), ("cnn", 0.5)]
    assert summarize(rows, by=("model",), value="seed")[0] == {"model": "cnn", "seeds": 5, "mean": 0.8,
                                                               "std": pytest.approx(np.std([0, 1, 0, 1, 2], ddof=1)),
                                                               "min": 0, "max": 2}


@pytest.mark.parametrize(("call", "error", "match"), [
    (lambda rows: summarize(rows, by="model"), TypeError, "by must be a sequence of field names"),
    (lambda rows: summarize(rows, by=("task",)), KeyError, "rows\\[0\\] has no field 'task'"),
    (lambda rows: summarize(rows, by=("model",), value="model"), TypeError, "must be a number"),
    (lambda rows: summarize(rows, by=("model",), order={"seed": (0,)}), ValueError, "order names fields"),
    (lambda rows: summarize(rows[0], by=("model",)), TypeError, "rows must be a list of dicts"),
])
def test_summarize_rejects_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call(made_up_rows())


def test_find_row_finds_exactly_one_row_or_says_why_not():
    rows = made_up_rows()
    assert find_row(rows, model="vit", fraction=0.5, seed=3) is rows[3]
    assert 0.3 - 0.2 != 0.1 and find_row(rows, model="vit", fraction=0.3 - 0.2, seed=0)["fraction"] == 0.1
    assert find_row(rows, model="cnn", fraction=None, seed=2)["seed"] == 2
    with pytest.raises(KeyError, match="no row has model='resnet'"):
        find_row(rows, model="resnet", seed=0)
    with pytest.raises(KeyError, match="no row matches them all"):
        find_row(rows, model="cnn", fraction=0.1)
    with pytest.raises(ValueError, match=r"5 rows match model='vit', fraction=0\.5; add a key.*'seed'"):
        find_row(rows, model="vit", fraction=0.5)
    with pytest.raises(ValueError, match="at least one key"):
        find_row(rows)


# ----------------------------------------------------------------------------- command line


@pytest.mark.slow
def test_cli_trains_saves_and_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "digits.safetensors"
    assert main(["train", "digits", "--epochs", "1", "--seed", "2", "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "test accuracy" in printed and str(out) in printed
    metadata = read_checkpoint_metadata(out)
    assert metadata["dataset"] == "digits" and metadata["seed"] == "2" and metadata["epochs"] == "1"
    model = load_checkpoint(out)
    split = load_digits_split(seed=int(metadata["data_seed"]))
    assert evaluate(model, split.test_images, split.test_labels) == pytest.approx(
        float(metadata["test_accuracy"]), abs=1e-4)
    before = out.read_bytes()
    assert main(["train", "digits", "--epochs", "1", "--out", str(out), "--no-progress"]) != 0
    assert "--force" in capsys.readouterr().err and out.read_bytes() == before


def test_cli_rejects_unknown_models_and_bad_epochs(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "cifar", "--out", str(tmp_path / "x.safetensors")])
    assert exit_info.value.code != 0
    assert main(["train", "digits", "--epochs", "0", "--out", str(tmp_path / "x.safetensors")]) != 0
    assert "--epochs" in capsys.readouterr().err


# ----------------------------------------------------------------------------- plots


def test_plot_history_draws_the_recorded_curves():
    history = History(train_loss=[2.0, 1.0, 0.5], train_accuracy=[0.2, 0.6, 0.9], test_accuracy=[0.3, 0.5, 0.8],
                      learning_rate=[1e-3, 5e-4, 0.0], seconds=[1.0, 1.0, 1.0])
    figure = plot_history(history)
    assert isinstance(figure, Figure)
    plotted = {tuple(np.round(line.get_ydata(), 6)) for ax in figure.axes for line in ax.get_lines()}
    assert {(2.0, 1.0, 0.5), (20.0, 60.0, 90.0), (30.0, 50.0, 80.0), (1e-3, 5e-4, 0.0)} <= plotted
    with pytest.raises(ValueError, match="empty"):
        plot_history(History())


def test_confusion_matrix_matches_sklearn():
    from sklearn.metrics import confusion_matrix as sklearn_confusion

    rng = np.random.default_rng(0)
    labels, predictions = rng.integers(0, 4, 300), rng.integers(0, 4, 300)
    np.testing.assert_array_equal(confusion_matrix(labels, predictions, 4),
                                  sklearn_confusion(labels, predictions, labels=range(4)))
    figure = plot_confusion_matrix(torch.tensor(labels), torch.tensor(predictions), ["a", "b", "c", "d"])
    shown = figure.axes[0].images[0].get_array()
    np.testing.assert_array_equal(shown, sklearn_confusion(labels, predictions))


def test_plot_image_grid_shows_each_image_with_its_title():
    images = torch.rand(5, 3, 8, 8)
    figure = plot_image_grid(images, [f"#{i}" for i in range(5)], columns=3)
    with_images = [ax for ax in figure.axes if ax.images]
    assert len(with_images) == 5 and len(figure.axes) == 6
    np.testing.assert_allclose(with_images[4].images[0].get_array(), images[4].permute(1, 2, 0).numpy())
    assert [ax.get_title() for ax in with_images] == [f"#{i}" for i in range(5)]
    grey = plot_image_grid(torch.rand(2, 1, 8, 8))
    assert grey.axes[0].images[0].get_array().shape == (8, 8)
    with pytest.raises(ValueError, match="titles"):
        plot_image_grid(images, ["only one"])
