# %% [markdown]
# # Lesson 02 — The [class] token and position embeddings
#
# **Learning goals.** After this lesson you can
#
# 1. build the encoder's input sequence of Eq. 1 — prepend the learnable [class] token to the patch tokens and add the position embeddings — and say what `pool='cls'` and `pool='mean'` read from the output;
# 2. show numerically that without position embeddings a Transformer treats the patches as a *set*: shuffle the patches and its outputs shuffle the same way (permutation equivariance), while the class token's output does not move;
# 3. see what learned 1-D position embeddings learn (the cosine-similarity grid of the paper's Fig. 7, centre) and resample them to a new image size.
#
# **Paper.** Dosovitskiy et al. (2020), §3.1 (Eq. 1 and 4), §3.2 (fine-tuning at higher resolution), Appendix D.3 (class token vs. global average pooling) and D.4 (position embeddings). In our words: as BERT does with its `[class]` token, ViT puts one extra learned vector in front of the patch sequence and uses its final state as the image representation; every position (class token included) gets its own learned vector, the "standard learnable 1D position embeddings", added to the token.
#
# | term | 中文 |
# |---|---|
# | [class] token | 分类标记（[class] 标记） |
# | position embedding | 位置编码（位置嵌入） |
# | pooling | 池化 |
# | permutation equivariance | 置换等变性 |
# | cosine similarity | 余弦相似度 |
# | interpolation | 插值 |
#
# *Study time: about 40 minutes. Run time: well under a minute on a CPU.*

# %% [markdown]
# ## 1. The idea
#
# After patching (lesson 01) we have $N$ patch tokens $\mathbf{x}_p^i\mathbf{E} \in \mathbb{R}^D$. The encoder's input adds one extra token in front and a position vector to every token:
#
# $$\mathbf{z}_0 = [\,\mathbf{x}_\text{class};\ \mathbf{x}_p^1\mathbf{E};\ \mathbf{x}_p^2\mathbf{E};\ \dots;\ \mathbf{x}_p^N\mathbf{E}\,] + \mathbf{E}_{pos}, \qquad \mathbf{E}_{pos} \in \mathbb{R}^{(N+1)\times D} \tag{1}$$
# $$\mathbf{y} = \mathrm{LN}(\mathbf{z}_L^0) \tag{4}$$
#
# ```
#  position:   0        1      2            N
#  token:   [class]  patch1  patch2  ...  patchN      every token gets its own learned E_pos row
#               |       \______|____________/
#               |     L encoder blocks mix all tokens by attention
#               v
#   y = LN(z_L^0): the class token's output is the image representation  (pool='cls')
#   or  the mean of the N patch outputs                                   (pool='mean')
# ```
#
# $\mathbf{x}_\text{class}$ is the same learned vector for every image; by the last layer its state has gathered information from the patches through attention, so it differs per image. To see learned embeddings we need a trained model. We train a small ViT on **digits** here (sklearn's 8 × 8 handwritten digits, $P = 2$, so a 4 × 4 grid of $N = 16$ patches, $D = 64$, $L = 4$ blocks, 10 classes): 10 epochs, about 15 s on one CPU core. It is a smaller, quicker cousin of the course's digits model that lesson 06 trains properly; its settings are written out in the cell so that this lesson does not change when that recipe is retuned. The course's larger shapes model (32 × 32 images, an 8 × 8 grid) had no checkpoint when this lesson was written, so the lesson does not depend on it.

# %%
%matplotlib inline
import copy
import time

import torch
import torch.nn.functional as F
from einops import rearrange
from IPython.display import display

from vit_edu import ViT, resample_position_embeddings
from vit_edu.data import DIGIT_CLASSES, load_digits_split
from vit_edu.patches import patchify
from vit_edu.train import train
from vit_edu.positions import (
    permutation_equivariance_error,
    position_similarity,
    shuffle_patches,
    similarity_by_distance,
)

torch.set_num_threads(1)  # a tiny model: one thread is as fast, and the numbers do not depend on the core count
torch.manual_seed(0)
train_images, train_labels, test_images, test_labels = load_digits_split(seed=0)   # 1347 / 450 images, (n, 1, 8, 8)
architecture = dict(image_size=8, patch_size=2, channels=1, num_classes=10, dim=64, depth=4, heads=4, mlp_dim=128,
                    dropout=0.1)
