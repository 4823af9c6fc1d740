"""The two-relation lookup toy of the self-attention lesson: its data against a hand computation, the
per-head measurement against loops, bad arguments, and (slow) that training splits the work between
the two heads."""

import math

import pytest
import torch

from vit_edu.training.attention_toy import (
    NAME_LETTERS,
    LookupModel,
    LookupTask,
    example_attention,
    head_relations,
    target_mass,
    train_lookup,
)


def generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("seq_len, num_values, offset", [(8, 8, 1), (5, 3, 2), (3, 2, 1), (6, 4, 5)])
def test_targets_match_a_hand_computation(seq_len, num_values, offset):
    task = LookupTask(seq_len=seq_len, num_values=num_values, offset=offset)
    batch = task.sample(64, generator(seq_len + offset))
    features = batch.features
    assert features.shape == (64, seq_len, 2 * seq_len + num_values) == (64, seq_len, task.feature_dim)
    for b in range(64):
        names = batch.names[b].tolist()
        assert sorted(names) == list(range(seq_len))  # every name once
        for i in range(seq_len):
            # the token whose name is i's pointer, found by searching the names
            matches = [j for j in range(seq_len) if names[j] == int(batch.pointers[b, i])]
            assert len(matches) == 1
            j = matches[0]
            previous = (i - offset + seq_len) % seq_len
            assert int(batch.content_target[b, i]) == j
            assert int(batch.position_target[b, i]) == previous
            assert j not in (i, previous)  # the two answers always come from two other tokens
            assert int(batch.content_answer[b, i]) == int(batch.values[b, j])
            assert int(batch.position_answer[b, i]) == int(batch.values[b, previous])
            assert 0 <= int(batch.values[b, i]) < num_values
            # features: three one-hot blocks, name | pointer | value
            row = features[b, i]
            assert row.sum() == 3 and ((row == 0) | (row == 1)).all()
            assert row[names[i]] == 1
            assert row[seq_len + int(batch.pointers[b, i])] == 1
            assert row[2 * seq_len + int(batch.values[b, i])] == 1
    assert torch.equal(batch.target("content"), batch.content_target)
    assert torch.equal(batch.target("position"), batch.position_target)


def test_content_target_is_uniform_over_the_allowed_tokens():
    task = LookupTask(seq_len=8, offset=3)
    batch = task.sample(3000, generator(1))
    shift = (batch.content_target - torch.arange(8)) % 8  # (B, T)
    counts = torch.bincount(shift.flatten(), minlength=8).double()
    assert counts[0] == 0 and counts[8 - 3] == 0  # never itself, never the position target
    allowed = counts[[1, 2, 3, 4, 6, 7]]
    expected = 3000 * 8 / 6
    # 6 binomial counts of p = 1/6 over 24000 draws: standard deviation about 58; 5 sigma
    assert ((allowed - expected).abs() < 5 * math.sqrt(expected * 5 / 6)).all(), counts


def test_sampling_is_seeded_by_the_generator_only():
    task = LookupTask()
    torch.manual_seed(0)
    first = task.sample(16, generator(3))
    torch.manual_seed(1)
    again = task.sample(16, generator(3))
    other = task.sample(16, generator(4))
    assert torch.equal(first.features, again.features) and torch.equal(first.content_target, again.content_target)
    assert not torch.equal(first.names, other.names)


def test_describe_lists_every_token():
    batch = LookupTask(seq_len=4, num_values=3).sample(2, generator(0))
    lines = batch.describe(1).splitlines()
    assert len(lines) == 1 + 4
    for i, line in enumerate(lines[1:]):
        position, name, pointer, value, bar, content, previous = line.split()
        assert bar == "|"
        assert int(position) == i
        assert name == NAME_LETTERS[int(batch.names[1, i])] and pointer == NAME_LETTERS[int(batch.pointers[1, i])]
        assert int(value) == int(batch.values[1, i])
        assert int(content) == int(batch.values[1, batch.content_target[1, i]])
        assert int(previous) == int(batch.values[1, (i - 1) % 4])


def test_token_labels_name_position_name_and_pointer():
    batch = LookupTask(seq_len=3, num_values=2).sample(1, generator(2))
    queries, keys = batch.token_labels(0)
    letters = [NAME_LETTERS[int(n)] for n in batch.names[0]]
    assert keys == [f"{j} {letters[j]}" for j in range(3)]
    for i, label in enumerate(queries):
        # "i N→P": the key labelled with name P is the content target
        position, arrow = label.split()
        name, pointer = arrow.split("→")
        assert int(position) == i and name == letters[i]
        assert keys[int(batch.content_target[0, i])].endswith(" " + pointer)


def test_target_mass_matches_a_loop():
    weights = torch.rand(3, 2, 5, 5, generator=generator(0)).softmax(dim=-1)
    target = torch.randint(0, 5, (3, 5), generator=generator(1))
    expected = [sum(float(weights[b, h, i, target[b, i]]) for b in range(3) for i in range(5)) / 15 for h in range(2)]
    assert torch.allclose(target_mass(weights, target), torch.tensor(expected), atol=1e-6)


