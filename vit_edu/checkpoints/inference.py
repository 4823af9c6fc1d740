"""From a renamed checkpoint to a model: infer the config from tensor shapes, then load.

What shapes determine (with ``patch_embed.proj.weight`` (D, C, P_h, P_w)):
D, C, P from the patch kernel; L from the block indices; M from ``fc1`` (M, D); K from the head;
N from ``pos_embed`` (1, N + 1, D) (a square grid is assumed unless ``image_size`` is given). Other
kinds of position embedding (``position_embedding`` in a vit_edu file's config, or an override):
``"learned_2d"`` gives the grid (h, w) from its row (1, h, D/2) and column (1, w, D/2) tables;
``"sincos_2d"`` and ``"none"`` hold no tensor, so N comes from the declared ``image_size``.
The number of heads k is *not* in a fused qkv weight (3 k d_h, D): it comes from the source
(a vit_edu config, a ``config.json``, JAX kernels (D, k, d_h)), from ``overrides``, or from a paper
preset with the same D, L and M; otherwise :func:`resolve_config` asks for ``heads=...``.

A checkpoint is untrusted, so the model is only built from what its tensors hold: L counts the
blocks present (numbered 0..L-1), sizes a config file declares must agree with the tensors, and
every check runs before a parameter is allocated. Loaded values must be finite floating-point numbers.
"""

from __future__ import annotations

import dataclasses
import math
import re
import warnings

import torch

from vit_edu.checkpoints.formats import Converted
from vit_edu.checkpoints.layouts import check_block_numbers
from vit_edu.checks import check_choice
from vit_edu.config import POSITION_EMBEDDING_CHOICES, PRESETS, ViTConfig, preset_for_shape
from vit_edu.model import ViT
from vit_edu.patches import linear_weight_from_conv

_SHAPE_FIELDS = ("dim", "depth", "mlp_dim", "channels", "patch_size", "num_classes")
_SHAPE_TENSORS = {"dim": "patch_embed.proj.weight", "channels": "patch_embed.proj.weight",
                  "patch_size": "patch_embed.proj.weight", "depth": "blocks.N", "mlp_dim": "blocks.0.mlp.fc1.weight",
                  "num_classes": "head.weight"}
_WEIGHT_DTYPES = (torch.float32, torch.float16, torch.bfloat16, torch.float64, torch.float8_e4m3fn, torch.float8_e5m2)
_MAX_DIVISORS_SHOWN = 12
_MAX_DIVISOR_SEARCH = 100_000  # the suggestion loop stops here, whatever width the file claims


def _named(origins: dict[str, str], key: str) -> str:
    """A tensor's vit_edu name, and its name in the file when the layout renamed it."""
    origin = origins.get(key)
    return f"{key!r}" + (f" ({origin} in the file)" if origin and origin != key else "")


