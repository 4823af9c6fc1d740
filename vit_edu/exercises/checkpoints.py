"""Checks for the pretrained-checkpoints lesson: convert names and weights between layouts by hand.

- :func:`check_split_qkv`: timm's fused qkv weight into the q, k, v weights of ``transformers``;
- :func:`check_our_key_name`: a ``transformers`` file key to the name of the ``vit_edu`` (= timm)
  tensor that holds it, judged on every key of a 12-block model against the package's own renaming;
- :func:`check_jax_query_export`: a PyTorch query weight to the authors' Flax (D, k, d_h) kernel,
  judged by what the kernel computes.

When an answer is wrong, each check compares it with the answers that typical mistakes produce
(split along the wrong axis, ``output.dense`` matched inside ``attention.output.dense``, the
LayerNorms swapped, a forgotten transpose, the heads split in the wrong order, ...) and names it.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import torch

from vit_edu.checkpoints.layouts import to_transformers_state_dict
from vit_edu.exercises.feedback import (
    Feedback,
    as_tensor,
    close,
    function_name,
    known_mistake,
    run_for_tensor,
    run_student_code,
)
from vit_edu.language import tr
from vit_edu.model import ViT


# ------------------------------------------------------------------------------ fused qkv
def check_split_qkv(function: Callable[[torch.Tensor], tuple], seed: int = 0) -> Feedback:
    """Check ``function(qkv_weight) -> (w_q, w_k, w_v)``: a fused (3D, D) weight into three (D, D).

    timm stores ``attn.qkv.weight`` as the query, key and value weights stacked along the rows
    (the output axis), in that order; transformers stores them separately.
    """
    dim = 6
    generator = torch.Generator().manual_seed(seed)
    w_q, w_k, w_v = (torch.randn(dim, dim, generator=generator) for _ in range(3))
    fused = torch.cat([w_q, w_k, w_v], dim=0)  # (3D, D)
    result, problem = run_student_code(function, fused.clone())
    if problem is not None:
        return problem
    if not isinstance(result, (tuple, list)) or len(result) != 3:
        got = tr("{count} values", count=len(result)) if isinstance(result, (tuple, list)) else type(result).__name__
        return Feedback(False, tr("`{name}` must return three tensors (w_q, w_k, w_v), got {got}.",
                                  name=function_name(function), got=got))
    parts = []
    for part in result:
        part, problem = as_tensor(part, function)
        if problem is not None:
            return problem
        parts.append(part)
    shapes = [tuple(p.shape) for p in parts]
    details = {"shapes": shapes, "expected_shape": (dim, dim)}
    expected = (w_q, w_k, w_v)
    if all(close(p, e) for p, e in zip(parts, expected)):
        return Feedback(True, tr("rows 0..D-1 are W_q, D..2D-1 W_k, 2D..3D-1 W_v: qkv.chunk(3, dim=0)."), details)
    if shapes == [(3 * dim, dim // 3)] * 3:
        return Feedback(False, tr("you split the columns (the input axis, dim=1). A Linear weight is (out, in) and "
                           "q, k, v are stacked along the outputs: split dim=0."), {**details, "mistake": "wrong_axis"})
    if all(close(p, e.T) for p, e in zip(parts, expected)):
        return Feedback(False, tr("each part is transposed. Keep PyTorch's (out, in) layout: no .T after splitting."),
                        {**details, "mistake": "transposed"})
    for order in ((1, 0, 2), (0, 2, 1), (2, 1, 0), (1, 2, 0), (2, 0, 1)):
        if all(close(parts[i], expected[j]) for i, j in enumerate(order)):
            return Feedback(False, tr("the three blocks are right but in the wrong order: the fused weight is "
                               "[W_q; W_k; W_v], so return (q, k, v) in that order."), {**details, "mistake": "order"})
    interleaved = fused.reshape(dim, 3, dim).unbind(1)
    if all(close(p, e) for p, e in zip(parts, interleaved)):
        return Feedback(False, tr("you took every third row (reshape(D, 3, D)); the three weights are stacked as "
                           "blocks, not interleaved: reshape(3, D, D) or chunk(3, dim=0)."),
                        {**details, "mistake": "interleaved"})
    if shapes != [(dim, dim)] * 3:
        return Feedback(False, tr("for a ({rows}, {dim}) fused weight each part must be ({dim}, {dim}); got {shapes}.",
                                  rows=3 * dim, dim=dim, shapes=shapes), details)
    return Feedback(False, tr("the shapes are right but the values are not: W_q is rows 0..D-1 of the fused weight, "
                       "W_k the next D rows, W_v the last D rows."), details)


# ------------------------------------------------------------------ transformers key -> ours
def transformers_key_table(depth: int = 12) -> dict[str, str]:
    """{transformers file key: the vit_edu key of the tensor that holds it} for every tensor of a ``depth``-block ViT.

    Built with the package's own renaming (:func:`~vit_edu.checkpoints.layouts.to_transformers_state_dict`),
    one of our keys at a time: the query, key and value tensors of a block all map to its fused ``attn.qkv``.
    """
    ours = ViT(image_size=8, patch_size=4, num_classes=3, dim=2, depth=depth, heads=1, mlp_dim=2).state_dict()
    table = {}
    for key in ours:
        for theirs in to_transformers_state_dict({key: torch.zeros(3)}, layout="file"):
            table[theirs] = key
    return table


def _swapped(name: str, a: str, b: str) -> str:
    return name.replace(a, "\0").replace(b, a).replace("\0", b)


def _shift_block(name: str, by: int) -> str:
    return re.sub(r"^blocks\.(\d+)\.", lambda m: f"blocks.{int(m.group(1)) + by}.", name)


def _key_mistake(theirs: str, expected: str, got: object) -> tuple[str, str]:
    """(code, hint) for one wrongly renamed key."""
    if not isinstance(got, str):
        if got is None:
            return "none", tr("your function returned None: did you forget the `return`?")
        return "type", tr("return the new name as a str, got {kind}.", kind=type(got).__name__)
    if got.startswith("vit.") or got.startswith("vit_"):
        return "prefix", (tr("our names have no `vit.` prefix: drop it (`vit.embeddings.cls_token` -> `cls_token`); "
                             "only transformers wraps the encoder in a `vit` sub-module."))
    if "attention.output.dense" in theirs and "fc2" in got:
        return "attention_output_as_mlp", (
            tr("`...attention.output.dense` is the attention's output projection, `attn.proj`. Its name ends in "
               "`output.dense` like the MLP's second layer (`...layer.i.output.dense` -> `mlp.fc2`): replace or match "
               "the longer name first, or compare the whole part after the layer number."))
    if re.search(r"layer\.\d+\.output\.dense", theirs) and "attn.proj" in got:
        return "mlp_output_as_attention", (tr("`...layer.i.output.dense` (no `attention.` in front) is the MLP's "
                                              "second layer, `mlp.fc2`; only `attention.output.dense` is `attn.proj`."))
    if got == _swapped(expected, "norm1", "norm2") != expected:
        return "norms_swapped", (tr("the two LayerNorms are swapped: `layernorm_before` (before attention) is `norm1`, "
                                    "`layernorm_after` (before the MLP) is `norm2`."))
    if got == _swapped(expected, "fc1", "fc2") != expected:
        return "mlp_swapped", (tr("the two MLP layers are swapped: `intermediate.dense` (D -> M) is `mlp.fc1`, "
                                  "`output.dense` (M -> D) is `mlp.fc2`."))
    if got.rsplit(".", 1)[0] == expected.rsplit(".", 1)[0]:
        return "kind", tr("keep the last part of the name: a `.weight` stays `.weight`, a `.bias` stays `.bias`.")
    number = re.match(r"^blocks\.(\d+)\.", expected)
    if number and got.split(".")[:2] in (_shift_block(expected, 1).split(".")[:2],
                                         _shift_block(expected, -1).split(".")[:2]):
        return "off_by_one", tr("both count blocks from 0: `encoder.layer.i` is `blocks.i`, with the same i.")
    if number and len(number.group(1)) > 1 and got.startswith(f"blocks.{number.group(1)[0]}."):
        return "digits", tr("you read one digit of the layer number: {theirs!r} is block {block}. "
                            "Split the key at the dots (`key.split('.')`) or use a regular expression with `\\d+`.",
                            theirs=theirs, block=number.group(1))
    if re.search(r"attention\.attention\.(query|key|value)", theirs):
        return "qkv", tr("timm and vit_edu keep one fused weight per block: the query, key and value tensors of "
                         "layer i all belong to `blocks.i.attn.qkv.weight` (or `.bias`), so "
                         "{theirs!r} -> {expected!r} (Exercise 1 splits it again).", theirs=theirs, expected=expected)
    if theirs.startswith("classifier."):
        return "head", tr("the classifier is our `head`: `classifier.weight` -> `head.weight`.")
    if theirs.startswith("vit.layernorm."):
        return "final_norm", (tr("`vit.layernorm` is the final LayerNorm after the last block (Eq. 4), our `norm`: "
                                 "`vit.layernorm.weight` -> `norm.weight`."))
    if ".embeddings." in theirs:
        return "embeddings", (tr("the embeddings have short names of their own: `cls_token`, `pos_embed` and "
                                 "`patch_embed.proj.weight`/`.bias`."))
    return "unknown", tr("{theirs!r} should become {expected!r}.", theirs=theirs, expected=expected)


_MISTAKE_ORDER = ("none", "type", "prefix", "attention_output_as_mlp", "mlp_output_as_attention", "norms_swapped",
                  "mlp_swapped", "kind", "off_by_one", "digits", "qkv", "embeddings", "final_norm", "head", "unknown")


def check_our_key_name(function: Callable[[str], str], depth: int = 12) -> Feedback:
    """Check ``function(transformers_key) -> vit_edu_key`` on every tensor name of a ``depth``-block ViT file.

    The keys are those of a ``transformers`` ``save_pretrained`` file (``vit.encoder.layer.i...``); the
    query, key and value tensors map to the block's fused ``attn.qkv`` tensor.
    """
    table = transformers_key_table(depth)
    wrong: list[tuple[str, str, object]] = []
    for theirs, expected in table.items():
        got, problem = run_student_code(function, theirs)
        if problem is not None:
            if problem.details.get("not_done"):
                return problem
            return Feedback(False, tr("for {theirs!r} {message}", theirs=theirs, message=problem.message),
                            {**problem.details, "key": theirs})
        if got != expected:
            wrong.append((theirs, expected, got))
    details = {"keys": len(table), "right": len(table) - len(wrong)}
    if not wrong:
        return Feedback(True, tr("all {count} tensor names of a {depth}-block ViT renamed, including the two "
                                 "that both end in `output.dense`.", count=len(table), depth=depth), details)
    found = {}
    for theirs, expected, got in wrong:
        code, hint = _key_mistake(theirs, expected, got)
        found.setdefault(code, (theirs, expected, got, hint))
    code = min(found, key=_MISTAKE_ORDER.index)
    theirs, expected, got, hint = found[code]
    example = (tr("{theirs!r} -> {got!r}, expected {expected!r}", theirs=theirs, got=got, expected=expected)
               if isinstance(got, str) else f"{theirs!r}")
    return Feedback(False, tr("{right} of {count} names right. For example {example}: {hint}", right=details["right"],
                              count=len(table), example=example, hint=hint),
                    {**details, "mistake": code, "mistakes": sorted(found, key=_MISTAKE_ORDER.index),
                     "example": (theirs, expected, got)})


# --------------------------------------------------------------- Linear -> Flax query kernel
def _export_mistakes(weight: torch.Tensor, heads: int) -> dict[str, tuple[torch.Tensor, str]]:
    """{code: (the kernel the mistake gives, the hint for it)} for a (k d_h, D) weight."""
    inner, dim = weight.shape
    head_dim = inner // heads
    return {
        "no_transpose": (
            weight.reshape(dim, heads, head_dim),  # the right shape here, since k d_h == D
            tr("the transpose is missing. A PyTorch weight is (out, in) = (k d_h, D); the Flax kernel starts with the "
               "input axis D. reshape only re-reads the numbers in a new shape, it never transposes: transpose first, "
               "then split: weight.T.reshape(D, k, d_h).")),
        "head_dim_outer": (
            weight.T.reshape(dim, head_dim, heads).transpose(1, 2),
            tr("the heads are split in the wrong order: output rows 0..d_h-1 belong to head 0, so the merged axis is "
               "(k, d_h) with k outer: reshape(D, k, d_h), not reshape(D, d_h, k) and a swap.")),
        "out_layout": (
            weight.reshape(heads, head_dim, dim),
            tr("that (k, d_h, D) layout is the one of the *output* projection's kernel; a query kernel maps the D "
               "input features to (k, d_h): its shape is (D, k, d_h).")),
    }


def check_jax_query_export(function: Callable[[torch.Tensor, int], torch.Tensor], seed: int = 0) -> Feedback:
    """Check ``function(weight, heads) -> kernel``: a (k d_h, D) Linear weight to a Flax query kernel (D, k, d_h).

    The reference is behavioural: the Flax layer computes q[b, t, h, e] = sum_d x[b, t, d] kernel[d, h, e],
    which must equal the Linear's output x W^T split into heads as (k, d_h).
    """
    dim, heads, head_dim = 6, 2, 3  # k d_h == D, so only the values tell a missing transpose
    generator = torch.Generator().manual_seed(seed)
    weight = torch.randn(heads * head_dim, dim, generator=generator)  # (k d_h, D)
    x = torch.randn(2, 4, dim, generator=generator)  # (B, T, D)
    expected_q = (x @ weight.T).reshape(2, 4, heads, head_dim)  # (B, T, k, d_h)
    result, problem = run_for_tensor(function, weight.clone(), heads, returns=tr("the kernel as a torch.Tensor"))
    if problem is not None:
        return problem
    shape = (dim, heads, head_dim)
    details = {"shape": tuple(result.shape), "expected_shape": shape}
    if tuple(result.shape) == shape and close(torch.einsum("btd,dhe->bthe", x.double(), result.double()),
                                              expected_q):
        return Feedback(True, tr("einsum('btd,dhe->bthe', x, kernel) equals x @ W^T split into heads: "
                           "kernel = weight.T.reshape(D, k, d_h), the inverse of the loader's reshape(D, -1).T."),
                        details)
    found = known_mistake(result, _export_mistakes(weight, heads), details)
    if found is not None:
        return found
    if result.ndim == 2:
        return Feedback(False, tr("the kernel keeps the heads as their own axis: return a 3-D (D, k, d_h) = {shape} "
                                  "tensor, got shape {got}.", shape=shape, got=tuple(result.shape)),
                        {**details, "mistake": "heads_not_split"})
    if tuple(result.shape) != shape:
        return Feedback(False, tr("the Flax query kernel must be (D, k, d_h) = {shape}, got {got}.", shape=shape,
                                  got=tuple(result.shape)),
                        {**details, "mistake": "shape"})
    return Feedback(False, tr("the shape is right but the values are not: transpose the (k d_h, D) weight to "
                       "(D, k d_h), then split the second axis into (k, d_h)."), {**details, "mistake": "values"})