model = ViT(**architecture, seed=0)                           # pool='cls' is the default
start = time.perf_counter()
train(model, train_images, train_labels, epochs=10, batch_size=64, lr=3e-3, weight_decay=0.1, warmup_epochs=2,
      label_smoothing=0.1, seed=0, device="cpu", progress=False)
seconds = time.perf_counter() - start
model.eval()
config = model.config
print(f"image {config.image_size}, patch {config.patch_size}, grid {config.grid_size}, "
      f"N = {config.num_patches}, T = {config.seq_len}, D = {config.dim}, pool = {config.pool!r}")
print(f"trained 10 epochs on {len(train_labels)} images in {seconds:.0f} s; "
      f"test images {tuple(test_images.shape)}, classes {DIGIT_CLASSES[0]}..{DIGIT_CLASSES[-1]}")
assert config.grid_size == (4, 4) and seconds < 120

# %% [markdown]
# ## 2. Build it: prepend the class token, add the positions

# %%
images = test_images[:4]                                   # (B, C, H, W)
B, N, D = len(images), config.num_patches, config.dim
with torch.no_grad():
    patch_tokens = model.patch_embed(images)               # (B, N, D)
    cls = model.cls_token.expand(B, -1, -1)                # (1, 1, D) -> (B, 1, D): one copy per image
    tokens = torch.cat([cls, patch_tokens], dim=1)         # (B, N + 1, D): class token at index 0
    z0 = tokens + model.pos_embed                          # (B, N + 1, D): E_pos broadcast over the batch
for name, tensor, shape in [("patch_tokens", patch_tokens, (B, N, D)), ("cls", cls, (B, 1, D)),
                            ("tokens", tokens, (B, N + 1, D)), ("pos_embed", model.pos_embed, (1, N + 1, D)),
                            ("z0", z0, (B, N + 1, D))]:
    assert tensor.shape == shape, name
    print(f"{name:13s}{tuple(tensor.shape)}")
with torch.no_grad():
    assert torch.allclose(z0, model.embed(images))         # the package's Eq. 1

# %% [markdown]
# The class token enters identical for every image and leaves different: attention has mixed the patches into it.

# %%
with torch.no_grad():
    out = model.forward_features(images)                   # (B, N + 1, D), after the final LayerNorm
same_in = (z0[0, 0] - z0[1, 0]).abs().max().item()
diff_out = (out[0, 0] - out[1, 0]).abs().max().item()
print(f"class token, image 0 vs image 1: input differs by {same_in:.1f}, output by {diff_out:.1f} (max abs)")
assert same_in == 0 and diff_out > 0.1

# %% [markdown]
# ### `pool='cls'` or `pool='mean'`?
#
# The head needs one vector per image. `pool='cls'` reads the class token's output $\mathbf{z}_L^0$ (Eq. 4); `pool='mean'` averages the $N$ patch outputs (global average pooling, GAP; the class token then stays in the sequence but its output is not used). The choice changes no parameter, only which vector the head reads, so it is made before training: the paper (Appendix D.3, Fig. 9) finds both work about equally well once the learning rate is tuned for each. Our model was trained with `pool='cls'`; a `pool='mean'` model with the *same weights* hands its head a vector it was never trained on:

# %%
mean_model = ViT.from_config(config.replace(pool="mean")).eval()
mean_model.load_state_dict(model.state_dict())
assert mean_model.num_parameters() == model.num_parameters()      # pooling has no parameters
with torch.no_grad():
    tokens_out = model.forward_features(test_images)               # (450, N + 1, D)
    assert torch.equal(model.pool(tokens_out), tokens_out[:, 0])              # cls: token 0
    assert torch.equal(mean_model.pool(tokens_out), tokens_out[:, 1:].mean(1))  # mean: patches only
    acc_cls = (model(test_images).argmax(1) == test_labels).float().mean().item()
    acc_mean = (mean_model(test_images).argmax(1) == test_labels).float().mean().item()
    cos_cls_mean = F.cosine_similarity(tokens_out[:, 0], tokens_out[:, 1:].mean(1)).mean().item()
print(f"accuracy on {len(test_labels)} test images: pool='cls' (as trained) {acc_cls:.3f}, "
      f"pool='mean' with the same weights {acc_mean:.3f} (chance {1 / len(DIGIT_CLASSES):.2f})")
