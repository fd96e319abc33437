"""Every registered model, on the input of every data set: shapes, gradients, parameter counts."""

import inspect
import math
import re

import pytest
import torch

from zoo import models
from zoo.data.digits import Digits
from zoo.data.mnist1d import MNIST1D
from zoo.data.torchvision_sets import CIFAR10, MNIST, FashionMNIST
from zoo.models.cnn import ResidualBlock

INPUTS = {
    cls.__name__: cls(name=cls.__name__, data_dir="unused").input_shape
    for cls in (MNIST1D, Digits, MNIST, FashionMNIST, CIFAR10)
}


def test_registry_lists_the_five_families():
    assert models.list_models() == ["cnn", "linear", "mlp", "rnn", "transformer"]


@pytest.mark.parametrize("data", INPUTS)
@pytest.mark.parametrize("name", models.list_models())
def test_forward_and_backward_on_every_data_shape(name, data):
    torch.manual_seed(0)
    shape = INPUTS[data]
    net = models.build(name, {"input_shape": shape, "num_classes": 7})
    logits = net(torch.randn(3, *shape))
    assert logits.shape == (3, 7)
    logits.logsumexp(dim=1).mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters())
    assert models.count_parameters(net) > 0


@pytest.mark.parametrize("data", INPUTS)
def test_linear_is_logistic_regression(data):
    shape = INPUTS[data]
    assert (
        models.count_parameters(models.build("linear", {"input_shape": shape, "num_classes": 10}))
        == math.prod(shape) * 10 + 10
    )


@pytest.mark.parametrize("name", ["mlp", "cnn", "rnn", "transformer"])
def test_dim_and_depth_mean_the_same_thing_in_every_family(name):
    base = models.count_parameters(models.build(name, {"input_shape": (1, 40), "num_classes": 10}, dim=32, depth=2))
    assert (
        models.count_parameters(models.build(name, {"input_shape": (1, 40), "num_classes": 10}, dim=64, depth=2)) > base
    )
    assert (
        models.count_parameters(models.build(name, {"input_shape": (1, 40), "num_classes": 10}, dim=32, depth=3)) > base
    )


def test_cnn_picks_conv1d_for_signals_and_conv2d_for_images():
    assert isinstance(models.build("cnn", {"input_shape": (1, 40), "num_classes": 10}).features[0], torch.nn.Conv1d)
    assert isinstance(models.build("cnn", {"input_shape": (3, 32, 32), "num_classes": 10}).features[0], torch.nn.Conv2d)


def test_the_default_cnn_is_a_residual_network_of_four_blocks_after_a_stem():
    net = models.build("cnn", {"input_shape": (1, 40), "num_classes": 10})
    blocks = [m for m in net.features if isinstance(m, ResidualBlock)]
    assert [block.body[0].out_channels for block in blocks] == [32, 64, 64, 64]  # doubling, up to max_channels
    unlimited = models.build("cnn", {"input_shape": (1, 40), "num_classes": 10}, max_channels=0)
    assert [m.body[0].out_channels for m in unlimited.features if isinstance(m, ResidualBlock)] == [32, 64, 128, 256]
    assert isinstance(net.features[0], torch.nn.Conv1d) and net.features[0].out_channels == 32  # the stem


@pytest.mark.parametrize("shape", [(1, 40), (3, 32, 32)])
@pytest.mark.parametrize("stride", [1, 2])
def test_residual_blocks_add_what_keeps_their_size(shape, stride):
    net = models.build(
        "cnn", {"input_shape": shape, "num_classes": 10}, dim=8, depth=3, kernel=5, stride=stride, stem=0
    )
    assert isinstance(net.features[0], ResidualBlock) and net(torch.randn(2, *shape)).shape == (2, 10)
    plain = models.build("cnn", {"input_shape": shape, "num_classes": 10}, dim=8, depth=3, residual=False, stem=0)
    assert sum(isinstance(m, (torch.nn.Conv1d, torch.nn.Conv2d)) for m in plain.modules()) == 3


