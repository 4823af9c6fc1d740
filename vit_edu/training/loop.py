"""A small, deterministic training loop for classifiers on in-memory tensors.

AdamW (no weight decay on biases, LayerNorms, the class token and position embeddings), a
learning rate that rises linearly for the warm-up steps and then follows a half cosine to zero,
cross-entropy with optional label smoothing, and small random shifts (and optional horizontal
flips) as augmentation. A progress bar (:mod:`vit_edu.training.progress`) shows the loss and accuracy
while it runs.

Determinism: the data order, the augmentation and (if the model has dropout) the dropout masks
come from ``seed``; torch's global RNG is restored afterwards (``torch.random.fork_rng``). The
same seed on the same machine, threads and device gives a bit-identical :class:`History`.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from vit_edu.checks import TORCH_MAX_SEED, check_int, check_number, check_seed
from vit_edu.embeddings import POSITION_PARAMETER_NAMES
from vit_edu.language import tr
from vit_edu.training.progress import progress_bar


@dataclass
class History:
    """Per-epoch records of one training run (accuracies are fractions in [0, 1])."""

    train_loss: list[float] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)
    test_accuracy: list[float] = field(default_factory=list)
    learning_rate: list[float] = field(default_factory=list)  # at the end of each epoch
    seconds: list[float] = field(default_factory=list)  # wall-clock time of each epoch (with evaluation)

    @property
    def final_test_accuracy(self) -> float:
        """Test accuracy after the last epoch (NaN if no test set was given)."""
        return self.test_accuracy[-1] if self.test_accuracy else math.nan

    @property
    def total_seconds(self) -> float:
        """Total wall-clock training time."""
        return float(sum(self.seconds))

    def as_dict(self) -> dict[str, list[float]]:
        """Plain lists, e.g. for a pandas DataFrame or JSON."""
        return asdict(self)


def _accelerator_available(kind: str) -> bool | None:
    """Whether this PyTorch build can use a device of type ``kind`` (``None``: torch has no such check)."""
    if kind == "cuda":
        return torch.cuda.is_available()
    if kind == "mps":
        return torch.backends.mps.is_available()
    if kind == "xpu":
        return hasattr(torch, "xpu") and torch.xpu.is_available()
    return None


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` -> CUDA if available, else CPU; anything else must name a device this machine has.

    Raises:
        ValueError: an unknown device name, or a GPU that this PyTorch build or machine does not have
            (checked here, before any work, rather than at the first tensor moved there).
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not isinstance(device, (str, torch.device)):
        raise TypeError(f"device must be a string such as 'cpu' or 'cuda', or a torch.device, got {device!r}.")
    try:
        resolved = torch.device(device)
    except RuntimeError as problem:
        raise ValueError(f"device={device!r} is not a device name; use 'auto', 'cpu', 'cuda' or 'cuda:1'.") from problem
    available = _accelerator_available(resolved.type)
    if available is False:
        raise ValueError(f"device={str(device)!r}, but this PyTorch build or machine has no {resolved.type} device; "
                         "use device='cpu' (or 'auto', which picks a GPU only when there is one).")
    if resolved.type == "cuda" and resolved.index is not None and resolved.index >= torch.cuda.device_count():
        raise ValueError(f"device={str(device)!r}, but this machine has {torch.cuda.device_count()} CUDA device(s) "
                         f"(cuda:0..cuda:{torch.cuda.device_count() - 1}).")
    return resolved


def learning_rate_at(step: int, total_steps: int, warmup_steps: int, peak: float) -> float:
    """Linear warm-up from peak / warmup_steps to ``peak``, then a half cosine down to 0."""
    if step < warmup_steps:
        return peak * (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return 0.5 * peak * (1.0 + math.cos(math.pi * min(1.0, progress)))


def random_shift(
    images: torch.Tensor, max_shift: int | tuple[int, int], generator: torch.Generator, flip: bool = False,
    padding: str = "replicate",
) -> torch.Tensor:
    """Shift each image by up to ``max_shift`` pixels in x and y; optionally flip half of them left-right.

    ``max_shift`` is one bound for both axes or a pair ``(max_dy, max_dx)``, e.g. ``(0, 1)`` for
    horizontal shifts only (the 8x8 digits fill their frame vertically, so a vertical shift cuts off
    strokes). ``padding`` fills the uncovered border: ``"replicate"`` repeats the edge pixels,
    ``"zeros"`` fills zeros (right for digits, whose background is 0).
    """
    if padding not in ("replicate", "zeros"):
        raise ValueError(f"padding must be 'replicate' or 'zeros', got {padding!r}.")
    max_dy, max_dx = (max_shift, max_shift) if isinstance(max_shift, int) else tuple(max_shift)
    if any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in (max_dy, max_dx)):
        raise ValueError(f"max_shift must be an int >= 0 or a pair (max_dy, max_dx) of them, got {max_shift!r}.")
    if max_dy == max_dx == 0 and not flip:
        return images
    batch, _, height, width = images.shape
    mode = "constant" if padding == "zeros" else "replicate"
    padded = F.pad(images, (max_dx, max_dx, max_dy, max_dy), mode=mode)  # (B, C, H + 2 max_dy, W + 2 max_dx)
    dy = torch.randint(0, 2 * max_dy + 1, (batch, 1), generator=generator)
    dx = torch.randint(0, 2 * max_dx + 1, (batch, 1), generator=generator)
    rows = (torch.arange(height) + dy)[:, None, :, None]  # (B, 1, H, 1)
    cols = (torch.arange(width) + dx)[:, None, None, :]  # (B, 1, 1, W)
    if flip:
        mirror = torch.rand(batch, generator=generator) < 0.5
        cols = torch.where(mirror[:, None, None, None], cols.flip(-1), cols)
    index = torch.arange(batch)[:, None, None, None]
    return padded[index, torch.arange(images.shape[1])[None, :, None, None], rows, cols]  # (B, C, H, W)


@torch.no_grad()
def predict(model: nn.Module, images: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """Logits (n, K) for ``images`` (n, C, H, W), in eval mode, on the model's device, returned on CPU."""
    check_int(batch_size, "batch_size")
    if len(images) == 0:
        raise ValueError("images is empty: give at least one image (n >= 1).")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    logits = [model(images[i:i + batch_size].to(device)).float().cpu() for i in range(0, len(images), batch_size)]
    model.train(was_training)
    return torch.cat(logits)  # (n, K)


