"""Checkpoints: reading and writing ViT weights safely, in our format and in the layouts of timm,
Hugging Face ``transformers`` and the paper's original JAX code.

Layers, from the file up: ``files`` (bytes on disk -> tensors, never running code) ->
``formats`` (the raw checkpoint and format detection) -> ``layouts`` and ``jax`` (renaming other
libraries' weights to ours) -> ``inference`` (the config that fits the tensors) -> ``loading``
(the public entry points below). A checkpoint is untrusted input: every reader and converter
checks what a file declares against what it holds before allocating, and answers a bad file with a
``ValueError`` or ``TypeError`` that names the file and the tensor or field at fault.
"""

from vit_edu.checkpoints.jax import to_jax_arrays
from vit_edu.checkpoints.loading import (
    DEFAULT_MAX_BYTES,
    detect_format,
    load_checkpoint,
    read_checkpoint_config,
    read_checkpoint_metadata,
    save_checkpoint,
    to_vit_edu,
)

__all__ = [
    "DEFAULT_MAX_BYTES", "detect_format", "load_checkpoint", "read_checkpoint_config", "read_checkpoint_metadata",
    "save_checkpoint", "to_jax_arrays", "to_vit_edu",
]
