"""Build notebooks/07_attention_maps.ipynb (unexecuted) from the cells below."""
import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

cells = []
md = lambda s: cells.append(new_markdown_cell(s.strip("\n")))  # noqa: E731
code = lambda s: cells.append(new_code_cell(s.strip("\n")))  # noqa: E731

md(r"""
# Lesson 07 — What does the ViT look at? Attention maps

**Learning goals.** After this lesson you can

1. read the attention of a trained ViT: the class token's map in every layer and head, and the two ways of combining layers, **attention rollout** and **gradient-weighted attention**, with the **attention explorer** widget;
2. measure how far each head looks (**mean attention distance**) and compare our tiny model with the paper's Figure 7;
3. test whether a map points at the object with numbers instead of impressions — the **pointing game**, **energy-based pointing** and **deletion AUC** — each beside its chance level.

**Paper.** Dosovitskiy et al. (2020), §4.5 *Inspecting the Vision Transformer* and Appendix D.8. In our words: the authors compute, for every head, the average image-space distance over which it mixes information, weighted by the attention ("attention distance", Fig. 7 right). They report that some heads already attend to most of the image in the lowest layers, while others stay local there, and that the distance grows with depth. To show what the class token looks at (Fig. 6), they use attention rollout (Abnar & Zuidema, 2020): average the attention over heads and multiply the matrices of all layers, which accounts for the mixing of tokens from layer to layer. The model "attends to image regions that are semantically relevant for classification".

We use the tiny ViT of lesson 06, trained on 32 x 32 synthetic shapes (patch size $P = 4$, so $N = 64$ patches, $D = 64$, $L = 4$ layers, $k = 4$ heads). Each image comes with a mask of the object, so we can *measure* whether the maps find it.

*Study time: about 60 minutes. Run time: about 40 s on a CPU.*
""")

md(r"""
## 1. The idea

Layer $l$ of the encoder computes, for every head $h$, the attention weights $A^{(l,h)} = \mathrm{softmax}(q k^\top / \sqrt{d}) \in \mathbb{R}^{T \times T}$ with $T = N + 1$ (lesson 03). Row $i$ says where token $i$ looks; token 0 is the class token, token $p + 1$ is patch $p$ (row by row). Three ways to turn this into one map over the $N$ patches:

**Raw attention of one layer.** The class token's row without its own column, for one head or the mean over the $k$ heads:
$$a^{(l,h)} = A^{(l,h)}_{0,\;1:N} \in \mathbb{R}^{N}, \qquad \bar a^{(l)} = \tfrac{1}{k}\textstyle\sum_h a^{(l,h)}.$$
It only shows the *last* mixing step: in layer $l$ the tokens are already mixtures of all patches.

**Attention rollout** (Abnar & Zuidema, 2020). Treat each layer as a mixing matrix, add the identity for the residual connection ($z_l = \mathrm{MSA}(z_{l-1}) + z_{l-1}$), renormalise the rows, and multiply through the layers, later layers on the left:
$$\hat A_l = \mathrm{rownorm}\big(\bar A_l + I\big), \qquad R_L = \hat A_L\,\hat A_{L-1}\cdots\hat A_1, \qquad \text{map} = (R_L)_{0,\;1:N}.$$
With a **discard ratio** $r$, the fraction $r$ of the smallest weights to patches in each row of $\bar A_l$ is set to zero before adding $I$: it keeps the strongest paths and removes a nearly uniform "haze".

**Gradient-weighted attention** (Chefer et al., 2021, generic form). Weight each attention entry by its gradient with respect to the score $y_c$ of the class $c$, keep the positive part, and accumulate:
$$R \leftarrow R + \mathbb{E}_h\!\left[\big(\nabla_{A_l} y_c \odot A_l\big)^+\right] R, \qquad R_0 = I.$$
It asks which attention *helped this class*, not only where attention went.

**Mean attention distance** (paper §4.5) of head $(l, h)$: for each query patch $i$, the weights on the patches renormalised to sum to 1, times the distance between the patch centres $c_i, c_j$ in pixels, averaged over queries and images:
$$d^{(l,h)} = \mathbb{E}_{\text{images},\,i}\Big[\textstyle\sum_j w^{(l,h)}_{ij}\,\lVert c_i - c_j \rVert\Big].$$

| English | 中文 |
|---|---|
| attention map | 注意力图 |
| attention rollout | 注意力展开 (注意力回滚) |
| gradient-weighted attention | 梯度加权注意力 |
| attention distance | 注意力距离 |
| receptive field | 感受野 |
| pointing game | 指向游戏 |
| saliency map | 显著性图 |
""")

