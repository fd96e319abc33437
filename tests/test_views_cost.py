"""Compute cost (FLOPs per sample, latency) and CNN hierarchies (filters, feature maps): the counts against
hand-counted ones, and real tiny runs whose metrics.json, HPARAMS row, IMAGES tab and zoo-compare show them."""

import io

import pytest
import torch
from matplotlib.image import imread
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch import nn

from zoo import models
from zoo.compare import command as compare
from zoo.compare.tables import si
from zoo.tasks.classification import Classification
from zoo.tasks.language_model import LanguageModel
from zoo.training import command as cli
from zoo.views.cost import count_flops

from conftest import TINY, command_here, read_metrics, run_dirs, train_here

SIGNAL = {"input_shape": (1, 40), "num_classes": 10}  # MNIST-1D
TEXT = {"vocab_size": 60, "context": 64}


def test_a_linear_layer_costs_two_flops_per_weight_and_its_training_step_twice_that():
    """Forward: one multiply-add (2 FLOPs) per weight and sample. Training step: the forward again (train
    mode) plus the weights' gradient, another 2 x in x out; the input is data, so it gets no gradient."""
    counted = count_flops(nn.Linear(40, 10), torch.zeros(2, 40))
    assert counted == {"flops_forward": 2 * 40 * 10, "flops_train_step": 2 * 2 * 40 * 10}


def test_a_training_step_costs_three_forwards_less_the_first_layers():
    """Every layer after the first also passes a gradient to its input: 3 x forward - the first layer's."""
    net = nn.Sequential(nn.Linear(40, 20), nn.ReLU(), nn.Linear(20, 10))
    counted = count_flops(net, torch.zeros(2, 40))
    assert counted["flops_forward"] == 2 * (40 * 20 + 20 * 10)
    assert counted["flops_train_step"] == 3 * counted["flops_forward"] - 2 * 40 * 20


@pytest.mark.parametrize("cell, gates", [("lstm", 4), ("gru", 3)])
def test_recurrent_classifiers_are_counted_step_by_step(cell, gates):
    """oneDNN's fused LSTM counts 0 FLOPs under FlopCounterMode: the count must see every gate's products.
    Bidirectional, hidden 64, 40 steps of 1 feature (no convolution before: stem=0), every step's outputs into
    the linear head."""
    net = models.build("rnn", SIGNAL, "classification", cell=cell, stem=0)
    hidden, steps, directions = 64, 40, 2
    recurrence = gates * (2 * 1 * hidden + 2 * hidden * hidden) * steps * directions
    head = 2 * (directions * hidden * steps) * 10
    assert count_flops(net, Classification.example_input(SIGNAL))["flops_forward"] == recurrence + head


def test_the_transformer_counts_its_attention_in_eval_mode_as_in_training():
    """nn.MultiheadAttention's eval fast path counts 0 FLOPs, the CPU flash kernel of attention too. With
    both counted, the training step is 3 x the eval forward less the patch embedding's (the first layer: no
    convolution before it, stem=0)."""
    net = models.build("transformer", SIGNAL, "classification", depth=4, stem=0)
    counted = count_flops(net, Classification.example_input(SIGNAL))
    dim, tokens, patch = 64, 10, 4
    attention = 4 * 2 * (2 * tokens * tokens * dim)  # 4 blocks, scores and weighted sum
    assert counted["flops_forward"] > attention
    patch_embed = 2 * patch * dim * tokens
    assert counted["flops_train_step"] == 3 * counted["flops_forward"] - patch_embed


@pytest.mark.parametrize(
    "task, inputs, example",
    [("classification", SIGNAL, Classification.example_input), ("language_model", TEXT, LanguageModel.example_input)],
)
@pytest.mark.parametrize("model", ["linear", "mlp", "cnn", "rnn", "transformer"])
def test_every_family_is_counted_and_its_network_left_as_it_was(task, inputs, example, model):
    net = models.build(model, inputs, task)
    before = {key: value.clone() for key, value in net.state_dict().items()}
    rng = torch.get_rng_state()
    counted = count_flops(net, example(inputs))
    if (model, task) == ("linear", "language_model"):  # the bigram table: a lookup, no arithmetic
        assert counted == {"flops_forward": 0, "flops_train_step": 0}
    else:
        assert 0 < counted["flops_forward"] < counted["flops_train_step"]
    assert torch.equal(torch.get_rng_state(), rng) and net.training
    assert all(torch.equal(before[key], value) for key, value in net.state_dict().items())  # batch-norm stats too