print(f"cosine similarity of the class token's output and the mean patch output: {cos_cls_mean:.2f} (average)")
assert acc_cls > 0.8 and 1 / len(DIGIT_CLASSES) + 0.2 < acc_mean < acc_cls and cos_cls_mean > 0.5

# %% [markdown]
# The head was trained on the class token's output, so mean pooling with the same weights costs accuracy — but far less than one might guess, because after four layers of attention the class token's output points nearly the same way as the average patch output: the class token has *gathered* its information from the patches. A model meant for mean pooling is trained with it from the start; it often has no class token at all (timm: `class_token=False, global_pool='avg'`), while vit-pytorch keeps the token and averages all $N + 1$ outputs. Our `pool='mean'` averages the $N$ patch outputs. With tuned learning rates the paper finds both poolings about equally good.

# %% [markdown]
# ## 3. Without positions, patches are a set
#
# Self-attention compares every token with every other token; nothing in Eq. 5–8 depends on the *order* of the tokens. If $\Pi$ permutes the rows of $\mathbf{z}$, then $\mathrm{softmax}(\Pi q k^\top \Pi^\top)\,\Pi v = \Pi\,\mathrm{SA}(\mathbf{z})$: the outputs are permuted the same way (**equivariance**). LayerNorm and the MLP act on each token alone, so the whole encoder is equivariant, and the class token's output — a weighted sum over all tokens — does not change at all (**invariance**). Position embeddings are the only place where the order enters.
#
# We shuffle the 16 patches of the images, and compare the model with its position embeddings set to zero ("bag of patches") and the trained model with them.

# %%
generator = torch.Generator().manual_seed(0)
perm = torch.randperm(N, generator=generator)                      # new patch i = old patch perm[i]
shuffled = shuffle_patches(images, config.patch_size, perm)        # (B, C, H, W)

bag = copy.deepcopy(model)
with torch.no_grad():
    bag.pos_embed.zero_()                                          # E_pos = 0: no position information
    a, b = bag.forward_features(images), bag.forward_features(shuffled)
    patch_error = (b[:, 1:] - a[:, 1:][:, perm]).abs().max().item()  # outputs permuted like the inputs?
    cls_error = (b[:, 0] - a[:, 0]).abs().max().item()             # class token unchanged?
    c, d = model.forward_features(images), model.forward_features(shuffled)
    cls_change = (d[:, 0] - c[:, 0]).abs().max().item()
# round-off differs between CPUs, so we print bounds (the exact errors are about 1e-6)
print(f"without positions: patch outputs permute like the patches (max error < 1e-4: {patch_error < 1e-4}), "
      f"class output unchanged (max change < 1e-4: {cls_error < 1e-4})")
print(f"with positions:    class output changes by {cls_change:.1f} (max abs)")
assert patch_error < 1e-4 and cls_error < 1e-4
assert cls_change > 0.1

# the same property one block at a time, tokens (B, T, D) with the class token moved too
sequence = torch.randn(2, N + 1, D, generator=generator)
block_perm = torch.randperm(N + 1, generator=generator)
errors = [permutation_equivariance_error(block, sequence, block_perm) for block in model.blocks]
print(f"each of the {len(errors)} encoder blocks is equivariant (max error < 1e-4): {max(errors) < 1e-4}")
assert max(errors) < 1e-4

# %% [markdown]
# What does it mean for classification? The bag-of-patches model gives *exactly* the same prediction for an image and for its shuffled patches, whatever it has learned; the trained model, which knows where each patch is, does not.

# %%
with torch.no_grad():
    shuffled_test = shuffle_patches(test_images, config.patch_size, perm)
    bag_same = (bag(test_images).argmax(1) == bag(shuffled_test).argmax(1)).float().mean().item()
    acc_shuffled = (model(shuffled_test).argmax(1) == test_labels).float().mean().item()
print(f"bag of patches: same prediction for shuffled images in {bag_same:.0%} of cases")
print(f"trained model: accuracy {acc_cls:.3f} on the images, {acc_shuffled:.3f} on the shuffled images")
assert bag_same == 1.0 and acc_shuffled < 0.2

# %%
from vit_edu.plots import plot_image_grid

