"""Every language model of the zoo: shapes, causality, learning, its one-line errors, its config, sampling."""

import inspect
import math
import re
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf
from torch import nn

from zoo import CONFIG_DIR, models
from zoo.models.sampling import generate

TASK = "language_model"
FAMILIES = models.list_models(TASK)
VOCAB, CONTEXT = 11, 16


def build(name, vocab_size=VOCAB, context=CONTEXT, **settings):
    return models.build(name, {"vocab_size": vocab_size, "context": context}, TASK, **settings)


def without_dropout(name):
    """The family's defaults, dropout off: train mode then computes what eval mode does."""
    return build(name, **({"dropout": 0.0} if "dropout" in models.settings_of(name, TASK) else {}))


def outputs(net, x, train):
    net.train(train)
    torch.manual_seed(1)
    with torch.no_grad():
        return net(x)


def changes_the_past(net, x, t, train) -> bool:
    """Whether changing the symbols after position t changes any output at positions <= t."""
    future = x.clone()
    future[:, t + 1 :] = (x[:, t + 1 :] + torch.randint(1, VOCAB, x[:, t + 1 :].shape)) % VOCAB
    return not torch.allclose(
        outputs(net, x, train)[:, : t + 1], outputs(net, future, train)[:, : t + 1], rtol=0, atol=1e-6
    )


def test_every_family_models_language():
    assert FAMILIES == ["cnn", "linear", "mlp", "rnn", "transformer"]


@pytest.mark.parametrize("name", FAMILIES)
def test_logits_for_every_position_of_any_length_up_to_the_context(name):
    torch.manual_seed(0)
    net = build(name)
    for steps in (1, 5, CONTEXT):
        logits = net(torch.randint(0, VOCAB, (3, steps)))
        assert logits.shape == (3, steps, VOCAB) and logits.dtype == torch.float32