def infer_shapes(tensors: dict[str, torch.Tensor], source: str = "the checkpoint",
                 origins: dict[str, str] | None = None, position_embedding: str = "learned") -> dict:
    """The config fields that tensor shapes determine (see the module docstring); ``origins`` gives the
    file's own names of renamed tensors, for the messages. ``num_patches`` is ``None`` when the
    kind of ``position_embedding`` holds no table; ``grid`` is (h, w) for ``"learned_2d"``, else ``None``."""
    def named(key: str) -> str:
        return _named(origins or {}, key)

    def need(key: str, ndim: int) -> torch.Tensor:
        if key not in tensors:
            raise ValueError(f"{source} has no {key!r} tensor, so its architecture cannot be inferred.")
        shape = tuple(tensors[key].shape)
        if len(shape) != ndim:
            raise ValueError(f"{source}: {named(key)} has shape {shape}, expected {ndim} dimensions.")
        if 0 in shape:
            raise ValueError(f"{source}: {named(key)} has shape {shape}, with a dimension of size 0; a trained ViT "
                             "has no empty weights. The file is damaged.")
        return tensors[key]

    def fits(key: str, value: torch.Tensor, ok: bool, expected: str) -> None:
        if not ok:
            raise ValueError(f"{source}: {named(key)} has shape {tuple(value.shape)}, expected {expected}.")

    proj = need("patch_embed.proj.weight", 4)  # (D, C, P_h, P_w)
    dim, channels = proj.shape[0], proj.shape[1]
    numbers = {m.group(1) for k in tensors if (m := re.match(r"blocks\.([0-9]+)\.", k))}
    if not numbers:
        raise ValueError(f"{source} has no encoder blocks ('blocks.0....' keys).")
    depth = check_block_numbers(numbers, source, "blocks.{}")
    qkv = need("blocks.0.attn.qkv.weight", 2)  # (3 k d_h, D)
    fits("blocks.0.attn.qkv.weight", qkv, qkv.shape[0] % 3 == 0 and qkv.shape[1] == dim, f"(3 * k * d_h, D={dim})")
    fc1 = need("blocks.0.mlp.fc1.weight", 2)  # (M, D)
    fits("blocks.0.mlp.fc1.weight", fc1, fc1.shape[1] == dim, f"(M, D={dim})")
    num_patches, grid = None, None
    if position_embedding == "learned":
        pos_embed = need("pos_embed", 3)  # (1, N + 1, D)
        fits("pos_embed", pos_embed, pos_embed.shape[0] == 1 and pos_embed.shape[1] >= 2 and pos_embed.shape[2] == dim,
             f"(1, N + 1, D={dim})")
        num_patches = pos_embed.shape[1] - 1
    elif position_embedding == "learned_2d":
        cls_position = need("pos_embed_cls", 3)  # (1, 1, D)
        fits("pos_embed_cls", cls_position, tuple(cls_position.shape) == (1, 1, dim), f"(1, 1, D={dim})")
        lengths = []
        for key, axis in (("pos_embed_row", "h"), ("pos_embed_col", "w")):
            table = need(key, 3)  # (1, h, D/2) or (1, w, D/2)
            fits(key, table, dim % 2 == 0 and table.shape[0] == 1 and table.shape[2] == dim // 2,
                 f"(1, {axis}, D/2) with D={dim} even")
            lengths.append(table.shape[1])
        grid = (lengths[0], lengths[1])
        num_patches = grid[0] * grid[1]
    num_classes = 0
    if "head.weight" in tensors:
        head = need("head.weight", 2)  # (K, D)
        fits("head.weight", head, head.shape[1] == dim, f"(K, D={dim})")
        num_classes = head.shape[0]
    return dict(
        dim=dim, channels=channels, patch_size=(proj.shape[2], proj.shape[3]), depth=depth,
        mlp_dim=fc1.shape[0], inner_dim=qkv.shape[0] // 3, num_classes=num_classes,
        num_patches=num_patches, grid=grid,
    )