code(r"""
%matplotlib inline
import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import display

from vit_edu import ViT
from vit_edu.attention_maps import (
    attention_rollout,
    class_token_map,
    cls_attention,
    gradient_weighted_attention,
    mean_attention_distance,
)
from vit_edu.attention_metrics import mask_to_patch_mask
from vit_edu.attention_plots import (
    attention_distance_figure,
    depth_profile_figure,
    head_grid_figure,
    method_comparison_figure,
)
from vit_edu.course import COURSE_RECIPES, course_model_info, load_course_model, train_course_model
from vit_edu.data import SHAPE_CLASSES, make_shapes, sample_photos
from vit_edu.localisation import deletion_scores, depth_profile, explanation_maps, localisation_scores
from vit_edu.train import evaluate

torch.manual_seed(0)
torch.set_num_threads(2)

RETRAIN = False   # True: train the shapes model from scratch (about 1-2 minutes on 2 CPU cores) instead of loading it
model = train_course_model("shapes", progress=False).model.eval() if RETRAIN else load_course_model("shapes")
config = model.config
grid = (config.image_size[0] // config.patch_size[0], config.image_size[1] // config.patch_size[1])
print(f"image {config.image_size}, patch P = {config.patch_size[0]}, N = {grid[0]} x {grid[1]} = {grid[0] * grid[1]}, "
      f"D = {config.dim}, L = {config.depth}, k = {config.heads}")

HELD_OUT_SEED = 101   # training used make_shapes(seed=0) and the test split seed 1: these images are new to the model
held_out = make_shapes(400, image_size=32, seed=HELD_OUT_SEED)
patch_masks = mask_to_patch_mask(held_out.masks, config.patch_size)   # (B, N): patches that touch the object
accuracy = evaluate(model, held_out.images, held_out.labels)
print(f"accuracy on {len(held_out.images)} held-out shapes: {accuracy:.1%}")
print(f"the object touches {patch_masks.float().mean().item():.1%} of the patches on average")
assert accuracy >= 0.9
""")

md(r"""
## 2. Build it: the attention of one image

`model(images, return_attention=True)` returns the logits and a list of $L$ tensors of shape $(B, k, T, T)$. We take one held-out image and read the class token's map by hand, then check it against `vit_edu.cls_attention`.
""")

code(r"""
image = held_out.images[:1]                                   # (1, 3, 32, 32)
with torch.no_grad():
    logits, attentions = model(image, return_attention=True)
L, k, T = len(attentions), attentions[0].shape[1], attentions[0].shape[-1]
print(f"{L} tensors of shape {tuple(attentions[0].shape)}  (B, k, T, T) with T = N + 1 = {T}")
assert L == config.depth and attentions[0].shape == (1, config.heads, grid[0] * grid[1] + 1, grid[0] * grid[1] + 1)
assert torch.allclose(attentions[2].sum(dim=-1), torch.ones(1, k, T))          # every row is a distribution

by_hand = attentions[-1][:, :, 0, 1:].mean(dim=1)             # (1, N): class-token row, mean over heads
assert torch.allclose(by_hand, cls_attention(attentions, layer=-1, head="mean"))
print(f"true class: {SHAPE_CLASSES[held_out.labels[0]]}, predicted: {SHAPE_CLASSES[logits.argmax()]}")
print("class token -> itself in the last layer, mean over heads:", round(attentions[-1][0, :, 0, 0].mean().item(), 3))
print("class token -> all 64 patches:", round(by_hand.sum().item(), 3))
""")