def test_head_relations_of_an_untrained_model_match_its_attention():
    task = LookupTask(seq_len=6, num_values=4)
    rng_state = torch.random.get_rng_state()
    model = LookupModel(task, dim=8, heads=3, head_dim=4, generator=generator(5)).eval()
    assert torch.equal(torch.random.get_rng_state(), rng_state)  # weights come from the generator only
    twin = LookupModel(task, dim=8, heads=3, head_dim=4, generator=generator(5))
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), twin.parameters(), strict=True))
    assert float(model.position.detach().std()) < 0.2  # small position embedding
    batch = task.sample(10, generator(2))
    relations = head_relations(model, batch)
    with torch.no_grad():
        logits, weights = model(batch.features, return_attention=True)
    assert logits.shape == (10, 6, 2, 4) and weights.shape == (10, 3, 6, 6)
    for h in range(3):
        content = sum(float(weights[b, h, i, batch.content_target[b, i]]) for b in range(10) for i in range(6)) / 60
        previous = sum(float(weights[b, h, i, (i - 1) % 6]) for b in range(10) for i in range(6)) / 60
        assert math.isclose(float(relations.content_mass[h]), content, abs_tol=1e-6)
        assert math.isclose(float(relations.position_mass[h]), previous, abs_tol=1e-6)
    right = (logits.argmax(-1)[..., 0] == batch.values.gather(1, batch.content_target)).float().mean().item()
    assert math.isclose(relations.content_accuracy, right)
    assert torch.allclose(example_attention(model, batch, 4), weights[4], atol=1e-6)


@pytest.mark.parametrize("make, error, pattern", [
    (lambda: LookupTask(seq_len=2), ValueError, r"seq_len must be >= 3 \(each token needs a token to look up"),
    (lambda: LookupTask(seq_len=27), ValueError, r"seq_len must be <= 26"),
    (lambda: LookupTask(num_values=1), ValueError, r"num_values must be >= 2"),
    (lambda: LookupTask(offset=0), ValueError, r"offset must be a positive integer"),
    (lambda: LookupTask(seq_len=5, offset=5), ValueError, r"offset must be in 1\.\.seq_len - 1 = 4, got 5"),
    (lambda: LookupTask(seq_len=8.0), TypeError, r"seq_len must be an int"),
    (lambda: LookupTask().sample(0, generator()), ValueError, r"batch_size must be a positive integer"),
    (lambda: LookupTask().sample(4, 0), TypeError, r"generator must be a torch\.Generator"),
    (lambda: LookupTask().sample(2, generator()).describe(2), ValueError, r"index must be < the batch size 2"),
    (lambda: LookupTask().sample(2, generator()).target("name"), ValueError, r"relation must be one of"),
    (lambda: LookupModel(LookupTask(), heads=0), ValueError, r"heads must be a positive integer"),
    (lambda: LookupModel((8, 8)), TypeError, r"task must be a LookupTask"),
    (lambda: train_lookup(seed=-1), ValueError, r"seed must be an int >= 0|seed must be an int in"),
    (lambda: train_lookup(steps=0), ValueError, r"steps must be a positive integer"),
    (lambda: train_lookup(learning_rate=0.0), ValueError, r"learning_rate must be a finite number > 0"),
    (lambda: train_lookup(learning_rate=math.nan), ValueError, r"learning_rate must be a finite number"),
    (lambda: train_lookup(num_threads=0), ValueError, r"num_threads must be a positive integer"),
    (lambda: head_relations(LookupModel(LookupTask()), LookupTask(seq_len=6).sample(2, generator())), ValueError,
     r"batch has T = 6, M = 8, but the model was built for T = 8"),
    (lambda: target_mass(torch.rand(2, 5, 5), torch.zeros(2, 5, dtype=torch.long)), ValueError,
     r"weights must be \(B, k, T, T\)"),
])
def test_bad_arguments_are_named(make, error, pattern):
    with pytest.raises(error, match=pattern):
        make()


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_training_gives_one_head_per_relation(seed):
    threads = torch.get_num_threads()
    rng_state = torch.random.get_rng_state()
    run = train_lookup(seed)
    assert torch.get_num_threads() == threads  # restored
    assert torch.equal(torch.random.get_rng_state(), rng_state)  # the global RNG is not used
    assert not run.model.training and len(run.losses) == 300 and run.seconds > 0
    relations = head_relations(run.model, run.held_out_batch(512))
    content_head, position_head = relations.content_head, relations.position_head
    assert content_head != position_head  # identified by the measurement, not by index
    # a head that does one job puts almost no weight on the other job's token; the thresholds leave a
    # margin to what benchmarks/attention_toy.py measures over seeds and emulated CPUs
    assert relations.content_mass[content_head] > 0.8 and relations.position_mass[content_head] < 0.1
    assert relations.position_mass[position_head] > 0.8 and relations.content_mass[position_head] < 0.1
    assert relations.content_accuracy > 0.95 and relations.position_accuracy > 0.95
    # chance is 1/8 per answer: both answers right means the loss fell far below 2 ln 8
    assert sum(run.losses[-20:]) / 20 < 0.1 < 2 * math.log(8) - 0.5 < run.losses[0]


@pytest.mark.slow
def test_one_head_cannot_give_both_answers():
    run = train_lookup(0, heads=1)
    relations = head_relations(run.model, run.held_out_batch(512))
    # one softmax per query returns one token's value, or a blend in which the readout cannot tell
    # whose value is whose: at best one answer right and the other at chance (1/8)
    assert max(relations.content_accuracy, relations.position_accuracy) > 0.8  # it did learn one
    assert relations.content_accuracy + relations.position_accuracy < 1.4


def test_training_is_reproducible_and_restores_the_thread_count():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        first = train_lookup(3, steps=5, batch_size=8)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    assert train_lookup(3, steps=5, batch_size=8).losses == first.losses
    assert train_lookup(4, steps=5, batch_size=8).losses != first.losses