@pytest.fixture(scope="module")
def runs(tmp_path_factory, data_dir):
    """A tiny multirun of the CNN and the MLP with every view, and the CNN again with every view
    off: each run's folder and its TensorBoard events, by name."""
    on, off = tmp_path_factory.mktemp("views_on"), tmp_path_factory.mktemp("views_off")
    result = command_here(cli.main, "-m", "model=cnn,mlp", *TINY, f"paths.log_dir={on}", f"paths.data_dir={data_dir}")
    assert result.returncode == 0, result.stderr[-3000:]
    train_here(
        "model=cnn",
        "callbacks.compute_cost=null",
        "task.views=null",
        *TINY,  # every view off
        log_dir=off,
        data_dir=data_dir,
    )
    found = {}
    for name, log_dir, model in (("cnn", on, "cnn"), ("mlp", on, "mlp"), ("cnn_off", off, "cnn")):
        [run_dir] = [run for run in run_dirs(log_dir) if read_metrics(run)["model"] == model]
        [events] = (log_dir / "tensorboard" / "mnist1d" / model).iterdir()
        found[name] = {
            "run": run_dir,
            "metrics": read_metrics(run_dir),
            "events": EventAccumulator(str(events), size_guidance={"images": 0, "scalars": 0}).Reload(),
        }
    return found | {"log_dir": on}


@pytest.mark.slow
def test_a_run_records_its_flops_and_latency(runs):
    measured = runs["cnn"]["metrics"]["measured"]
    expected = count_flops(models.build("cnn", SIGNAL, "classification"), Classification.example_input(SIGNAL))
    assert measured["flops_forward"] == expected["flops_forward"] > 1e6  # 2.06M for the default CNN
    assert measured["flops_train_step"] == expected["flops_train_step"]
    assert measured["latency_ms"] > 0
    scalars = runs["cnn"]["events"]
    for name in ("flops_forward", "flops_train_step", "latency_ms"):  # the HPARAMS row's metrics
        assert scalars.Scalars(f"zoo/{name}")[-1].value == pytest.approx(measured[name], rel=1e-6)


@pytest.mark.slow
def test_the_views_leave_training_as_it_was(runs):
    with_views, without = runs["cnn"]["metrics"], runs["cnn_off"]["metrics"]
    assert without["measured"] == {}
    for key in Classification.final_metrics():
        assert with_views[key] == without[key], key


@pytest.mark.slow
def test_the_cnn_shows_its_filters_and_feature_maps_and_the_mlp_shows_none(runs):
    images = runs["cnn"]["events"]
    for tag, wide in (("hierarchy/filters", True), ("hierarchy/feature_maps", False)):
        image = imread(io.BytesIO(images.Images(tag)[-1].encoded_image_string))
        height, width = image.shape[:2]
        assert (width > 4 * height) == wide, (tag, image.shape)  # 16 filters in a row; 4 panels stacked
        assert image[..., :3].std() > 0.05  # drawn, not blank
    assert images.Images("hierarchy/filters")[-1].step == 8  # the end of training: 2 epochs of 4 batches
    assert not [tag for tag in runs["mlp"]["events"].Tags()["images"] if tag.startswith("hierarchy/")]
    assert not [tag for tag in runs["cnn_off"]["events"].Tags()["images"] if tag.startswith("hierarchy/")]


@pytest.mark.slow
def test_zoo_compare_shows_flops_per_sample_and_draws_score_against_cost(runs, tmp_path, capsys):
    assert compare.main(["--logdir", str(runs["log_dir"]), "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "FLOPs/sample" in printed
    flops = {model: si(runs[model]["metrics"]["measured"]["flops_forward"]) for model in ("cnn", "mlp")}
    assert flops["cnn"] == "2.06M"
    for model, shown in flops.items():
        assert any(
            line.split("│")[2].strip() == model and shown in line
            for line in printed.splitlines()
            if line.count("│") > 3
        ), (model, shown, printed)
    figure = imread(tmp_path / "cost.png")
    assert figure.shape[0] > 100 and figure[..., :3].std() > 0.05


@pytest.mark.slow
@pytest.mark.parametrize("input_shape", [(1, 40), (3, 16, 16)])
def test_the_hierarchy_figures_draw_1d_and_2d_networks_and_leave_them_as_they_were(input_shape):
    """For the notebook: plain functions of a network and a data module, in eval mode without changing the
    network's mode, its batch-norm statistics or the random numbers."""
    from types import SimpleNamespace

    from zoo.views.hierarchy import feature_maps, feature_maps_figure, filters_figure

    net = models.build("cnn", {"input_shape": input_shape, "num_classes": 10}, "classification").train()
    data = SimpleNamespace(
        splits={"test": (torch.randn(4, *input_shape), torch.arange(4))},
        class_names=[str(digit) for digit in range(10)],
        normalization=None,
        pixel_max=None,
    )
    before = {key: value.clone() for key, value in net.state_dict().items()}
    rng = torch.get_rng_state()
    maps = feature_maps(net, data.splits["test"][0][:1])
    # The stem at full resolution, then each block's channels double up to 64 and its positions halve
    assert [fmap.shape[0] for fmap in maps] == [32, 32, 64, 64, 64]
    assert [fmap.shape[1] for fmap in maps] == [input_shape[1] // 2**i for i in range(5)]
    for figure in (filters_figure(net), feature_maps_figure(net, data)):
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=40)
        assert imread(io.BytesIO(buffer.getvalue()))[..., :3].std() > 0.05
    assert torch.equal(torch.get_rng_state(), rng) and net.training
    assert all(torch.equal(before[key], value) for key, value in net.state_dict().items())