@pytest.mark.slow
@pytest.mark.parametrize("train", [False, True], ids=["eval", "train"])
@pytest.mark.parametrize("name", FAMILIES)
def test_position_t_sees_the_symbols_up_to_t_and_none_after(name, train):
    torch.manual_seed(0)
    net = without_dropout(name)
    with torch.no_grad():  # weights as after training: no table left at its initial zeros (the bigram's)
        for parameter in net.parameters():
            parameter.add_(0.1 * torch.randn_like(parameter))
    for steps in (CONTEXT, 7):
        x = torch.randint(0, VOCAB, (4, steps))
        for t in (0, 1, steps // 2, steps - 2):
            assert not changes_the_past(net, x, t, train), f"position {t} sees later symbols"
            current = x.clone()
            current[:, t] = (x[:, t] + 1) % VOCAB
            before, after = outputs(net, x, train), outputs(net, current, train)
            assert not torch.allclose(before[:, t], after[:, t]), f"position {t} ignores its own symbol"
            assert torch.equal(before[:, :t], after[:, :t])


@pytest.mark.slow
def test_the_causality_check_catches_a_model_that_reads_the_future():
    class Leaky(nn.Module):  # each position also gets the mean over the whole sequence
        def __init__(self):
            super().__init__()
            self.table = nn.Embedding(VOCAB, VOCAB)

        def forward(self, x):
            h = self.table(x)
            return h + h.mean(1, keepdim=True)

    assert changes_the_past(Leaky(), torch.randint(0, VOCAB, (4, CONTEXT)), 3, train=False)


def batches(text, context, count, batch_size=16, seed=0):
    """`count` batches of windows of `text`: inputs and their next symbols."""
    generator = torch.Generator().manual_seed(seed)
    starts = torch.randint(0, len(text) - context - 1, (count, batch_size), generator=generator)
    offsets = torch.arange(context + 1)
    windows = text[starts.unsqueeze(-1) + offsets]
    return [(w[:, :-1], w[:, 1:]) for w in windows]


# Narrower than the defaults, so that the few dozen steps take seconds on a shared CPU.
SMALL = {
    "linear": {},
    "mlp": {"dim": 64},
    "cnn": {"dim": 32, "depth": 4},
    "rnn": {"dim": 64, "embed": 16},
    "transformer": {"dim": 32, "depth": 2},
}


@pytest.mark.parametrize("name", FAMILIES)
def test_every_family_learns_a_repeated_sentence(name):
    sentence = "the quick brown fox jumps over the lazy dog. "
    symbols = sorted(set(sentence))
    text = torch.tensor([symbols.index(c) for c in sentence * 20])
    counts = torch.bincount(text).float()
    unigram_entropy = -(counts / counts.sum() * (counts / counts.sum()).log()).sum().item()
    torch.manual_seed(0)
    net = build(name, vocab_size=len(symbols), context=CONTEXT, **SMALL[name])
    optimizer = torch.optim.Adam(net.parameters(), lr=0.1 if name == "linear" else 1e-2)
    losses = []
    for x, y in batches(text, CONTEXT, 30):
        loss = nn.functional.cross_entropy(net(x).flatten(0, 1), y.flatten())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[0] > math.log(len(symbols)) - 0.5  # it starts near a uniform guess
    assert sum(losses[-5:]) / 5 < 0.5 * losses[0]
    if name != "linear":  # beyond what the frequencies of single symbols can give
        assert sum(losses[-5:]) / 5 < 0.5 * unigram_entropy


@pytest.mark.parametrize(
    "name, context, settings, message",
    [
        (
            "rnn",
            16,
            {"bidirectional": True},
            "model.bidirectional=True would let a language model read the symbols it predicts; "
            "use model.bidirectional=false",
        ),
        (
            "mlp",
            16,
            {"norm": "batch"},
            "model.norm=batch lets a language model see later positions through the batch "
            "statistics; use model.norm=layer or none",
        ),
        ("cnn", 16, {"norm": "batch"}, "model.norm=batch lets a language model see later positions"),
        (
            "transformer",
            64,
            {"positions": 32},
            "data.context=64 is longer than model.positions=32; set model.positions>=64 or null",
        ),
        ("transformer", 16, {"dim": 30, "heads": 4}, "model.dim=30 must be divisible by model.heads=4"),
        (
            "cnn",
            64,
            {"depth": 5},
            "model.depth=5 and model.kernel=2 see 32 symbols (the receptive field), fewer than "
            "data.context=64; add layers or widen model.kernel",
        ),
        ("cnn", 16, {"channels": [8, 8], "kernel": 3}, "model.channels=[8, 8] and model.kernel=3 see 7 symbols"),
        ("mlp", 16, {"norm": "group"}, "model.norm='group' must be one of layer, none"),
        ("rnn", 16, {"pool": "mean"}, "model.pool is not a setting of model=rnn for language model"),
    ],
)
def test_settings_that_cannot_work_for_language_say_so_in_one_line(name, context, settings, message):
    with pytest.raises(ValueError, match="^" + re.escape(message)) as error:
        build(name, context=context, **settings)
    assert "\n" not in str(error.value)


def test_the_position_table_may_be_longer_than_the_context():
    net = build("transformer", context=16, positions=32)
    assert net.pos_embed.shape[1] == 32 and net(torch.zeros(2, 16, dtype=torch.long)).shape == (2, 16, VOCAB)


def test_the_cnn_receptive_field_covers_the_default_context():
    assert build("cnn", context=64) is not None  # depth 6, kernel 2: 1 + (1 + 2 + ... + 32) = 64


def model_node(path: Path):
    cfg = OmegaConf.load(path)
    global_package = path.read_text().startswith("# @package _global_")
    return cfg.model if global_package else cfg


@pytest.mark.parametrize("name", FAMILIES)
def test_the_language_model_config_repeats_the_builders_defaults(name):
    """conf/model/<name>.yaml with conf/model/for_task/language_model/<name>.yaml merged on top, null keys
    dropped, is what the builder takes by default; each of its settings is there to override."""
    merged = OmegaConf.merge(
        model_node(Path(CONFIG_DIR, "model", f"{name}.yaml")),
        model_node(Path(CONFIG_DIR, "model", "for_task", TASK, f"{name}.yaml")),
    )
    merged = OmegaConf.to_container(merged)
    assert merged.pop("name") == name
    parameters = inspect.signature(models.build_function(name, TASK)).parameters.values()
    defaults = {p.name: p.default for p in parameters if p.default is not p.empty}
    assert set(defaults) <= set(merged)
    assert {k: v for k, v in merged.items() if v is not None} == {k: v for k, v in defaults.items() if v is not None}


def test_default_sizes_are_small_enough_for_a_cpu():
    sizes = {name: models.count_parameters(build(name, vocab_size=90, context=64)) for name in FAMILIES}
    assert sizes["linear"] == 90 * 90
    assert all(100_000 < sizes[name] < 1_000_000 for name in FAMILIES if name != "linear"), sizes


@pytest.fixture(scope="module")
def sampler():
    torch.manual_seed(0)
    return build("transformer", context=8, dim=32, depth=2)


def sample(net, seed, prompt=(1, 2, 3), **settings):
    settings = {"length": 40, "context": 8, **settings}
    return generate(net, torch.tensor(prompt), generator=torch.Generator().manual_seed(seed), **settings)


def test_the_same_seed_gives_the_same_text_and_another_seed_another(sampler):
    first = sample(sampler, seed=0)
    assert first.shape == (40,) and first.dtype == torch.long and ((first >= 0) & (first < VOCAB)).all()
    assert torch.equal(sample(sampler, seed=0), first)
    assert not torch.equal(sample(sampler, seed=1), first)


def test_top_1_is_greedy_and_greedy_ignores_the_seed(sampler):
    greedy = sample(sampler, seed=0, temperature=0)
    assert torch.equal(sample(sampler, seed=5, temperature=0), greedy)
    assert torch.equal(sample(sampler, seed=1, top_k=1), greedy)
    ids = torch.tensor([1, 2, 3])
    with torch.no_grad():
        for _ in range(5):  # greedy is the argmax of the net's last logits, step by step
            ids = torch.cat([ids, sampler.eval()(ids[-8:].unsqueeze(0))[0, -1].argmax().unsqueeze(0)])
    assert torch.equal(greedy[:5], ids[3:])


def test_top_k_draws_only_among_the_k_most_likely(sampler):
    drawn = sample(sampler, seed=0, top_k=2, length=20)
    ids = torch.cat([torch.tensor([1, 2, 3]), drawn])
    with torch.no_grad():
        for step in range(20):
            logits = sampler.eval()(ids[max(0, step + 3 - 8) : step + 3].unsqueeze(0))[0, -1]
            assert drawn[step] in logits.topk(2).indices


@pytest.mark.slow
@pytest.mark.parametrize("name", FAMILIES)
def test_generate_serves_every_family_and_crops_a_long_prompt_to_the_context(name):
    torch.manual_seed(0)
    net = build(name, context=8).train()
    prompt = tuple(range(VOCAB)) * 2  # 22 symbols, more than the context of 8
    text = sample(net, seed=3, prompt=prompt, length=12)
    assert text.shape == (12,)
    assert torch.equal(sample(net, seed=3, prompt=prompt[-8:], length=12), text)  # only the last 8 count
    assert net.training  # left in the mode it was found in
    assert sample(net.eval(), seed=3, length=0).shape == (0,) and not net.training


def test_an_empty_prompt_is_refused_in_one_line(sampler):
    with pytest.raises(
        ValueError, match=r"^the prompt must be a non-empty 1-D tensor of symbol ids, not shape \(0,\)$"
    ):
        generate(sampler, torch.tensor([], dtype=torch.long), length=5, context=8)


def test_generate_restarts_the_context_at_each_sample_start():
    """Line mode (one name a line): after the boundary that ends a name, the net sees only what follows
    it, as every training sample began at the boundary."""
    boundary, letter = 1, 2
    seen = []

    class EndsEveryNameAfterTwoLetters(nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = nn.Parameter(torch.zeros(1))

        def forward(self, x):
            seen.append(x[0].tolist())
            logits = torch.zeros(1, x.shape[1], 3)
            logits[0, -1, boundary if x.shape[1] == 3 else letter] = 1.0
            return logits

    ids = generate(
        EndsEveryNameAfterTwoLetters(), torch.tensor([boundary]), 9, context=16, temperature=0, start=boundary
    )
    assert ids.tolist() == [letter, letter, boundary] * 3
    assert all(inputs[0] == boundary and len(inputs) <= 3 for inputs in seen)
