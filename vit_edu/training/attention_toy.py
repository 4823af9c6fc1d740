"""Why several heads: a toy task that one attention layer can solve only with two heads doing different jobs.

Multi-head attention (ViT Eq. 5-8, following Vaswani et al. 2017, §3.2.2) runs k softmax attentions side
by side, so that different heads can attend by different relations at once. This module builds the
a small task that needs that, trains one :class:`~vit_edu.attention.MultiHeadSelfAttention`
layer on it and measures which relation each head ended up implementing.

The task (:class:`LookupTask`). A sequence has T tokens; token i carries three symbols, each one-hot:
a *name* n_i (the names of a sequence are a permutation of 0..T-1, so every name is unique), a
*pointer* p_i (the name of another token of the sequence) and a *value* v_i in 0..M-1. At every position
i the model must output two values:

- the **content** answer: the value of the token whose name is p_i (found by matching a query feature,
  the pointer, against a key feature, the name, wherever that token sits);
- the **position** answer: the value of the token ``offset`` places before i (cyclically), whatever it
  contains.

The pointed-to token is never token i itself nor the one ``offset`` places before it, so the two
answers always come from two different tokens. A head that spreads its weight over both tokens returns
a blend of two values, and a linear readout cannot tell which is which: with one head, at most one of the
two answers can be learned. The task is solved only when one head looks up by name and another by
position.

The model (:class:`LookupModel`): a linear embedding of the one-hot symbols plus a learned position
embedding, one MSA layer, and a linear readout to two sets of M logits:
    z = x E + E_pos          (B, T, D)
    h = MSA(z)               (B, T, D),  attention weights A (B, k, T, T)
    logits = h W_out         (B, T, 2, M): [content answer, position answer]
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from vit_edu.attention import MultiHeadSelfAttention
from vit_edu.checks import TORCH_MAX_SEED, check_int, check_number, check_seed

NAME_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
RELATIONS = ("content", "position")


def _check_generator(generator: object) -> torch.Generator:
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator (e.g. torch.Generator().manual_seed(0)), "
                        f"got {generator!r}.")
    return generator


@dataclass(frozen=True)
class LookupBatch:
    """A batch of the lookup task: the symbols of every token and, for every query, its two target tokens.

    Attributes:
        names: (B, T) the name of each token; a permutation of 0..T-1 in every sequence.
        pointers: (B, T) the name each token looks for.
        values: (B, T) the value of each token, in 0..M-1.
        content_target: (B, T) the position j of the token whose name is ``pointers[b, i]``.
        position_target: (B, T) the position ``(i - offset) mod T``.
        num_values: M.
    """

    names: torch.Tensor
    pointers: torch.Tensor
    values: torch.Tensor
    content_target: torch.Tensor
    position_target: torch.Tensor
    num_values: int

    @property
    def seq_len(self) -> int:
        """T."""
        return self.names.shape[1]

    @property
    def features(self) -> torch.Tensor:
        """(B, T, 2T + M): one-hot name, one-hot pointer and one-hot value of every token."""
        seq_len = self.seq_len
        return torch.cat([F.one_hot(self.names, seq_len), F.one_hot(self.pointers, seq_len),
                          F.one_hot(self.values, self.num_values)], dim=-1).float()  # (B, T, 2T + M)

    @property
    def content_answer(self) -> torch.Tensor:
        """(B, T) the value of each query's content target."""
        return self.values.gather(1, self.content_target)

    @property
    def position_answer(self) -> torch.Tensor:
        """(B, T) the value of each query's position target."""
        return self.values.gather(1, self.position_target)

    def target(self, relation: str) -> torch.Tensor:
        """(B, T) ``content_target`` or ``position_target``."""
        if relation not in RELATIONS:
            raise ValueError(f"relation must be one of {RELATIONS}, got {relation!r}.")
        return self.content_target if relation == "content" else self.position_target

    def token_labels(self, index: int = 0) -> tuple[list[str], list[str]]:
        """Axis labels for sequence ``index``: queries ``"i N→P"`` (position, name, the name it looks for)
        and keys ``"j N"`` (position, name)."""
        self.check_index(index)
        names = [NAME_LETTERS[int(n)] for n in self.names[index]]
        pointers = [NAME_LETTERS[int(p)] for p in self.pointers[index]]
        queries = [f"{i} {name}→{pointer}" for i, (name, pointer) in enumerate(zip(names, pointers))]
        return queries, [f"{j} {name}" for j, name in enumerate(names)]

    def check_index(self, index: int) -> None:
        """Raise a clear error unless ``index`` names a sequence of the batch."""
        check_int(index, "index", minimum=0)
        if index >= self.names.shape[0]:
            raise ValueError(f"index must be < the batch size {self.names.shape[0]}, got {index}.")

    def describe(self, index: int = 0) -> str:
        """Sequence ``index`` as a small table: position, name, the name it looks for, value, the two answers."""
        self.check_index(index)
        lines = ["position  name  looks for  value | content answer  position answer"]
        for i in range(self.seq_len):
            lines.append(f"{i:8d}  {NAME_LETTERS[int(self.names[index, i])]:>4s}  "
                         f"{NAME_LETTERS[int(self.pointers[index, i])]:>9s}  {int(self.values[index, i]):5d} | "
                         f"{int(self.content_answer[index, i]):14d}  {int(self.position_answer[index, i]):15d}")
        return "\n".join(lines)


