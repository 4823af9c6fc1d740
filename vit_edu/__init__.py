"""vit_edu: the Vision Transformer (Dosovitskiy et al., 2020), one small module per idea.

    >>> import torch
    >>> from vit_edu import ViT
    >>> model = ViT(image_size=256, patch_size=32, num_classes=1000, dim=1024, depth=6,
    ...             heads=16, mlp_dim=2048, dropout=0.1, emb_dropout=0.1)
    >>> model(torch.randn(1, 3, 256, 256)).shape
    torch.Size([1, 1000])
"""

from vit_edu.attention import MultiHeadSelfAttention, attention
from vit_edu.block import EncoderBlock
from vit_edu.checkpoints.loading import load_checkpoint, save_checkpoint
from vit_edu.config import PRESET_NAMES, ViTConfig, preset
from vit_edu.counting import count_flops, count_parameters, flops_breakdown, parameter_breakdown
from vit_edu.embeddings import ClassTokenAndPositions, resample_position_embeddings
from vit_edu.init import init_weights
from vit_edu.language import current_language, use_language
from vit_edu.mlp import MLP
from vit_edu.model import ViT
from vit_edu.patches import PatchEmbedding, patchify, unpatchify

__all__ = [
    "MLP",
    "PRESET_NAMES",
    "ClassTokenAndPositions",
    "EncoderBlock",
    "MultiHeadSelfAttention",
    "PatchEmbedding",
    "ViT",
    "ViTConfig",
    "attention",
    "count_flops",
    "count_parameters",
    "current_language",
    "flops_breakdown",
    "init_weights",
    "load_checkpoint",
    "parameter_breakdown",
    "patchify",
    "preset",
    "resample_position_embeddings",
    "save_checkpoint",
    "unpatchify",
    "use_language",
]

__version__ = "0.1.0"