md(r"""
**Rollout by hand.** Average the heads, add $I$, renormalise, multiply — and compare with `vit_edu.attention_rollout`. With $r = 0$ nothing is discarded; every $\hat A_l$ is a row-stochastic matrix, so $R_L$ is one too.
""")

code(r"""
rollout = torch.eye(T)
for A in attentions:                                          # layers 0, 1, ..., L-1
    A_hat = A[0].mean(dim=0) + torch.eye(T)                   # (T, T): heads fused, residual added
    A_hat = A_hat / A_hat.sum(dim=-1, keepdim=True)
    rollout = A_hat @ rollout                                 # later layers multiply on the left
assert torch.allclose(rollout, attention_rollout(attentions)[0], atol=1e-6)
assert torch.allclose(rollout.sum(dim=-1), torch.ones(T), atol=1e-5)

discarded = attention_rollout(attentions, head_fusion="mean", discard_ratio=0.9)   # (1, T, T)
print("plain rollout: class token's weight on the patches sums to", round(rollout[0, 1:].sum().item(), 3))
print("rollout map shape:", tuple(class_token_map(discarded).shape))
""")

md(r"""
**Gradient-weighted attention by hand.** The attention tensors stay in the autograd graph, so `torch.autograd.grad` gives $\nabla_{A_l} y_c$ for the predicted class $c$ directly. We apply the rule above and compare with `vit_edu.gradient_weighted_attention`.
""")

code(r"""
model.eval()
logits_g, attentions_g = model(image.clone().requires_grad_(True), return_attention=True)
c = logits_g.argmax(dim=-1).item()
grads = torch.autograd.grad(logits_g[0, c], attentions_g)    # L tensors (1, k, T, T)
R = torch.eye(T)
for A, G in zip(attentions_g, grads):
    R = R + (G[0] * A[0].detach()).clamp(min=0).mean(dim=0) @ R
assert torch.allclose(R, gradient_weighted_attention(model, image)[0], atol=1e-5)
print(f"gradient-weighted relevance for class '{SHAPE_CLASSES[c]}': shape {tuple(R.shape)}, "
      f"row 0 min {R[0].min().item():.2f} (never negative)")
assert R.min() >= 0
""")

md(r"""
## 3. See it: every layer and every head

Below, each row is a layer and each column a head (the last column is the mean over heads); the overlay shows the class token's raw attention $a^{(l,h)}$, scaled to its maximum in each panel (bright = high). The image is a held-out shape the model never saw.
""")

code(r"""
index = 3
with torch.no_grad():
    _, image_attentions = model(held_out.images[index:index + 1], return_attention=True)
head_maps = torch.stack([a[0, :, 0, 1:] for a in image_attentions])   # (L, k, N)
assert head_maps.shape == (config.depth, config.heads, grid[0] * grid[1])
on_object = (head_maps * patch_masks[index]).sum(-1)                  # (L, k): class-token weight on object patches
print(f"image {index}: a {SHAPE_CLASSES[held_out.labels[index]]}; "
      f"it touches {int(patch_masks[index].sum())} of {grid[0] * grid[1]} patches")
print("share of the class token's patch attention on the object, per layer (rows) and head (columns):")
print((on_object / head_maps.sum(-1)).numpy().round(2))
display(head_grid_figure(held_out.images[index], head_maps, grid,
                         title=f"class-token attention, held-out {SHAPE_CLASSES[held_out.labels[index]]}"))
""")

md(r"""
**TODO (write once the committed shapes model exists):** what the grid shows — which layers/heads single out the object, which stay diffuse; assert one robust fact from the printed share table above (e.g. the best head of the last layer puts most of its weight on the object).
""")