@dataclass(frozen=True)
class LookupTask:
    """The lookup task: T tokens, M values, the position answer ``offset`` places back.

    Args:
        seq_len: T, at least 3 (each query needs a content target apart from itself and its position
            target); at most 26 (names are shown as letters).
        num_values: M, at least 2.
        offset: the position answer of token i is token ``(i - offset) mod T``; 1 = the previous token.
    """

    seq_len: int = 8
    num_values: int = 8
    offset: int = 1

    def __post_init__(self) -> None:
        check_int(self.seq_len, "seq_len", minimum=3,
                  hint=" (each token needs a token to look up besides itself and the one offset places back)")
        if self.seq_len > len(NAME_LETTERS):
            raise ValueError(f"seq_len must be <= {len(NAME_LETTERS)} (names are shown as letters), "
                             f"got {self.seq_len}.")
        check_int(self.num_values, "num_values", minimum=2)
        check_int(self.offset, "offset", minimum=1)
        if self.offset >= self.seq_len:
            raise ValueError(f"offset must be in 1..seq_len - 1 = {self.seq_len - 1}, got {self.offset}; "
                             "offset 1 looks at the previous token.")

    @property
    def feature_dim(self) -> int:
        """2T + M, the width of one token's one-hot features."""
        return 2 * self.seq_len + self.num_values

    def sample(self, batch_size: int, generator: torch.Generator) -> LookupBatch:
        """``batch_size`` random sequences drawn with ``generator``."""
        check_int(batch_size, "batch_size")
        _check_generator(generator)
        seq_len = self.seq_len
        names = torch.rand(batch_size, seq_len, generator=generator).argsort(dim=1)  # (B, T), uniform permutations
        values = torch.randint(0, self.num_values, (batch_size, seq_len), generator=generator)  # (B, T)
        positions = torch.arange(seq_len)  # (T,)
        # the content target sits `shift` places after i, for a shift drawn uniformly from 1..T-1
        # without T - offset (that one is the position target): draw from T - 2 shifts and skip it
        draw = torch.randint(1, seq_len - 1, (batch_size, seq_len), generator=generator)  # (B, T) in 1..T-2
        shift = torch.where(draw >= seq_len - self.offset, draw + 1, draw)  # (B, T)
        content_target = (positions + shift) % seq_len  # (B, T)
        position_target = ((positions - self.offset) % seq_len).expand(batch_size, seq_len).clone()  # (B, T)
        pointers = names.gather(1, content_target)  # (B, T): the name of the content target
        return LookupBatch(names, pointers, values, content_target, position_target, self.num_values)