display(plot_image_grid(torch.cat([images[:2], shuffled[:2]]), titles=["image 0", "image 1", "shuffled 0", "shuffled 1"],
                        size=2.0))

# %% [markdown]
# On shuffled digits the trained model drops to about chance (10 %): it relies on *where* each stroke is, and it can only know that through $\mathbf{E}_{pos}$. The bag-of-patches model cannot be fooled by shuffling, but for the same reason it can never tell apart two images made of the same patches in different places.

# %% [markdown]
# ## 4. What the learned position embeddings learn
#
# $\mathbf{E}_{pos}$ is a plain $(N+1) \times D$ table: row $i$ belongs to token $i$. It is "1-D": nothing tells the model that token 5 lies below token 1 on the 4 × 4 grid. The paper (Fig. 7, centre, ViT-L/32 trained on JFT-300M) finds that trained embeddings nevertheless encode the 2-D layout: a patch's embedding is most similar (cosine similarity) to those of nearby patches, and rows and columns show up. We measure the same grid for our model and compare it with its *initial* embeddings (the same model before training, rebuilt with `seed=0`). First the paper's question: does the similarity fall with the grid distance $|\Delta r| + |\Delta c|$?

# %%
initial = ViT(**architecture, seed=0)                            # the model before training
sources = {"trained": model.pos_embed.detach(), "initial (random)": initial.pos_embed.detach()}
sim = {name: position_similarity(pos, config.grid_size) for name, pos in sources.items()}   # (h, w, h, w)
h, w = config.grid_size
assert sim["trained"].shape == (h, w, h, w) == (4, 4, 4, 4)
profiles = {name: similarity_by_distance(s) for name, s in sim.items()}
print("grid distance |dr|+|dc|:", "  ".join(f"{d:5d}" for d in profiles["trained"]))
for name, profile in profiles.items():
    print(f"{name:>22s}:", "  ".join(f"{v:5.2f}" for v in profile.values()))
trained, random_init = profiles["trained"], profiles["initial (random)"]
assert max(abs(v) for v in random_init.values()) < 0.15                 # random: no structure
assert trained[1] < 0.3 and trained[max(trained)] == max(trained.values())  # no neighbour bump; far corners most alike

# %% [markdown]
# Not on this small problem: neighbours (distance 1) are hardly more alike than far patches, and the opposite corners (distance 6) are the most alike. The embeddings did learn something — they are far from their random start — but it is not the neighbourhood. What they learn depends on the data. Handwritten digits are centred: the left and right columns of patches are often blank, the middle columns hold the ink. Let us group the patches that way and average the similarity within and across the groups.

# %%
patch_pixels = patchify(train_images, config.patch_size)    # (1347, N, P^2 C)
blank = (patch_pixels.amax(-1) == 0).float().mean(0).reshape(h, w)  # fraction of training images where the patch is empty
print("fraction of training images in which the patch is blank, by grid position:")
print(blank.numpy().round(2))
side = torch.zeros(h, w, dtype=torch.bool)
side[:, [0, w - 1]] = True                                       # the outer columns
side = side.flatten()                                            # (N,)
others = ~torch.eye(h * w, dtype=torch.bool)                     # leave out each patch with itself


def mean_similarity(similarity, rows, cols):
    grid = similarity.reshape(h * w, h * w)                      # (N, N)
    return grid[rows][:, cols][others[rows][:, cols]].mean().item()


groups = {name: {"side-side": mean_similarity(s, side, side), "middle-middle": mean_similarity(s, ~side, ~side),
                 "side-middle": mean_similarity(s, side, ~side)} for name, s in sim.items()}
print(f"{'mean cosine similarity':>22s}:", "  ".join(f"{g:>13s}" for g in groups["trained"]))
for name, group in groups.items():
    print(f"{name:>22s}:", "  ".join(f"{v:13.2f}" for v in group.values()))
side_blank, middle_blank = blank.flatten()[side].mean().item(), blank.flatten()[~side].mean().item()
assert side_blank > 0.3 and middle_blank < 0.1
assert min(groups["trained"]["side-side"], groups["trained"]["middle-middle"]) > groups["trained"]["side-middle"] + 0.2
assert max(abs(v) for v in groups["initial (random)"].values()) < 0.1

