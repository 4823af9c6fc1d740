"""Edit lesson 06: section 5 (shapes, honest about the target), text that depends on the recipe."""
import sys
import nbformat

WITH_SHAPES = sys.argv[1] == "with-shapes"
path = "notebooks/06_train_tiny_vit.ipynb"
nb = nbformat.read("/tmp/h6/06_orig.ipynb", 4)
cells = nb.cells

def find(prefix):
    hits = [i for i, c in enumerate(cells) if c.source.startswith(prefix)]
    assert len(hits) == 1, (prefix, hits)
    return hits[0]

# -- section 2: training cell, time printed rounded (sanitized) and asserted loosely
i = find("run = train_course_model(")
cells[i].source = '''run = train_course_model("digits", seed=0, progress=False, data=data)
history, digits_model = run.history, run.model
print(f"parameters: {digits_model.num_parameters():,}")
print(f"final test accuracy: {history.final_test_accuracy:.1%}")
print(f"training time: {history.total_seconds:.0f} s")  # machine-dependent: nbval masks numbers followed by s
assert history.final_test_accuracy >= 0.97, history.final_test_accuracy'''

# -- section 4 intro: what the curves show with this recipe (dropout, no shifts)
i = find("## 4. See it")
cells[i].source = '''## 4. See it: learning curves, confusion matrix, mistakes

Loss and accuracy per epoch. Three things to look for. The training accuracy is measured in training mode — with dropout switched on and while the weights still change during the epoch — so early on it sits below the test accuracy. At the end the model gets (nearly) every training image right while the test accuracy stays a few points lower: that gap is overfitting, and 1,347 training images are few for a transformer, which has no built-in notion that neighbouring pixels belong together. The recipe holds it in check with dropout (a random fraction of the activations in each block is zeroed during training), label smoothing and weight decay. And the training loss levels off near 0.5, not 0: with label smoothing $\\varepsilon = 0.1$ the best possible loss is the entropy of the smoothed target (computed and checked below). The curves flatten as the learning rate (grey, dotted) decays.

A note on augmentation: the paper's recipe uses none for pre-training, and the obvious one for digits, random one-pixel shifts, *hurt* here (the test accuracy dropped, even with horizontal shifts only): with $P = 2$ a one-pixel shift changes what every patch contains, so the model would have to learn each digit twice, once per patch alignment.'''
# the loss floor is computed in code, next to the curves
i = find("plot_history(history")
cells[i].source = '''epsilon, K = recipe.training["label_smoothing"], 10
smoothed_target = torch.full((K,), epsilon / K)
smoothed_target[0] += 1 - epsilon
loss_floor = -(smoothed_target * smoothed_target.log()).sum().item()  # entropy of the smoothed target
print(f"lowest possible training loss with label smoothing {epsilon}: {loss_floor:.2f}; "
      f"reached after the last epoch: {history.train_loss[-1]:.2f}")
assert loss_floor < history.train_loss[-1] < loss_floor + 0.1
assert history.train_accuracy[-1] > history.final_test_accuracy  # the gap described above
plot_history(history, title="digits, P = 2, D = 64, L = 4")'''

# -- section 5
i = find("Several of the mistakes")
if WITH_SHAPES:
    cells[i].source = '''Several of the mistakes are digits a person would hesitate on as well at 8x8 pixels. The confidence in brackets matters: a model that is wrong *and* sure is worse than one that is wrong and hesitant.

## 5. The shapes model: loaded, not retrained

The second course model classifies synthetic 32x32 shapes (circle, square, triangle, cross) in grey clutter; lesson 07 looks at its attention. Training it takes longer than this lesson's budget, so by default we load the weights that ship with `vit_edu` (trained by `python -m vit_edu train shapes`), together with the test accuracy recorded in the checkpoint when it was trained. We do not take that number on trust: the next cell recomputes it on the same held-out images. Set `RETRAIN = True` to train the model yourself (several minutes on two CPU cores).

The course set itself a target of 95% on shapes. The cell below says honestly whether the committed model reached it.'''
    shapes_cells = [
        nbformat.v4.new_code_cell('''RETRAIN = False  # True: train the shapes model here (several minutes) instead of loading it
TARGET = 0.95  # the course's goal for the shapes model

if RETRAIN:
    shapes_run = train_course_model("shapes", seed=0, progress=True)
    shapes_model, shapes_data = shapes_run.model, shapes_run.data
    recorded = shapes_run.history.final_test_accuracy
else:
    info = course_model_info("shapes")  # metadata stored in the checkpoint: seeds, epochs, test accuracy, ...
    shapes_model = load_course_model("shapes")
    shapes_data = course_data("shapes", data_seed=int(info["data_seed"]))
    recorded = float(info["test_accuracy"])
    assert int(info["num_test"]) == len(shapes_data.test_labels)
shapes_accuracy = evaluate(shapes_model, shapes_data.test_images, shapes_data.test_labels)
print(f"shapes: recorded test accuracy {recorded:.1%}, recomputed here {shapes_accuracy:.1%} "
      f"on {len(shapes_data.test_labels)} held-out images")
if shapes_accuracy >= TARGET:
    print(f"the course target of {TARGET:.0%} is reached")
else:
    print(f"the course target of {TARGET:.0%} is NOT reached: {100 * (TARGET - shapes_accuracy):.1f} points short")
assert abs(shapes_accuracy - recorded) <= 0.005  # the checkpoint is what its metadata says
assert shapes_accuracy > 0.5  # far above chance (4 classes: 25%)'''),
        nbformat.v4.new_code_cell('''shapes_predictions = predict(shapes_model, shapes_data.test_images).argmax(dim=1)
class_names = list(COURSE_RECIPES["shapes"].class_names)
shapes_counts = confusion_matrix(shapes_data.test_labels, shapes_predictions, len(class_names))
per_class = shapes_counts.diagonal() / shapes_counts.sum(axis=1)
print("test accuracy per class:", ", ".join(f"{name} {acc:.1%}" for name, acc in zip(class_names, per_class)))
assert math.isclose(shapes_counts.diagonal().sum() / shapes_counts.sum(), shapes_accuracy, abs_tol=1e-6)
plot_confusion_matrix(shapes_data.test_labels, shapes_predictions, class_names)'''),
    ]