def check_declared(converted: Converted, shapes: dict) -> None:
    """Sizes a config file or the vit_edu metadata declares must be those the tensors have.

    Run before anything is allocated: a model built from a declared size (``image_size`` above all)
    instead of the tensors could be any size at all.
    """
    known, where = converted.known, converted.declared_by or converted.source
    for name in _SHAPE_FIELDS:
        declared = known.get(name)
        if declared is None or (name == "num_classes" and converted.features_only):
            continue
        if name == "patch_size":
            declared = (declared, declared) if isinstance(declared, int) else tuple(declared)
        if declared != shapes[name]:
            raise ValueError(
                f"{where} says {name}={declared!r}, but the tensors of {converted.source} have "
                f"{name}={shapes[name]!r} ({_SHAPE_TENSORS[name]}); the file is inconsistent or damaged."
            )
    heads = known.get("heads")
    if heads is not None and shapes["inner_dim"] % heads:
        raise ValueError(f"{where} says heads={heads}, which does not divide the attention width "
                         f"{shapes['inner_dim']} of blocks.0.attn.qkv.weight; the file is inconsistent or damaged.")
    if heads is not None and known.get("dim_head") is not None and heads * known["dim_head"] != shapes["inner_dim"]:
        raise ValueError(f"{where} says heads={heads} and dim_head={known['dim_head']}, but the attention width of "
                         f"{converted.source} is {shapes['inner_dim']}; the file is inconsistent or damaged.")
    size = known.get("image_size")
    if size is not None and shapes["num_patches"] is not None:
        height, width = (size, size) if isinstance(size, int) else tuple(size)
        patch = shapes["patch_size"]
        declared_grid = (height // patch[0], width // patch[1])
        if height % patch[0] or width % patch[1] or declared_grid[0] * declared_grid[1] != shapes["num_patches"] \
                or shapes["grid"] not in (None, declared_grid):
            tables = "pos_embed" if shapes["grid"] is None else f"a {shapes['grid'][0]}x{shapes['grid'][1]} grid"
            raise ValueError(
                f"{where} says image_size={size!r}, but with {patch[0]}x{patch[1]} patches the "
                f"{shapes['num_patches']} position embeddings of {converted.source} ({tables}) do not cover such "
                "an image; the file is inconsistent or damaged."
            )


def _heads_hint(inner: int) -> str:
    """The smallest divisors of the attention width, found in a loop that the file's sizes cannot stretch:
    divisors come in pairs (h, inner / h) with h <= sqrt(inner), and h stops at a fixed bound."""
    small = [h for h in range(1, min(math.isqrt(inner), _MAX_DIVISOR_SEARCH) + 1) if inner % h == 0]
    large = [inner // h for h in reversed(small) if inner // h != h]
    return ", ".join(map(str, (small + large)[:_MAX_DIVISORS_SHOWN]))


def resolve_config(converted: Converted, overrides: dict) -> tuple[ViTConfig, tuple[int, int] | None]:
    """The config to build the model with, and the image size to resample to afterwards (or None)."""
    kind = overrides.get("position_embedding", converted.known.get("position_embedding") or "learned")
    check_choice(kind, "position_embedding", POSITION_EMBEDDING_CHOICES)
    shapes = infer_shapes(converted.tensors, converted.source, converted.origins, kind)
    check_declared(converted, shapes)
    known = dict(converted.known)
    valid = {f.name for f in dataclasses.fields(ViTConfig)}
    fields = {k: v for k, v in known.items() if k in valid and v is not None}
    for name in _SHAPE_FIELDS:
        fields[name] = shapes[name]
    extra = {k: v for k, v in overrides.items() if k != "seed"}
    unknown = sorted(set(extra) - valid)
    if unknown:
        raise TypeError(
            f"unknown override(s) {unknown}; overrides are the ViTConfig fields {sorted(valid)} and seed."
        )
    for name in _SHAPE_FIELDS:
        if name not in extra:
            continue
        wanted, found = extra.pop(name), shapes[name]
        if name == "patch_size" and isinstance(wanted, int):
            wanted = (wanted, wanted)
        if name == "num_classes" and wanted == 0:
            fields["num_classes"] = 0
        elif wanted != found:
            hint = " (use num_classes=0 to drop the head, then add your own)" if name == "num_classes" else ""
            raise ValueError(
                f"{name}={wanted!r} does not match the checkpoint, whose tensors have {name}={found!r}{hint}."
            )
    if converted.features_only:
        if fields["num_classes"] and "num_classes" in overrides:
            raise ValueError("this checkpoint has a pre-logits layer and loads as features only (num_classes=0).")
        fields["num_classes"] = 0
    heads = extra.pop("heads", None)
    if heads is not None and known.get("heads") not in (None, heads):
        raise ValueError(f"heads={heads!r} contradicts {converted.source}, which has heads={known['heads']}.")
    heads = heads or known.get("heads")
    if heads is None:
        match = preset_for_shape(shapes["dim"], shapes["depth"], shapes["mlp_dim"])
        inner = shapes["inner_dim"]
        if match is None:
            raise ValueError(
                f"{converted.source} does not say how many attention heads it has: a fused qkv weight "
                f"(3 * {shapes['inner_dim']}, {shapes['dim']}) looks the same for any number of heads, and "
                f"D={shapes['dim']}, L={shapes['depth']}, M={shapes['mlp_dim']} match no paper preset. Pass "
                f"heads=..., a divisor of {inner}: {_heads_hint(inner)} (the paper's models use "
                "64-wide heads, heads = D / 64)."
            )
        heads = PRESETS[match]["heads"]
    if isinstance(heads, bool) or not isinstance(heads, int):
        raise TypeError(f"heads must be an int, got {heads!r}.")
    if heads < 1:
        raise ValueError(f"heads must be a positive int, got {heads}.")
    fields["heads"] = heads
    if shapes["inner_dim"] % heads:
        raise ValueError(
            f"heads={heads} does not divide the attention width {shapes['inner_dim']} of {converted.source}."
        )
    fields["dim_head"] = None if shapes["inner_dim"] == shapes["dim"] else shapes["inner_dim"] // heads
    requested = extra.pop("image_size", None)
    trained = fields.get("image_size")
    if trained is None and shapes["grid"] is not None:  # learned_2d: the tables give the grid
        trained = (shapes["grid"][0] * shapes["patch_size"][0], shapes["grid"][1] * shapes["patch_size"][1])
    elif trained is None and shapes["num_patches"] is None:
        if requested is None:
            raise ValueError(f"{converted.source} has position_embedding={kind!r}, which holds no table to tell "
                             "the image size; pass image_size=(H, W) of the images it was trained on.")
        trained = requested
    elif trained is None:
        side = math.isqrt(shapes["num_patches"])
        if side * side != shapes["num_patches"]:
            if requested is None:
                raise ValueError(
                    f"{converted.source} has {shapes['num_patches']} position embeddings for patches, not a square "
                    "grid; pass image_size=(H, W) of the images it was trained on."
                )
            trained = requested
        else:
            trained = (side * shapes["patch_size"][0], side * shapes["patch_size"][1])
    fields["image_size"] = trained
    fields.update(extra)  # dropout, pool, patch_embedding, ... (ViTConfig validates them)
    config = ViTConfig(**fields)
    target = None
    if requested is not None:
        target = config.replace(image_size=requested).image_size
        if target == config.image_size:
            target = None
    return config, target


def expected_shapes(config: ViTConfig) -> dict[str, torch.Size]:
    """Every parameter name and shape of ``ViT(config)``, without building its L blocks: one block on
    the meta device (no memory) stands for all of them."""
    with torch.device("meta"):
        template = ViT(config.replace(depth=1)).state_dict()
    block = {k[len("blocks.0."):]: v.shape for k, v in template.items() if k.startswith("blocks.0.")}
    shapes: dict[str, torch.Size] = {}
    for key, value in template.items():
        if not key.startswith("blocks.0."):
            shapes[key] = value.shape
        elif "blocks.0." + next(iter(block)) == key:  # all L blocks, in the state dict's order
            shapes.update({f"blocks.{i}.{k}": v for i in range(config.depth) for k, v in block.items()})
    return shapes


def weights_for_model(converted: Converted, key: str, value: torch.Tensor) -> torch.Tensor:
    """A float32 copy of one loaded tensor, refusing what cannot be a trained weight (the model must not
    share memory with the caller's tensors either)."""
    if value.dtype not in _WEIGHT_DTYPES:
        raise ValueError(
            f"{converted.source}: {_named(converted.origins, key)} has dtype {value.dtype}; weights are floating-point "
            "(float32, float16, bfloat16, float64 or float8), and casting other numbers would load a model that "
            "is silently wrong. The file is damaged or holds quantized weights."
        )
    copy = value.to(torch.float32, copy=True).contiguous()
    finite = torch.isfinite(copy)
    if not bool(finite.all()):
        bad = copy.numel() - int(finite.sum())
        raise ValueError(
            f"{converted.source}: {_named(converted.origins, key)}: {bad:,} of its {copy.numel():,} values are NaN or "
            "infinite, and a model with them computes NaN. The file is damaged, or saved from a run that diverged."
        )
    return copy


def build_model(converted: Converted, strict: bool, overrides: dict, stacklevel: int = 2) -> ViT:
    """Build the model that ``converted`` describes and copy its tensors in (see ``load_checkpoint``)."""
    config, resample_to = resolve_config(converted, overrides)
    form = config.patch_embedding
    tensors = dict(converted.tensors)
    if config.num_classes == 0:
        tensors = {k: v for k, v in tensors.items() if not k.startswith("head.")}
    if form == "linear" and "patch_embed.proj.weight" in tensors:
        tensors["patch_embed.proj.weight"] = linear_weight_from_conv(tensors["patch_embed.proj.weight"])
    expected = expected_shapes(config)
    missing = [k for k in expected if k not in tensors]
    unexpected = [k for k in tensors if k not in expected] + list(converted.unexpected)
    mismatched = [
        f"{k}: checkpoint {tuple(v.shape)} vs model {tuple(expected[k])}"
        for k, v in tensors.items() if k in expected and v.shape != expected[k]
    ]
    problems = [
        f"{label} ({len(items)}): {', '.join(items[:10])}" + (f", ... ({len(items) - 10} more)" * (len(items) > 10))
        for label, items in (("missing", missing), ("unexpected", unexpected), ("wrong shape", mismatched))
        if items
    ]
    bad = {m.split(":")[0] for m in mismatched}
    usable_keys = [k for k in tensors if k in expected and k not in bad]
    if problems:
        message = f"{converted.source} ({converted.format} layout) does not fit {config}:\n  " + "\n  ".join(problems)
        if strict:
            raise ValueError(message + "\nPass strict=False to load only the tensors that fit.")
        loaded = sum(tensors[k].numel() for k in usable_keys)
        fresh = sum(math.prod(shape) for k, shape in expected.items() if k not in tensors or k in bad)
        if fresh > loaded:  # the model's size must come from the file, not from its key names
            raise ValueError(
                f"{converted.source}: strict=False would leave {fresh:,} of the model's values at their initial "
                f"values but load only {loaded:,} from the file. strict=False loads a checkpoint that lacks a few "
                "tensors, not one that lacks most of the model; check that the file is this ViT's checkpoint."
            )
    usable = {k: weights_for_model(converted, k, tensors[k]) for k in usable_keys}
    if problems:
        message += "\nLoaded the tensors that fit; the rest keep their initial values."
        warnings.warn(message, UserWarning, stacklevel=stacklevel)
    if missing or bad:  # some parameters keep a fresh (seeded) initialisation
        model = ViT(config, seed=overrides.get("seed", 0))
        model.load_state_dict(usable, strict=False)
    else:
        with torch.device("meta"):  # shapes only, no memory and no random initialisation (slow for big models)
            model = ViT(config)
        model.load_state_dict(usable, strict=True, assign=True)
    if resample_to is not None:
        model.resample_position_embeddings(resample_to)
    model.checkpoint_info = {"format": converted.format, "source": converted.source, "ignored": unexpected,
                             "labels": converted.labels if config.num_classes else None}
    return model.eval()