md(r"""
### The methods side by side, on shapes and on photos

Raw attention of the last layer, rollout without and with discarding, and gradient-weighted attention for the predicted class, on four held-out shapes and two photos shipped with scikit-image (resized to 32 x 32). The model has only ever seen synthetic shapes, so its prediction for a photo is meaningless and the photo maps are only qualitative: they show which parts of an unfamiliar image the same weights single out.
""")

code(r"""
photos = sample_photos(size=32, names=("astronaut", "coffee"))       # (2, 3, 32, 32)
examples = torch.cat([held_out.images[:4], photos])
example_maps = explanation_maps(model, examples, discard_ratio=0.9)  # method -> (6, N)
with torch.no_grad():
    predicted = model(examples).argmax(dim=-1)
labels = [f"{SHAPE_CLASSES[y]}" for y in held_out.labels[:4]] + ["astronaut", "coffee"]
row_labels = [f"{name}\n(pred. {SHAPE_CLASSES[p]})" for name, p in zip(labels, predicted)]
print("methods:", list(example_maps))
assert all(m.shape == (6, grid[0] * grid[1]) for m in example_maps.values())
display(method_comparison_figure(examples, example_maps, grid, row_labels=row_labels))
""")

md(r"""
**TODO:** compare the four columns (raw last layer vs plain rollout vs rollout with discard vs gradient-weighted); say that photo maps are qualitative only.
""")

md(r"""
## 4. Play with it: the attention explorer

Choose an image (held-out shapes or photos), a layer — or **rollout** / **gradient-weighted**, which combine all layers — and a head or the mean over heads. With *query: class token* you see the class token's row of $A$; **click a patch** to see where *that patch* looks (its own row of $A$). The bars show the predicted class probabilities.

The widget draws into one matplotlib figure and only updates its artists (`set_data`), then sends the PNG to a tiny `anywidget` that reports your clicks as pixel coordinates (see `vit_edu/widgets/clickable_image.py` for why). All computation lives in `AttentionExplorerState`, which we drive here without a browser; the static figures below are drawn by the same code, so this page also reads without a running kernel.
""")

code(r"""
from vit_edu.widgets.attention_explorer import (
    AttentionExplorerState,
    attention_explorer_figure,
    attention_explorer_widget,
)

explorer_images = torch.cat([held_out.images[:8], sample_photos(size=32)])
explorer_labels = held_out.labels[:8].tolist() + [None] * (len(explorer_images) - 8)
explorer_names = [f"shape {i}: {SHAPE_CLASSES[y]}" for i, y in enumerate(explorer_labels[:8])] + \
    [f"photo: {name}" for name in ("astronaut", "chelsea", "coffee", "rocket")]
state = AttentionExplorerState(model, explorer_images, explorer_labels, SHAPE_CLASSES, names=explorer_names,
                               discard_ratio=0.9)

# the state computes exactly the maps of section 2, from one cached forward pass per image
state.set_image(0).set_layer(config.depth - 1).set_head("mean").select_class_token()
assert np.allclose(state.grid_map.ravel(), by_hand[0].numpy(), atol=1e-6)
state.set_layer("rollout")
assert np.allclose(state.grid_map.ravel(), class_token_map(discarded)[0].numpy(), atol=1e-6)
patch = state.click(x=13.0, y=21.5)          # image pixel (x right, y down) -> patch (row 5, col 3)
assert patch == 5 * grid[1] + 3 and state.query_index == patch + 1
print(state.title)
print(state.prediction_text)
display(attention_explorer_figure(state, layer=0, head="mean"))
display(attention_explorer_figure(state, layer="rollout", patch=None))
""")

code(r"""
attention_explorer_widget(state)
""")

md(r"""
Things to try: in layer 0, click patches of the background and of the object — does a background patch look at its neighbours or everywhere? Compare head 0 to head 3 in layer 0. Then switch to a photo: the model was trained only on shapes, yet its heads still group regions by colour and position.

## 5. How far does each head look? Attention distance vs depth (paper Fig. 7, right)

We compute $d^{(l,h)}$ for all 16 heads on 200 held-out images, for the trained model and for the same architecture at its random initialisation. The dashed line is the distance of perfectly uniform attention over the $8 \times 8$ patches: the largest *average* a head can reach without favouring far patches. In the paper (ViT-L/16 on 224 x 224 images, 24 layers) distances range from about 10 to 120 pixels.
""")