else:
    cells[i].source = '''Several of the mistakes are digits a person would hesitate on as well at 8x8 pixels. The confidence in brackets matters: a model that is wrong *and* sure is worse than one that is wrong and hesitant.

## 5. The shapes model (comes later)

The course's second model classifies synthetic 32x32 shapes (circle, square, triangle, cross) in grey clutter, and lesson 07 looks at its attention. Its trained weights are not part of `vit_edu` yet; when they are, this section will load them, recompute their recorded test accuracy on held-out images and compare it with the course's 95% target. Until then you can train it yourself with `python -m vit_edu train shapes --out shapes_vit.safetensors` (several minutes on two CPU cores).'''
    shapes_cells = []
start = find("RETRAIN = False")
end = find("shapes_predictions = predict(")
cells[start:end + 1] = shapes_cells

# -- summary: the recipe as it is
i = find("## 8. Summary")
cells[i].source = cells[i].source.replace(
    "plus label smoothing and one-pixel shifts.",
    "plus label smoothing and dropout against overfitting (one-pixel shifts, tried, hurt with $P = 2$).")
nbformat.write(nb, path)
print("ok", len(cells))

# ---- second pass: the tuned recipe (D = 96, dropout 0.2, weight decay 0.5, 40 epochs)
nb = nbformat.read(path, 4)
cells = nb.cells
def replace_in(prefix, old, new):
    i = find_in(cells, prefix)
    assert old in cells[i].source, (prefix, old)
    cells[i].source = cells[i].source.replace(old, new)
def find_in(cells, prefix):
    hits = [i for i, c in enumerate(cells) if c.source.startswith(prefix)]
    assert len(hits) == 1, (prefix, hits)
    return hits[0]
replace_in("# Lesson 06", "We keep the recipe's ingredients (AdamW, weight decay 0.1, warm-up, cosine decay) and shrink",
           "We keep the recipe's ingredients (AdamW with a high weight decay, warm-up, cosine decay; our 1,347 "
           "training images overfit far more easily than the paper's millions, so our weight decay is higher still) "
           "and shrink")
replace_in("epsilon, K =", 'plot_history(history, title="digits, P = 2, D = 64, L = 4")',
           'm = recipe.model\nplot_history(history, title=f"digits, P = {m[\'patch_size\']}, D = {m[\'dim\']}, L = {m[\'depth\']}")')
replace_in("## 6. Play with it", "for only 10 epochs (a third of the recipe,", "for only 10 epochs (a quarter of the recipe,")
i = find_in(cells, "VARIANTS = {")
cells[i].source = cells[i].source.replace('"recipe (P=2, D=64, L=4)"', '"recipe (P=2, D=96, L=4)"').replace(
    '"narrower (D=32)": dict(dim=32, mlp_dim=64)', '"narrower (D=48)": dict(dim=48, mlp_dim=96)')
assert cells[i].source.count("D=96") == 2 and "D=48" in cells[i].source
replace_in("## 8. Summary", "A tiny ViT ($D = 64$, $L = 4$, $k = 4$, $P = 2$; about 0.2 M parameters) learns the 8x8 digits "
           "to at least 97% test accuracy in well under a minute on two CPU cores, with the paper's optimiser ingredients: "
           "AdamW, weight decay 0.1, warm-up,",
           "A tiny ViT ($D = 96$, $L = 4$, $k = 8$, $P = 2$; about 0.3 M parameters) learns the 8x8 digits "
           "to at least 97% test accuracy in under a minute on two CPU cores, with the paper's optimiser ingredients: "
           "AdamW, a high weight decay, warm-up,")
nbformat.write(nb, path)
print("second pass ok")