def evaluate(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 512) -> float:
    """Top-1 accuracy (a fraction in [0, 1]) of ``model`` on ``images`` with ``labels``."""
    if len(images) != len(labels):
        raise ValueError(f"images and labels differ in length: {len(images)} vs {len(labels)}.")
    if len(images) == 0:
        raise ValueError("images is empty: an accuracy needs at least one image.")
    return (predict(model, images, batch_size).argmax(dim=1) == labels.cpu()).float().mean().item()


def _param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        skip = param.ndim <= 1 or name.split(".")[-1] in ("cls_token", *POSITION_PARAMETER_NAMES)
        (no_decay if skip else decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def _check_data(images: object, labels: object, split: str, model: nn.Module) -> None:
    """``{split}_images`` (n, C, H, W) float and ``{split}_labels`` (n,) integer class indices, of one length n."""
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or not torch.is_floating_point(images):
        shape = f"{images.dtype} tensor of shape {tuple(images.shape)}" if isinstance(images, torch.Tensor) \
            else type(images).__name__
        raise TypeError(f"{split}_images must be a float tensor (n, C, H, W), got a {shape}.")
    if not isinstance(labels, torch.Tensor) or labels.ndim != 1 or labels.is_floating_point() or labels.is_complex() \
            or labels.dtype == torch.bool:
        shape = f"{labels.dtype} tensor of shape {tuple(labels.shape)}" if isinstance(labels, torch.Tensor) \
            else type(labels).__name__
        raise TypeError(f"{split}_labels must be a 1-D integer tensor of class indices (e.g. .long()), got a {shape}.")
    if len(images) != len(labels):
        raise ValueError(f"{split}_images and {split}_labels differ in length: {len(images)} vs {len(labels)}.")
    if len(images) == 0:
        fix = "training needs at least one image" if split == "train" else \
            "pass test_images=None and test_labels=None to train without a test set"
        raise ValueError(f"{split}_images is empty: {fix}.")
    num_classes = getattr(getattr(model, "config", None), "num_classes", None)
    low, high = int(labels.min()), int(labels.max())
    if low < 0 or (isinstance(num_classes, int) and num_classes > 0 and high >= num_classes):
        bound = f"0..{num_classes - 1} (the model has K = {num_classes} classes)" if num_classes else ">= 0"
        raise ValueError(f"{split}_labels must be class indices in {bound}, got values in {low}..{high}.")


def train(
    model: nn.Module,
    train_images: torch.Tensor,
    train_labels: torch.Tensor,
    test_images: torch.Tensor | None = None,
    test_labels: torch.Tensor | None = None,
    *,
    epochs: int = 10,
    batch_size: int = 128,
    lr: float = 3e-3,
    weight_decay: float = 0.1,
    warmup_epochs: float = 1.0,
    label_smoothing: float = 0.0,
    max_shift: int | tuple[int, int] = 0,
    shift_padding: str = "replicate",
    flip: bool = False,
    seed: int = 0,
    device: str | torch.device = "auto",
    progress: bool = True,
) -> History:
    """Train ``model`` in place and return its :class:`History`.

    Args:
        model: a classifier mapping (B, C, H, W) to logits (B, K).
        train_images, train_labels: (n, C, H, W) float and (n,) int64 tensors.
        test_images, test_labels: optional held-out set, evaluated after every epoch.
        epochs: passes over the training set.
        batch_size: images per step (the last, smaller batch of an epoch is dropped).
        lr: peak learning rate, reached after ``warmup_epochs``.
        weight_decay: AdamW's decoupled decay on weight matrices.
        warmup_epochs: length of the linear warm-up (may be fractional).
        label_smoothing: epsilon of label smoothing in the cross-entropy.
        max_shift: augmentation: random shifts of up to this many pixels, or ``(max_dy, max_dx)``.
        shift_padding: how shifts fill the border, ``"replicate"`` or ``"zeros"``.
        flip: augmentation: random horizontal flips.
        seed: seeds the data order, augmentation and dropout.
        device: ``"auto"`` (CUDA if available), ``"cpu"``, ``"cuda"``, ...
        progress: show a progress bar (:func:`vit_edu.training.progress.progress_bar`).
    """
    check_int(epochs, "epochs")
    check_int(batch_size, "batch_size")
    # inf, NaN or a negative rate would train "successfully" to NaN weights; refuse them here instead
    check_number(lr, "lr", minimum=0.0, open_minimum=True, hint="; 1e-3 is a common peak learning rate")
    check_number(weight_decay, "weight_decay", minimum=0.0, hint="; 0.05-0.1 is common, 0 disables it")
    check_number(warmup_epochs, "warmup_epochs", minimum=0.0)
    check_number(label_smoothing, "label_smoothing", 0.0, 1.0, open_maximum=True, hint="; 0.1 is typical")
    seed = check_seed(seed, maximum=TORCH_MAX_SEED)
    _check_data(train_images, train_labels, "train", model)
    if (test_images is None) != (test_labels is None):
        raise ValueError("pass both test_images and test_labels, or neither.")
    if test_images is not None:
        _check_data(test_images, test_labels, "test", model)
    device = resolve_device(device)
    steps_per_epoch = max(1, len(train_images) // batch_size)
    total_steps = epochs * steps_per_epoch
    warmup_steps = max(1, round(warmup_epochs * steps_per_epoch))
    model.to(device)
    optimizer = torch.optim.AdamW(_param_groups(model, weight_decay), lr=lr, betas=(0.9, 0.999))
    generator = torch.Generator().manual_seed(seed)
    history = History()
    bar = progress_bar(total_steps, tr("training"), "step", enabled=progress)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        step = 0
        for _ in range(epochs):
            start = time.perf_counter()
            model.train()
            order = torch.randperm(len(train_images), generator=generator)
            loss_sum, correct, seen = 0.0, 0, 0
            for batch in range(steps_per_epoch):
                index = order[batch * batch_size:(batch + 1) * batch_size]
                images = random_shift(train_images[index], max_shift, generator, flip, shift_padding).to(device)
                labels = train_labels[index].to(device)
                current_lr = learning_rate_at(step, total_steps, warmup_steps, lr)
                for group in optimizer.param_groups:
                    group["lr"] = current_lr
                logits = model(images)  # (B, K)
                loss = F.cross_entropy(logits, labels, label_smoothing=label_smoothing)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                step += 1
                loss_sum += loss.item() * len(labels)
                correct += (logits.argmax(dim=1) == labels).sum().item()
                seen += len(labels)
                bar.update(1)
                bar.set_postfix(loss=f"{loss_sum / seen:.3f}", acc=f"{correct / seen:.3f}", refresh=False)
            history.train_loss.append(loss_sum / seen)
            history.train_accuracy.append(correct / seen)
            history.learning_rate.append(current_lr)
            if test_images is not None:
                history.test_accuracy.append(evaluate(model, test_images, test_labels))
                bar.set_postfix(loss=f"{loss_sum / seen:.3f}", acc=f"{correct / seen:.3f}",
                                test_acc=f"{history.test_accuracy[-1]:.3f}")
            history.seconds.append(time.perf_counter() - start)
    bar.close()
    model.eval()
    return history