# %%
from vit_edu.widgets.position_similarity import similarity_mosaic_figure

display(similarity_mosaic_figure(sources, config.grid_size))

# %% [markdown]
# Each small square is one patch's similarity map: tile (row $r$, column $c$) shows the cosine similarity of patch $(r, c)$'s embedding with every patch. After training, side patches resemble side patches, middle patches resemble middle patches, and the two groups point apart (negative similarity); at random init all three numbers are about 0. In the trained mosaic above, the tiles of the outer columns are bright in the outer columns and dark in the middle ones: the embeddings have learned "this is an often-blank side position", a fact about columns of the 2-D grid that the 1-D table was never told. The random ones are noise. With much more data and training (the paper's JFT models) the embeddings learn the finer neighbourhood structure as well; a model as small as ours, trained for seconds, learns what matters most for its data first.
#
# ### Play with it: pick a patch

# %%
from vit_edu.widgets.position_similarity import (
    PositionSimilarityState,
    position_similarity_figure,
    position_similarity_widget,
)

state = PositionSimilarityState(sources, config.grid_size)
state.select_patch(1, 0)                               # a patch of the left column
for name in state.names:
    print(state.label(name))
row, col, _ = state.most_similar_other("trained")
assert col in (0, w - 1)                               # its closest embedding is another side patch
display(position_similarity_figure(state))

# %%
position_similarity_widget(sources, config.grid_size, row=1, col=0)

# %% [markdown]
# ## 5. A new image size: resample the position embeddings
#
# The patch projection, attention and MLP work for any number of tokens, but $\mathbf{E}_{pos}$ has exactly $N + 1$ rows. To fine-tune at a higher resolution the paper keeps the patch size, gets a longer sequence, and *"performs 2D interpolation of the pre-trained position embeddings, according to their location in the original image"* (§3.2). The class token has no location; its row is kept. Our model refuses images of the wrong size and says what to do:

# %%
big_images = F.interpolate(test_images, size=(12, 12), mode="bilinear", align_corners=False)   # (450, 1, 12, 12)
try:
    model(big_images[:1])
except ValueError as error:
    print("ValueError:", error)

# %%
big = copy.deepcopy(model).resample_position_embeddings(12)     # 4 x 4 grid -> 6 x 6 grid
print("pos_embed", tuple(model.pos_embed.shape), "->", tuple(big.pos_embed.shape), " grid", big.config.grid_size)
assert big.pos_embed.shape == (1, 1 + 6 * 6, D)

# check against F.interpolate written out: rows 1.. as a (D, 4, 4) image, bicubic, back to a sequence
grid = rearrange(model.pos_embed[:, 1:].detach(), "1 (h w) d -> 1 d h w", h=4)         # (1, D, 4, 4)
grid = F.interpolate(grid, size=(6, 6), mode="bicubic", align_corners=False)           # (1, D, 6, 6)
by_hand = torch.cat([model.pos_embed[:, :1].detach(), rearrange(grid, "1 d h w -> 1 (h w) d")], dim=1)
assert torch.allclose(big.pos_embed, by_hand, atol=1e-6)
assert torch.equal(big.pos_embed[:, 0], model.pos_embed[:, 0])      # class token row kept
assert torch.equal(resample_position_embeddings(model.pos_embed, (4, 4), (4, 4)), model.pos_embed)

with torch.no_grad():
    acc_big = (big(big_images).argmax(1) == test_labels).float().mean().item()
    acc_big_bag = (bag.resample_position_embeddings(12)(big_images).argmax(1) == test_labels).float().mean().item()
print(f"accuracy at 12 px (images upsampled, no fine-tuning): resampled E_pos {acc_big:.3f}, "
      f"E_pos = 0 {acc_big_bag:.3f}; at 8 px: {acc_cls:.3f} (chance {1 / len(DIGIT_CLASSES):.2f})")
assert acc_big > acc_big_bag + 0.2

# %%
display(similarity_mosaic_figure({"resampled to 6 x 6 (bicubic)": big.pos_embed.detach()}, (6, 6)))

# %% [markdown]
# The resampled embeddings keep the layout they learned (outer columns alike), now on a 6 × 6 grid; interpolation also makes new neighbours similar, since each new embedding is a blend of its old neighbours. The accuracies above show how far resampling alone carries the model to the new size without any fine-tuning, compared with dropping the positions; the paper always fine-tunes after resampling (§3.2), and resampling gives that fine-tuning a sensible start.

