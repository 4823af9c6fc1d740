"""The pretrained-checkpoints exercise checks: right answers pass, each typical mistake gets its own message."""

import re

import pytest
import torch
from einops import rearrange

from vit_edu.exercises.checkpoints import (
    check_jax_query_export,
    check_our_key_name,
    check_split_qkv,
    transformers_key_table,
)


def _not_done(*args, **kwargs):
    raise NotImplementedError


# ------------------------------------------------------------------ split qkv
@pytest.mark.parametrize(
    "right",
    [lambda w: w.chunk(3, dim=0), lambda w: tuple(w.reshape(3, -1, w.shape[1])),
     lambda w: torch.split(w, w.shape[1], dim=0), lambda w: [w[: w.shape[1]], w[w.shape[1]: 2 * w.shape[1]],
                                                             w[2 * w.shape[1]:]]],
)
def test_split_qkv_right_answers_pass(right):
    feedback = check_split_qkv(right)
    assert feedback.passed, feedback.message


@pytest.mark.parametrize(
    ("wrong", "mistake", "phrase"),
    [
        (lambda w: w.chunk(3, dim=1), "wrong_axis", "split dim=0"),
        (lambda w: tuple(p.T for p in w.chunk(3, dim=0)), "transposed", "no .T"),
        (lambda w: (w.chunk(3)[1], w.chunk(3)[0], w.chunk(3)[2]), "order", "wrong order"),
        (lambda w: w.reshape(w.shape[1], 3, w.shape[1]).unbind(1), "interleaved", "every third row"),
    ],
)
def test_split_qkv_mistakes_are_diagnosed(wrong, mistake, phrase):
    feedback = check_split_qkv(wrong)
    assert not feedback.passed and feedback.details["mistake"] == mistake and phrase in feedback.message


def test_split_qkv_other_failures():
    assert "not done yet" in check_split_qkv(_not_done).message
    assert "three tensors" in check_split_qkv(lambda w: w).message
    assert "three tensors" in check_split_qkv(lambda w: w.chunk(2)).message
    assert "None" in check_split_qkv(lambda w: (None, None, None)).message
    assert "values are not" in check_split_qkv(lambda w: tuple(torch.zeros(6, 6) for _ in range(3))).message


# ------------------------------------------------------------------ transformers key -> ours
_TOP = {"vit.embeddings.cls_token": "cls_token", "vit.embeddings.position_embeddings": "pos_embed",
        "vit.layernorm.weight": "norm.weight", "vit.layernorm.bias": "norm.bias"}
_BLOCK = {"layernorm_before": "norm1", "layernorm_after": "norm2", "attention.output.dense": "attn.proj",
          "intermediate.dense": "mlp.fc1", "output.dense": "mlp.fc2"}


def _our_name(key):
    if key in _TOP:
        return _TOP[key]
    if key.startswith("vit.embeddings.patch_embeddings.projection."):
        return "patch_embed.proj." + key.rsplit(".", 1)[1]
    if key.startswith("classifier."):
        return "head." + key.split(".", 1)[1]
    _, _, _, index, *inner, kind = key.split(".")
    inner = ".".join(inner)
    ours = "attn.qkv" if inner.startswith("attention.attention.") else _BLOCK[inner]
    return f"blocks.{index}.{ours}.{kind}"


def _by_regex(key):
    match = re.fullmatch(r"vit\.encoder\.layer\.(\d+)\.(.+)\.(weight|bias)", key)
    if match is None:
        return _our_name(key)
    index, inner, kind = match.groups()
    inner = re.sub(r"attention\.attention\.(query|key|value)", "attn.qkv", inner)
    return f"blocks.{index}.{_BLOCK.get(inner, inner)}.{kind}"


def _replace_in_order(pairs):
    def rename(key):
        for old, new in pairs:
            key = key.replace(old, new)
        return re.sub(r"attention\.attention\.(query|key|value)", "attn.qkv", key)
    return rename


_SAFE_ORDER = [("vit.embeddings.cls_token", "cls_token"), ("vit.embeddings.position_embeddings", "pos_embed"),
               ("vit.embeddings.patch_embeddings.projection", "patch_embed.proj"), ("vit.encoder.layer.", "blocks."),
               ("layernorm_before", "norm1"), ("layernorm_after", "norm2"), ("attention.output.dense", "attn.proj"),
               ("output.dense", "mlp.fc2"), ("intermediate.dense", "mlp.fc1"), ("vit.layernorm", "norm"),
               ("classifier", "head")]
_MLP_FIRST = [pair for pair in _SAFE_ORDER if pair[0] != "attention.output.dense"] + [
    ("attention.output.dense", "attn.proj")]  # never matches any more: 'attention.mlp.fc2'


def test_key_table_covers_every_tensor_of_a_12_block_file():
    table = transformers_key_table()
    assert len(table) == 4 + 12 * 16 + 4  # q, k, v stored apart: 16 tensors per block
    assert table["vit.encoder.layer.11.attention.attention.value.bias"] == "blocks.11.attn.qkv.bias"
    assert table["vit.encoder.layer.3.output.dense.weight"] == "blocks.3.mlp.fc2.weight"
    assert table["vit.encoder.layer.3.attention.output.dense.weight"] == "blocks.3.attn.proj.weight"


