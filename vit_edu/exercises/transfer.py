"""Checks for the transfer lesson (pre-train, then fine-tune): a new zero-initialised head, freezing all
but the head for a linear probe, and resampling position embeddings for a higher resolution.

Each check builds a small ViT or embedding of its own, runs the student's function on a copy,
compares with a reference written here (or an independent torch call) and recognises typical
mistakes: the old head kept, a random instead of a zero head, ``model.eval()`` taken for
freezing, the class token or position embeddings left trainable, the class token dropped or
interpolated, a 1-D interpolation of the sequence, the grid taken in pixels instead of patches.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from vit_edu.exercises.feedback import Feedback, close, function_name, hint_on_crash, run_for_tensor, run_student_code
from vit_edu.model import ViT


def _small_vit(num_classes: int = 4, seed: int = 0) -> ViT:
    return ViT(image_size=16, patch_size=4, num_classes=num_classes, dim=12, depth=2, heads=2, mlp_dim=24, seed=seed)


# ------------------------------------------------------------------------ new head
def check_new_head(function: Callable[[ViT, int], ViT]) -> Feedback:
    """Check ``function(model, num_classes) -> model`` with a zero-initialised D x K head (paper §3.2)."""
    model, num_classes = _small_vit(num_classes=4), 7
    original = {k: v.clone() for k, v in model.state_dict().items()}
    old_head = model.head
    result, problem = run_student_code(function, model, num_classes)
    if problem is not None:
        return problem
    if result is None:
        return Feedback(False, f"`{function_name(function)}` returned None: return the model at the end.",
                        {"mistake": "none"})
    if not isinstance(result, nn.Module) or not isinstance(getattr(result, "head", None), nn.Module):
        return Feedback(False, f"return the model (a ViT), got {type(result).__name__}.", {"mistake": "type"})
    head = result.head
    dim = model.config.dim
    if head is old_head or (isinstance(head, nn.Linear) and head.out_features == 4):
        return Feedback(False, "the model still has its pre-trained head with 4 outputs: replace `model.head` by a new "
                        f"nn.Linear(D, num_classes) = nn.Linear({dim}, {num_classes}).", {"mistake": "old head"})
    if not isinstance(head, nn.Linear):
        return Feedback(False, f"the new head should be one nn.Linear layer, got {type(head).__name__}.",
                        {"mistake": "not linear"})
    if head.in_features != dim or head.out_features != num_classes:
        return Feedback(False, f"the head maps {head.in_features} -> {head.out_features}; it must map the D = {dim} "
                        f"features to K = {num_classes} classes: nn.Linear(model.config.dim, num_classes).",
                        {"mistake": "shape", "shape": (head.in_features, head.out_features)})
    if head.bias is None:
        return Feedback(False, "keep the bias (nn.Linear's default bias=True) and set it to zero.", {"mistake": "bias"})
    if head.weight.abs().max() > 0:
        return Feedback(False, "the new head is randomly initialised; the paper attaches a *zero-initialised* layer "
                        "(§3.2): nn.init.zeros_(head.weight), so every class starts equally likely.",
                        {"mistake": "random weight"})
    if head.bias.abs().max() > 0:
        return Feedback(False, "the head's weight is zero but its bias is not: zero the bias too.",
                        {"mistake": "random bias"})
    changed = [k for k, v in result.state_dict().items() if not k.startswith("head.")
               and (k not in original or not torch.equal(v, original[k]))]
    if changed:
        return Feedback(False, f"the pre-trained weights changed ({changed[0]}, ...); only the head is new: keep "
                        "everything else as it is.", {"mistake": "backbone", "changed": changed})
    logits = result(torch.rand(2, 3, 16, 16)) if isinstance(result, ViT) else None
    if logits is not None and logits.shape != (2, num_classes):
        return Feedback(False, f"the model's logits have shape {tuple(logits.shape)}, expected (B, K) = "
                        f"(2, {num_classes}).", {"mistake": "logits"})
    return Feedback(True, f"a zero-initialised {dim} x {num_classes} head on the pre-trained features: at the start "
                    "every logit is 0, so the model says 1/K for every class and the first gradients come from the "
                    "labels alone.", {"mistake": None})


# ------------------------------------------------------------------- linear probe
def check_freeze_all_but_head(function: Callable[[nn.Module], nn.Module]) -> Feedback:
    """Check ``function(model) -> model``: every parameter outside ``head`` frozen, the head trainable."""
    model = _small_vit()
    result, problem = run_student_code(function, model)
    if problem is not None:
        return problem
    model = model if result is None else result
    if not isinstance(model, nn.Module):
        return Feedback(False, f"return the model, got {type(result).__name__}.", {"mistake": "type"})
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    head = {name for name, _ in model.named_parameters() if name.startswith("head.")}
    backbone_left = sorted(trainable - head)
    details = {"trainable": sorted(trainable)}
    if trainable == head:
        trained = sum(p.numel() for p in model.parameters() if p.requires_grad)
        return Feedback(True, f"only head.weight and head.bias train ({trained} of {model.num_parameters()} "
                        "parameters): a linear probe on frozen features.", {**details, "mistake": None})
    if len(backbone_left) == len(list(model.parameters())) - len(head):
        if not model.training:
            return Feedback(False, "nothing is frozen: model.eval() only switches dropout and similar layers to test "
                            "behaviour; freezing means parameter.requires_grad = False.",
                            {**details, "mistake": "eval"})
        if not trainable & head:
            return Feedback(False, "you froze the head and left the rest trainable: it is the other way round.",
                            {**details, "mistake": "inverted"})
        return Feedback(False, "nothing is frozen: loop over model.named_parameters() and set requires_grad = False "
                        "for every parameter whose name does not start with 'head.'.", {**details, "mistake": "none"})
    if not trainable:
        return Feedback(False, "everything is frozen, the head too: the head must learn, keep its requires_grad True.",
                        {**details, "mistake": "all"})
    if head - trainable:
        return Feedback(False, f"{sorted(head - trainable)} is frozen: both head.weight and head.bias must train.",
                        {**details, "mistake": "head part"})
    if set(backbone_left) <= {"cls_token", "pos_embed"}:
        return Feedback(False, f"{backbone_left} still train: the class token and position embeddings are parameters "
                        "of the model itself, not of a layer; model.named_parameters() lists them too.",
                        {**details, "mistake": "embeddings"})
    if set(backbone_left) <= {"norm.weight", "norm.bias"}:
        return Feedback(False, "the final LayerNorm still trains: it is part of the features (Eq. 4, y = LN(z_L^0)); "
                        "freeze it too.", {**details, "mistake": "norm"})
    return Feedback(False, f"these still train: {backbone_left[:4]}{' ...' if len(backbone_left) > 4 else ''}; "
                    "freeze every parameter except head.weight and head.bias.", {**details, "mistake": "some"})


# -------------------------------------------------------------------- resampling
def reference_resample(pos_embed: torch.Tensor, patch_size: int, old_image_size: int, new_image_size: int,
                       mode: str = "bicubic", align_corners: bool = False) -> torch.Tensor:
    """E_pos (1, 1 + N, D) of a square image -> the grid of ``new_image_size``, class token copied unchanged."""
    old, new = old_image_size // patch_size, new_image_size // patch_size
    grid = rearrange(pos_embed[:, 1:], "1 (h w) d -> 1 d h w", h=old, w=old)  # (1, D, h, w)
    grid = F.interpolate(grid, size=(new, new), mode=mode, align_corners=align_corners)  # (1, D, h', w')
    return torch.cat([pos_embed[:, :1], rearrange(grid, "1 d h w -> 1 (h w) d")], dim=1)  # (1, 1 + N', D)


def check_resample_for_resolution(function: Callable[[torch.Tensor, int, int, int], torch.Tensor],
                                  seed: int = 0) -> Feedback:
    """Check ``function(pos_embed, patch_size, old_image_size, new_image_size)``: 32 px -> 48 px with P = 4."""
    generator = torch.Generator().manual_seed(seed)
    patch, old_size, new_size, dim = 4, 32, 48, 6
    pos_embed = torch.randn(1, 1 + (old_size // patch) ** 2, dim, generator=generator, dtype=torch.float64)
    result, problem = run_for_tensor(function, pos_embed.clone(), patch, old_size, new_size)
    if problem is not None:
        return hint_on_crash(problem, f"the grid has image_size // patch_size patches per side ({old_size // patch} "
                             f"before, {new_size // patch} after).", mentions=("shape", "size"))
    new_tokens = (new_size // patch) ** 2
    expected_shape = (1, 1 + new_tokens, dim)
    details = {"expected_shape": expected_shape, "shape": tuple(result.shape)}

    def matches(candidate: torch.Tensor) -> bool:  # interpolation kernels differ in their last digits
        return close(result, candidate, atol=1e-5, rtol=1e-4)

    for mode in ("bicubic", "bilinear"):
        if matches(reference_resample(pos_embed, patch, old_size, new_size, mode)):
            return Feedback(True, f"{mode} 2-D interpolation from the {old_size // patch}x{old_size // patch} to the "
                            f"{new_size // patch}x{new_size // patch} patch grid, class token kept: "
                            f"(1, {pos_embed.shape[1]}, D) -> (1, {expected_shape[1]}, D).",
                            {**details, "mistake": None, "mode": mode})
    if result.shape == (1, new_tokens, dim):
        return Feedback(False, "the class token's row is missing: put pos_embed[:, :1] back in front.",
                        {**details, "mistake": "class token dropped"})
    if result.shape[1] == 1 + new_size * new_size:
        return Feedback(False, f"you made a {new_size}x{new_size} grid: the grid counts *patches*, "
                        f"new_image_size // patch_size = {new_size // patch} per side.",
                        {**details, "mistake": "pixels"})
    if result.shape != expected_shape:
        return Feedback(False, f"the result has shape {tuple(result.shape)}, expected {expected_shape}: one class "
                        f"token plus ({new_size} / {patch})^2 = {new_tokens} patches.", {**details, "mistake": "shape"})
    if not torch.allclose(result[:, :1].double(), pos_embed[:, :1]):
        return Feedback(False, "the class token's embedding changed: it has no place on the grid, so copy it as it is "
                        "and interpolate only pos_embed[:, 1:].", {**details, "mistake": "class token changed"})
    for mode in ("bicubic", "bilinear"):
        if matches(reference_resample(pos_embed, patch, old_size, new_size, mode, align_corners=True)):
            return Feedback(False, "use align_corners=False: each embedding belongs to the centre of its patch, as "
                            "in timm and transformers. (align_corners=True pins the corner embeddings to the new "
                            "corners, like the authors' JAX code with scipy.ndimage.zoom; a valid choice, but not "
                            "this exercise's.)", {**details, "mistake": "align_corners"})
    flat = F.interpolate(rearrange(pos_embed[:, 1:], "1 n d -> 1 d n"), size=new_tokens, mode="linear")
    if matches(torch.cat([pos_embed[:, :1], rearrange(flat, "1 d n -> 1 n d")], dim=1)):
        return Feedback(False, "you interpolated the flat sequence (1-D): reshape the patches to their (h, w) grid "
                        "first ('1 (h w) d -> 1 d h w'), interpolate in 2-D, then flatten.",
                        {**details, "mistake": "1d"})
    return Feedback(False, "the shape is right but the values are not: reshape rows 1.. to (1, D, h, w) with a "
                    "permute (not a plain reshape), F.interpolate(..., mode='bicubic', align_corners=False), flatten "
                    "back, class token first.", {**details, "mistake": "values"})


def copy_model(model: nn.Module) -> nn.Module:
    """A deep copy, so a student's in-place changes do not touch the lesson's own model."""
    return copy.deepcopy(model)