def test_the_paper_preset_builds_the_papers_cnn(compose_config):
    """experiment=paper_cnn: three Conv1d of 25 channels, kernels 5, 3, 3, stride 2, ReLU, no norm, pooling,
    shortcut or stem, flattened into a linear layer (Greydanus & Kobak's CNN row)."""
    from hydra.utils import instantiate

    from zoo.training.build import build_network

    cfg = compose_config("experiment=paper_cnn")
    net = build_network(cfg, instantiate(cfg.data))
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv1d)]
    assert [(c.out_channels, c.kernel_size[0], c.stride[0]) for c in convs] == [(25, 5, 2), (25, 3, 2), (25, 3, 2)]
    extras = (torch.nn.BatchNorm1d, torch.nn.MaxPool1d, torch.nn.AdaptiveAvgPool1d, ResidualBlock)
    assert not any(isinstance(m, extras) for m in net.modules())
    assert models.count_parameters(net) == (5 * 25 + 25) + 2 * (25 * 25 * 3 + 25) + (25 * 5 * 10 + 10)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("pool", ["last", "mean", "flatten"])
def test_rnn_cells_and_readouts(cell, pool):
    net = models.build(
        "rnn",
        {"input_shape": (1, 8, 8), "num_classes": 10},
        cell=cell,
        pool=pool,
        depth=2,
        dim=16,
        bidirectional=cell != "rnn",
    )
    assert net(torch.randn(2, 1, 8, 8)).shape == (2, 10)


@pytest.mark.parametrize("pool", ["cls", "mean"])
def test_transformer_pooling(pool):
    assert models.build("transformer", {"input_shape": (3, 32, 32), "num_classes": 10}, pool=pool)(
        torch.randn(2, 3, 32, 32)
    ).shape == (2, 10)


@pytest.mark.parametrize(
    "name, shape, settings, message",
    [
        ("transformer", (1, 40), {"dim": 30, "heads": 4}, "model.dim=30 must be divisible by model.heads=4"),
        ("transformer", (1, 8, 8), {"patch": 3}, "model.patch=3 must divide the input size 8x8"),
        ("mlp", (1, 40), {"depth": 0}, "model.depth=0 must be a positive integer"),
        ("cnn", (1, 40), {"dropout": 1.5}, "model.dropout=1.5 must be a number in [0, 1)"),
        ("rnn", (1, 40), {"cell": "transformer"}, "model.cell='transformer' must be one of rnn, lstm, gru"),
        ("cnn", (1, 40), {"channels": [8, 8], "kernel": [3, 3, 3]}, "model.kernel has 3 entries but there are 2"),
        ("cnn", (1, 40), {"kernel": 4}, "model.kernel=4 has an even size; model.residual=true needs odd kernels"),
        ("cnn", (1, 40), {"max_channels": -1}, "model.max_channels=-1 must be a whole number of channels"),
        ("nope", (1, 40), {}, "model=nope is not a zoo model"),
    ],
)
def test_settings_that_cannot_work_name_the_key_and_the_rule(name, shape, settings, message):
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        models.build(name, {"input_shape": shape, "num_classes": 10}, **settings)


@pytest.mark.parametrize("name", models.list_models())
def test_building_from_python_gives_the_command_lines_network(compose_config, name):
    """`models.build(name, ...)` with no settings and `python train.py model=<name>` build one network."""
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    from zoo.training.build import build_network

    cfg = compose_config(f"model={name}")
    settings = OmegaConf.to_container(cfg.model, resolve=True)
    del settings["name"]
    parameters = inspect.signature(models.build_function(name)).parameters.values()
    assert {p.name: p.default for p in parameters if p.default is not p.empty} == settings

    datamodule = instantiate(cfg.data)
    torch.manual_seed(0)
    from_command_line = build_network(cfg, datamodule)
    torch.manual_seed(0)
    from_python = models.build(name, datamodule.model_inputs)
    assert repr(from_python) == repr(from_command_line)
    expected = from_command_line.state_dict()
    assert all(torch.equal(value, expected[key]) for key, value in from_python.state_dict().items())