@pytest.mark.parametrize("right", [_our_name, _by_regex, _replace_in_order(_SAFE_ORDER)])
def test_our_key_name_right_answers_pass(right):
    feedback = check_our_key_name(right)
    assert feedback.passed, feedback.message
    assert feedback.details["right"] == 200


def _swap(name, a, b):
    return name.replace(a, "#").replace(b, a).replace("#", b)


@pytest.mark.parametrize(
    ("wrong", "mistake", "phrase"),
    [
        (_replace_in_order(_MLP_FIRST), "attention_output_as_mlp", "longer name first"),
        (lambda k: _our_name(k).replace("mlp.fc2", "attn.proj"), "mlp_output_as_attention", "no `attention.`"),
        (lambda k: _swap(_our_name(k), "norm1", "norm2"), "norms_swapped", "`layernorm_before`"),
        (lambda k: _swap(_our_name(k), "fc1", "fc2"), "mlp_swapped", "`intermediate.dense` (D -> M)"),
        (lambda k: "vit." + _our_name(k) if ".layer." in k else _our_name(k), "prefix", "no `vit.` prefix"),
        (lambda k: _our_name(k).replace("attn.qkv", "attn.q"), "qkv", "fused weight"),
        (lambda k: re.sub(r"^blocks\.(\d+)", lambda m: f"blocks.{int(m.group(1)) + 1}", _our_name(k)),
         "off_by_one", "count blocks from 0"),
        (lambda k: "blocks." + k[18] + "." + _our_name(k).split(".", 2)[2] if ".layer." in k else _our_name(k),
         "digits", "one digit"),
        (lambda k: "classifier." + k.split(".")[-1] if k.startswith("classifier") else _our_name(k), "head",
         "our `head`"),
        (lambda k: "layernorm." + k.split(".")[-1] if k.startswith("vit.layernorm") else _our_name(k), "final_norm",
         "final LayerNorm"),
        (lambda k: k.replace("vit.embeddings.", "") if "embeddings" in k else _our_name(k), "embeddings",
         "short names"),
        (lambda k: _our_name(k).replace(".bias", ".weight"), "kind", "`.bias` stays `.bias`"),
        (lambda k: None, "none", "forget the `return`"),
        (lambda k: 3, "type", "as a str"),
    ],
)
def test_our_key_name_mistakes_are_diagnosed(wrong, mistake, phrase):
    feedback = check_our_key_name(wrong)
    assert not feedback.passed and feedback.details["mistake"] == mistake, feedback.message
    assert phrase in feedback.message
    assert f"{feedback.details['right']} of 200 names right" in feedback.message


def test_our_key_name_other_failures():
    assert check_our_key_name(_not_done).details["not_done"]
    crashed = check_our_key_name(lambda k: 1 / 0)
    assert not crashed.passed and "ZeroDivisionError" in crashed.message
    assert "vit.embeddings.cls_token" in crashed.message  # the key that made it crash
    unknown = check_our_key_name(lambda k: _our_name(k).replace("head.", "classifier_head."))
    assert unknown.details["mistake"] == "head"
    weird = check_our_key_name(lambda k: _our_name(k).replace("pos_embed", "positions"))
    assert weird.details["mistake"] == "embeddings" and weird.details["right"] == 199
    other = check_our_key_name(lambda k: _our_name(k).replace("norm1", "ln1"))
    assert other.details["mistake"] == "unknown" and "should become 'blocks.0.norm1.weight'" in other.message


# ------------------------------------------------------------------ Linear -> Flax query kernel
def test_jax_query_export_right_answers_pass():
    assert check_jax_query_export(lambda w, heads: w.T.reshape(w.shape[1], heads, -1)).passed
    assert check_jax_query_export(lambda w, heads: rearrange(w, "(h e) d -> d h e", h=heads)).passed
    assert check_jax_query_export(lambda w, heads: w.reshape(heads, -1, w.shape[1]).permute(2, 0, 1)).passed


@pytest.mark.parametrize(
    ("wrong", "mistake", "phrase"),
    [
        (lambda w, heads: w.reshape(w.shape[1], heads, -1), "no_transpose", "never transposes"),
        (lambda w, heads: w.T.reshape(w.shape[1], -1, heads).transpose(1, 2), "head_dim_outer", "k outer"),
        (lambda w, heads: w.reshape(heads, -1, w.shape[1]), "out_layout", "*output* projection"),
        (lambda w, heads: w.T, "heads_not_split", "own axis"),
        (lambda w, heads: w.T.reshape(2, 3, 6), "shape", "(D, k, d_h) = (6, 2, 3)"),
        (lambda w, heads: torch.zeros(6, 2, 3), "values", "shape is right"),
    ],
)
def test_jax_query_export_mistakes_are_diagnosed(wrong, mistake, phrase):
    feedback = check_jax_query_export(wrong)
    assert not feedback.passed and feedback.details["mistake"] == mistake, feedback.message
    assert phrase in feedback.message


def test_jax_query_export_other_failures():
    assert check_jax_query_export(_not_done).details["not_done"]
    assert "None" in check_jax_query_export(lambda w, heads: None).message
    assert "raised" in check_jax_query_export(lambda w, heads: w.reshape(7, -1)).message