# %% [markdown]
# ## 6. Exercises
#
# ### Exercise 1: prepend the class token
# Write `prepend_class_token(patch_tokens, cls_token)`: `patch_tokens` is `(B, N, D)`, `cls_token` is the learned `(1, 1, D)` parameter; return `(B, N + 1, D)` with the class token first in every image's sequence.

# %%
def prepend_class_token(patch_tokens, cls_token):
    ### BEGIN SOLUTION
    cls = cls_token.expand(patch_tokens.shape[0], -1, -1)
    return torch.cat([cls, patch_tokens], dim=1)
    ### END SOLUTION

# %%
from vit_edu.exercises.positions import (
    check_cosine_similarity_grid,
    check_prepend_class_token,
    check_resample_positions,
)

feedback = check_prepend_class_token(prepend_class_token)
display(feedback)
### BEGIN HIDDEN TESTS
assert feedback.passed, feedback
### END HIDDEN TESTS

# %% [markdown]
# ### Exercise 2: the cosine-similarity grid
# Write `cosine_similarity_grid(pos_embed)`: `pos_embed` is `(1, 1 + N, D)` (class token first); return the `(N, N)` matrix whose entry $(i, j)$ is the cosine similarity $\frac{a\cdot b}{\|a\|\,\|b\|}$ of the position embeddings of patches $i$ and $j$.

# %%
def cosine_similarity_grid(pos_embed):
    ### BEGIN SOLUTION
    patches = F.normalize(pos_embed[0, 1:], dim=-1)
    return patches @ patches.T
    ### END SOLUTION

# %%
feedback = check_cosine_similarity_grid(cosine_similarity_grid)
display(feedback)
### BEGIN HIDDEN TESTS
assert feedback.passed, feedback
assert torch.allclose(cosine_similarity_grid(model.pos_embed.detach()), sim["trained"].reshape(N, N), atol=1e-5)
### END HIDDEN TESTS

# %% [markdown]
# ### Exercise 3: resample position embeddings
# Write `resample_positions(pos_embed, old_grid, new_grid)`: `pos_embed` is `(1, 1 + h*w, D)` for the grid `old_grid = (h, w)`; return `(1, 1 + H*W, D)` for `new_grid = (H, W)` by 2-D interpolation (`F.interpolate`, bicubic, `align_corners=False`), keeping the class token's row.

# %%
def resample_positions(pos_embed, old_grid, new_grid):
    ### BEGIN SOLUTION
    cls, patches = pos_embed[:, :1], pos_embed[:, 1:]
    grid = rearrange(patches, "1 (h w) d -> 1 d h w", h=old_grid[0], w=old_grid[1])
    grid = F.interpolate(grid, size=new_grid, mode="bicubic", align_corners=False)
    return torch.cat([cls, rearrange(grid, "1 d h w -> 1 (h w) d")], dim=1)
    ### END SOLUTION

# %%
feedback = check_resample_positions(resample_positions)
display(feedback)
### BEGIN HIDDEN TESTS
assert feedback.passed, feedback
### END HIDDEN TESTS

# %% [markdown]
# ## Summary
#
# - The input sequence is $[\mathbf{x}_\text{class}; \text{patches}] + \mathbf{E}_{pos}$: one learned token in front (the same for every image) and one learned vector per position. `pool='cls'` reads token 0 at the output, `pool='mean'` averages the patch outputs; the choice adds no parameters but must be made before training.
# - Without position embeddings the encoder is permutation-equivariant: shuffle the patches and the outputs shuffle, the class token's output does not change, so the model sees a bag of patches.
# - Learned 1-D position embeddings learn what a position *means* for the data. In the paper's large models (Fig. 7, centre) nearby patches get similar embeddings and rows and columns appear; in our tiny digits model, trained for seconds, the embeddings split the often-blank outer columns from the inked middle ones. At random init the similarities are all about 0.
# - For a new image size keep $P$, resample $\mathbf{E}_{pos}$ in 2-D (`ViT.resample_position_embeddings`), keep the class token's row, then fine-tune.
#
# **Next**: [03 · Self-attention](03_self_attention.ipynb) opens the box that mixes the tokens.