code(r"""
subset = held_out.images[:200]
random_model = ViT(**COURSE_RECIPES["shapes"].model, seed=0).eval()     # same architecture, untrained
with torch.no_grad():
    trained_att = model(subset, return_attention=True)[1]
    random_att = random_model(subset, return_attention=True)[1]
distance = mean_attention_distance(trained_att, grid, config.patch_size)        # (L, k) pixels
distance_random = mean_attention_distance(random_att, grid, config.patch_size)
uniform = torch.full((1, 1, T, T), 1.0 / T)
distance_uniform = mean_attention_distance([uniform], grid, config.patch_size)[0, 0].item()
print(f"uniform attention over the {grid[0]}x{grid[1]} patches: {distance_uniform:.1f} pixels")
print("trained model, pixels (rows: layers 0..3, columns: heads 0..3)")
print(distance.numpy().round(1))
print("random initialisation")
print(distance_random.numpy().round(1))
display(attention_distance_figure({"trained on shapes": distance, "random initialisation": distance_random},
                                  uniform=distance_uniform, image_size=32))
""")

md(r"""
**TODO: the honest comparison with the paper's Fig. 7 (right).** Paper: in the lowest layers some heads are global, others local; distance grows with depth. State which of these our 4-layer, 8x8-patch model shows (numbers above), that the random initialisation is uniform (every head at the dashed line) so any spread is learned, and what limits the comparison (8 x 8 grid: at most ~20 px; 4 layers; a task that needs one small object). Assert only what the numbers support robustly.
""")

md(r"""
## 6. Do the maps point at the object?

Pictures can flatter any method, so we score the maps on the 400 held-out shapes. Everything is measured at **patch resolution**, where a map has one value per patch; a patch "is on the object" if any of its pixels is (`mask_to_patch_mask`).

- **Pointing game**: 1 if the highest-scoring patch is on the object, else 0, averaged over images.
- **Energy-based pointing**: the share of the map's positive mass on object patches.
- **Chance level** for both: the fraction of patches on the object (a map that knows nothing — uniform or random — scores this on average).
- **Deletion AUC**: replace the most salient patches first by the image's mean colour and follow the probability of the predicted class as more and more patches go; the area under that curve is low when the map found what the prediction depends on. Chance: random maps.
""")

code(r"""
maps = explanation_maps(model, held_out.images, discard_ratio=0.9)      # method -> (400, N)
scores = localisation_scores(maps, patch_masks)
chance = scores["chance"]["pointing"]
n_deletion = 100
deletion = deletion_scores(model, held_out.images[:n_deletion], {m: v[:n_deletion] for m, v in maps.items()}, steps=8)
print(f"{'method':26s} {'pointing':>9s} {'energy':>7s} {'energy/chance':>14s} {'deletion AUC':>13s}")
for name in maps:
    s = scores[name]
    print(f"{name:26s} {s['pointing']:9.2f} {s['energy']:7.2f} {s['energy'] / chance:14.1f} {deletion[name]:13.2f}")
print(f"{'chance (random maps)':26s} {chance:9.2f} {chance:7.2f} {1.0:14.1f} {deletion['random']:13.2f}")
best = max(maps, key=lambda name: scores[name]["energy"])
print(f"\nbest by energy: {best}")
""")

md(r"""
**TODO:** interpret the table: best method vs the targets (pointing >= 0.95, energy >= 0.8 and >= 4x chance); raw last-layer attention vs rollout vs discard vs gradient; deletion AUC vs random. Add asserts for the targets in the cell above (if the committed model misses them, report the numbers instead of tuning the metric).
""")

md(r"""
### Where in depth does localisation appear?

The same two scores for the raw class-token attention of each layer (mean over heads, and the best single head) and for rollout stopped after layer $l$ (discard ratio 0.9).
""")

