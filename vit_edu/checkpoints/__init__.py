"""Checkpoints: reading and writing ViT weights safely, in our format and in the layouts of timm,
Hugging Face ``transformers`` and the paper's original JAX code.

Layers, from the file up: ``files`` (bytes on disk -> tensors, never running code) ->
``formats`` (the raw checkpoint and format detection) -> ``layouts`` and ``jax`` (renaming other
libraries' weights to ours) -> ``inference`` (the config that fits the tensors) -> ``loading``
(the public entry points below).
"""

from vit_edu.checkpoints.jax import to_jax_arrays
from vit_edu.checkpoints.loading import (
    detect_format,
    load_checkpoint,
    read_checkpoint_config,
    read_checkpoint_metadata,
    save_checkpoint,
    to_vit_edu,
)

__all__ = [
    "detect_format", "load_checkpoint", "read_checkpoint_config", "read_checkpoint_metadata",
    "save_checkpoint", "to_jax_arrays", "to_vit_edu",
]