class LookupModel(nn.Module):
    """Embedding + learned position embedding, one MSA layer with k heads, a linear readout to two answers.

    Args:
        task: the task (fixes T and M).
        dim: D.
        heads: k; the task needs 2 (one per relation), and 1 shows what goes wrong without them.
        head_dim: D_h.
        generator: draws the initial weights (:meth:`reset_parameters`); default one seeded with 0.
            torch's global RNG is neither used nor changed.
    """

    def __init__(self, task: LookupTask, dim: int = 32, heads: int = 2, head_dim: int = 16,
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        if not isinstance(task, LookupTask):
            raise TypeError(f"task must be a LookupTask, got {task!r}.")
        check_int(dim, "dim")
        check_int(heads, "heads", minimum=1)
        check_int(head_dim, "head_dim")
        generator = torch.Generator().manual_seed(0) if generator is None else _check_generator(generator)
        self.task = task
        with torch.random.fork_rng(devices=[]):  # the layers' default init draws from the global RNG
            self.embed = nn.Linear(task.feature_dim, dim)
            self.position = nn.Parameter(torch.zeros(task.seq_len, dim))  # E_pos, (T, D)
            self.attention = MultiHeadSelfAttention(dim, heads, head_dim)
            self.readout = nn.Linear(dim, len(RELATIONS) * task.num_values)
        self.reset_parameters(generator)

    @property
    def heads(self) -> int:
        """k."""
        return self.attention.heads

    @torch.no_grad()
    def reset_parameters(self, generator: torch.Generator, position_std: float = 0.1) -> None:
        """Draw every parameter from ``generator``: linear weights uniform in +-1/sqrt(fan_in) (PyTorch's
        default bound), biases 0, the position embedding normal with ``position_std``.

        A small position embedding matters: with std 1 the positions stand out from the start, and both
        heads tend to lock onto the easy position relation before either finds the lookup by name.
        """
        _check_generator(generator)
        check_number(position_std, "position_std", minimum=0.0)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                bound = 1.0 / math.sqrt(module.in_features)
                nn.init.uniform_(module.weight, -bound, bound, generator=generator)
                nn.init.zeros_(module.bias)
        nn.init.normal_(self.position, std=position_std, generator=generator)

    def forward(self, features: torch.Tensor, return_attention: bool = False):
        """(B, T, 2T + M) -> logits (B, T, 2, M), plus A (B, k, T, T) when ``return_attention``."""
        z = self.embed(features) + self.position  # (B, T, D)
        out, weights = self.attention(z, return_attention=True)  # (B, T, D), (B, k, T, T)
        logits = self.readout(out).unflatten(-1, (len(RELATIONS), self.task.num_values))  # (B, T, 2, M)
        return (logits, weights) if return_attention else logits


def lookup_loss(logits: torch.Tensor, batch: LookupBatch) -> torch.Tensor:
    """Cross-entropy of the content answer plus that of the position answer (each a mean over tokens)."""
    num_values = batch.num_values
    content = F.cross_entropy(logits[..., 0, :].reshape(-1, num_values), batch.content_answer.reshape(-1))
    position = F.cross_entropy(logits[..., 1, :].reshape(-1, num_values), batch.position_answer.reshape(-1))
    return content + position


@dataclass
class LookupRun:
    """A trained :class:`LookupModel`, its task and its training record."""

    model: LookupModel
    task: LookupTask
    seed: int
    losses: list[float] = field(default_factory=list)  # training loss of every step
    seconds: float = 0.0  # wall-clock training time

    def held_out_batch(self, batch_size: int = 512) -> LookupBatch:
        """Fresh sequences for measuring, from a generator seeded ``seed + 2**32`` (not the training's)."""
        check_int(batch_size, "batch_size")
        generator = torch.Generator().manual_seed((self.seed + 2**32) % (TORCH_MAX_SEED + 1))
        return self.task.sample(batch_size, generator)


def train_lookup(
    seed: int = 0,
    task: LookupTask | None = None,
    steps: int = 300,
    batch_size: int = 64,
    learning_rate: float = 1e-2,
    dim: int = 32,
    heads: int = 2,
    head_dim: int = 16,
    num_threads: int | None = 1,
) -> LookupRun:
    """Train a :class:`LookupModel` with Adam on fresh random batches; everything is drawn from one
    ``torch.Generator`` seeded with ``seed`` (torch's global RNG is neither used nor changed).

    Args:
        seed: the seed of the initial weights and of the training data.
        task: the task (default :class:`LookupTask()`: T = 8, M = 8, the previous token).
        steps: optimiser steps, one fresh batch each.
        batch_size: sequences per step.
        learning_rate: Adam's learning rate (constant).
        dim, heads, head_dim: D, k and D_h of the model.
        num_threads: torch threads while training (restored afterwards); ``None`` leaves them. A model
            this small gains nothing from more threads, and on a busy machine extra threads mostly wait.

    Returns:
        The run, with the model in eval mode.
    """
    check_seed(seed, maximum=TORCH_MAX_SEED)
    task = LookupTask() if task is None else task
    check_int(steps, "steps")
    check_int(batch_size, "batch_size")
    check_number(learning_rate, "learning_rate", minimum=0.0, open_minimum=True, hint="; 1e-2 is what we use")
    generator = torch.Generator().manual_seed(seed)
    model = LookupModel(task, dim=dim, heads=heads, head_dim=head_dim, generator=generator)
    if num_threads is not None:
        check_int(num_threads, "num_threads")
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    run = LookupRun(model=model, task=task, seed=seed)
    old_threads = torch.get_num_threads()
    if num_threads is not None:
        torch.set_num_threads(num_threads)
    try:
        start = time.perf_counter()
        model.train()
        for _ in range(steps):
            batch = task.sample(batch_size, generator)
            loss = lookup_loss(model(batch.features), batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            run.losses.append(loss.item())
        run.seconds = time.perf_counter() - start
    finally:
        torch.set_num_threads(old_threads)
    model.eval()
    return run


@dataclass(frozen=True)
class HeadRelations:
    """Which relation each head implements, measured on a batch.

    Attributes:
        content_mass: (k,) mean attention weight each head puts on the query's content target.
        position_mass: (k,) mean attention weight each head puts on the query's position target.
        content_accuracy: share of content answers the model gets right.
        position_accuracy: share of position answers the model gets right.
    """

    content_mass: torch.Tensor
    position_mass: torch.Tensor
    content_accuracy: float
    position_accuracy: float

    @property
    def content_head(self) -> int:
        """The head with the most mass on the content target."""
        return int(self.content_mass.argmax())

    @property
    def position_head(self) -> int:
        """The head with the most mass on the position target."""
        return int(self.position_mass.argmax())

    def as_dict(self) -> dict[str, object]:
        """Plain numbers, e.g. for JSON."""
        return {"content_mass": self.content_mass.tolist(), "position_mass": self.position_mass.tolist(),
                "content_accuracy": self.content_accuracy, "position_accuracy": self.position_accuracy,
                "content_head": self.content_head, "position_head": self.position_head}


def target_mass(weights: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean attention weight on a target key, per head.

    Args:
        weights: (B, k, T, T) attention weights A[b, h, query, key].
        target: (B, T) the target key of every query.

    Returns:
        (k,) the mean over the batch and the queries of A[b, h, i, target[b, i]].
    """
    if weights.dim() != 4 or target.shape != (weights.shape[0], weights.shape[2]):
        raise ValueError(f"weights must be (B, k, T, T) and target (B, T), got {tuple(weights.shape)} and "
                         f"{tuple(target.shape)}.")
    index = target[:, None, :, None].expand(-1, weights.shape[1], -1, 1)  # (B, k, T, 1)
    return weights.gather(3, index).squeeze(3).mean(dim=(0, 2))  # (k,)


@torch.no_grad()
def head_relations(model: LookupModel, batch: LookupBatch) -> HeadRelations:
    """Measure each head's attention mass on the content and on the position target, and the accuracies."""
    if not isinstance(model, LookupModel):
        raise TypeError(f"model must be a LookupModel, got {type(model).__name__}.")
    if batch.seq_len != model.task.seq_len or batch.num_values != model.task.num_values:
        raise ValueError(f"batch has T = {batch.seq_len}, M = {batch.num_values}, but the model was built for "
                         f"T = {model.task.seq_len}, M = {model.task.num_values}; sample it from the model's task.")
    logits, weights = model(batch.features, return_attention=True)  # (B, T, 2, M), (B, k, T, T)
    predictions = logits.argmax(dim=-1)  # (B, T, 2)
    return HeadRelations(
        content_mass=target_mass(weights, batch.content_target),
        position_mass=target_mass(weights, batch.position_target),
        content_accuracy=(predictions[..., 0] == batch.content_answer).float().mean().item(),
        position_accuracy=(predictions[..., 1] == batch.position_answer).float().mean().item(),
    )


@torch.no_grad()
def example_attention(model: LookupModel, batch: LookupBatch, index: int = 0) -> torch.Tensor:
    """(k, T, T) the attention weights of every head for sequence ``index`` of ``batch``."""
    batch.check_index(index)
    _, weights = model(batch.features[index:index + 1], return_attention=True)  # (1, k, T, T)
    return weights[0]