code(r"""
profile = depth_profile(model, held_out.images, patch_masks, discard_ratio=0.9)
print("layer | raw attention: pointing  energy | best head: pointing  energy | rollout 0..l: pointing  energy")
for layer in range(config.depth):
    print(f"{layer:5d} | {profile['raw_pointing'][layer]:23.2f} {profile['raw_energy'][layer]:7.2f} | "
          f"{profile['head_pointing'][layer].max():19.2f} {profile['head_energy'][layer].max():7.2f} | "
          f"{profile['rollout_pointing'][layer]:22.2f} {profile['rollout_energy'][layer]:7.2f}")
display(depth_profile_figure(profile, chance))
""")

md(r"""
**TODO:** where in depth localisation appears (raw attention per layer, best head, rollout 0..l); assert the robust ordering seen in the numbers.
""")

md(r"""
## 7. Exercises

### Exercise 1: the class token's map of one layer
Write `my_class_token_map(attentions, layer)` that returns the class token's attention to the $N$ patches in layer `layer`, averaged over the heads: shape $(B, N)$. `attentions` is the list returned by `model(images, return_attention=True)`.
""")

code(r"""
def my_class_token_map(attentions, layer):
    ### BEGIN SOLUTION
    return attentions[layer].mean(dim=1)[:, 0, 1:]
    ### END SOLUTION
""")

code(r"""
from vit_edu.exercises.attention_maps import check_class_token_map, check_energy_pointing, check_rollout_step

feedback = check_class_token_map(my_class_token_map)
display(feedback)
### BEGIN HIDDEN TESTS
assert feedback.passed, feedback
### END HIDDEN TESTS
""")

md(r"""
### Exercise 2: one step of attention rollout
Write `my_rollout_step(attention, rollout)`: given one layer's attention $A_l$ of shape $(B, k, T, T)$ and the rollout so far $R_{l-1}$ of shape $(B, T, T)$, return $R_l = \mathrm{rownorm}(\bar A_l + I)\,R_{l-1}$, with $\bar A_l$ the mean over heads.
""")

code(r"""
def my_rollout_step(attention, rollout):
    ### BEGIN SOLUTION
    eye = torch.eye(attention.shape[-1], dtype=attention.dtype)
    a_hat = attention.mean(dim=1) + eye
    a_hat = a_hat / a_hat.sum(dim=-1, keepdim=True)
    return a_hat @ rollout
    ### END SOLUTION
""")

code(r"""
feedback = check_rollout_step(my_rollout_step)
display(feedback)
### BEGIN HIDDEN TESTS
assert feedback.passed, feedback
### END HIDDEN TESTS
""")

md(r"""
### Exercise 3: energy-based pointing
Write `my_energy_pointing(maps, patch_masks)` for maps of shape $(B, N)$ (they may contain negative values) and boolean patch masks $(B, N)$: the share of each map's positive mass $\sum_j \max(m_j, 0)$ that lies on object patches, one number per image.
""")

code(r"""
def my_energy_pointing(maps, patch_masks):
    ### BEGIN SOLUTION
    positive = maps.clamp(min=0)
    return (positive * patch_masks).sum(dim=-1) / positive.sum(dim=-1)
    ### END SOLUTION
""")

code(r"""
feedback = check_energy_pointing(my_energy_pointing)
display(feedback)
### BEGIN HIDDEN TESTS
assert feedback.passed, feedback
### END HIDDEN TESTS
""")

md(r"""
## Summary and what comes next

**TODO:** 4 bullets with the measured numbers (pointing, energy, deletion, attention distance).

**Next — lesson 08, [inductive bias](08_inductive_bias.ipynb)**: ViT has almost no built-in locality; we measure what that costs when data is scarce. Back to the [course map](00_index.ipynb).
""")

nb = new_notebook(cells=cells, metadata={
    "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
    "language_info": {"name": "python"},
})
nbformat.write(nb, "notebooks/07_attention_maps.ipynb")
print(len(cells), "cells")
