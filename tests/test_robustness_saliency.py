"""Brittleness (accuracy under noise and FGSM) and saliency (integrated gradients): the plain functions on
briefly trained networks of every family, and what one real run shows in TensorBoard and metrics.json."""

import io

import numpy
import pytest
import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from zoo import models
from zoo.data.mnist1d import MNIST1D
from zoo.errors import ZooError
from zoo.training.build import build_named
from zoo.views.robustness import Robustness, accuracy_under_noise, fgsm_accuracy
from zoo.views.saliency import Saliency, integrated_gradients

from conftest import TINY, read_metrics, run_dirs, train_here


@pytest.fixture(scope="module")
def mnist1d(data_dir):
    datamodule = MNIST1D(name="mnist1d", data_dir=data_dir)
    datamodule.prepare_data()
    datamodule.setup()
    return datamodule


def briefly_trained(name: str, datamodule, steps: int = 40) -> torch.nn.Module:
    torch.manual_seed(0)
    small = {} if name == "linear" else {"dim": 16, "depth": 1}  # seconds, not minutes, on a CPU
    net = models.build(name, datamodule.model_inputs, **small)
    optimizer = torch.optim.Adam(net.parameters(), lr=3e-3)
    inputs, targets = datamodule.splits["train"]
    for step in range(steps):
        batch = slice(step * 64 % 3500, step * 64 % 3500 + 64)
        optimizer.zero_grad()
        F.cross_entropy(net(inputs[batch]), targets[batch]).backward()
        optimizer.step()
    return net.eval()


@pytest.fixture
def one_thread():
    """Nets this small run faster on one thread than on two that wait on each other (minutes on a busy CPU)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("name", models.list_models())
def test_fgsm_and_noise_lower_the_accuracy_of_every_family(name, mnist1d, one_thread):
    net = briefly_trained(name, mnist1d)
    inputs, targets = (part[:300] for part in mnist1d.splits["test"])
    with torch.no_grad():
        clean = (net(inputs).argmax(dim=1) == targets).float().mean().item()
    assert clean > 0.2  # above chance (0.1), so there is something to lose
    fgsm = fgsm_accuracy(net, inputs, targets, [0.0, 0.3], batch_size=100)
    noise = accuracy_under_noise(net, inputs, targets, [0.0, 2.0], batch_size=100)
    assert fgsm[0] == pytest.approx(clean, abs=1e-6) and noise[0] == pytest.approx(clean, abs=1e-6)
    assert fgsm[1] < clean - 0.05 and noise[1] < clean
    assert not net.training  # left in the mode it was in
    assert noise == accuracy_under_noise(net, inputs, targets, [0.0, 2.0], batch_size=100)  # seeded


def test_integrated_gradients_are_complete(mnist1d):
    """Attributions add up to logit(x) - logit(baseline): exactly for a linear model, up to the error of
    the path's average for a deep one."""
    inputs = mnist1d.splits["test"][0][:4]
    for name, steps, tolerance in (("linear", 2, 1e-4), ("cnn", 256, 0.02)):
        torch.manual_seed(0)
        net = models.build(name, mnist1d.model_inputs).eval()
        classes = net(inputs).argmax(dim=1)
        attributions = integrated_gradients(net, inputs, classes, steps=steps)
        with torch.no_grad():
            gain = (net(inputs) - net(torch.zeros_like(inputs))).gather(1, classes[:, None]).flatten()
        assert attributions.shape == inputs.shape
        sums = attributions.flatten(1).sum(dim=1)
        assert torch.allclose(sums, gain, rtol=tolerance, atol=1e-4), (name, sums, gain)


def test_robustness_settings_that_cannot_work_name_the_key(compose_config):
    with pytest.raises(ZooError, match=r"reference_fgsm=0.3 is not one of fgsm=\[0, 0.1\]"):
        Robustness(fgsm=[0, 0.1], reference_fgsm=0.3)
    with pytest.raises(ZooError, match=r"noise=\[0, 0.001\]: give sizes that differ by at least 0.01"):
        Robustness(noise=[0, 0.001], reference_noise=0)
    # as train() builds the task's views: the view's one line under its whole key, not Hydra's multi-line report
    cfg = compose_config("task.views.robustness.noise=[0,-1]", "task.views.robustness.reference_noise=0")
    with pytest.raises(ZooError, match=r"^task.views.robustness.noise=\[0, -1\] must be a list") as error:
        build_named("task.views", cfg.task.views)
    assert "\n" not in str(error.value)


def test_task_views_robustness_null_switches_it_off(compose_config):
    def views(*overrides):
        cfg = compose_config(*overrides)
        return [type(view) for view in instantiate(cfg.task.views, _convert_="all").values() if view is not None]

    assert {Robustness, Saliency} <= set(views())
    assert Robustness not in views("task.views.robustness=null") and Saliency in views("task.views.robustness=null")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, data_dir):
    log_dir = tmp_path_factory.mktemp("logs")
    result = train_here("model=cnn", *TINY, log_dir=log_dir, data_dir=data_dir)
    [run_dir] = run_dirs(log_dir)
    assert str(run_dir) == result["run_dir"]
    [events_dir] = {path.parent for path in (log_dir / "tensorboard").rglob("events.out.tfevents.*")}
    events = EventAccumulator(str(events_dir), size_guidance={"scalars": 0, "images": 0}).Reload()
    return read_metrics(run_dir), events


@pytest.mark.slow
def test_a_run_logs_both_curves_against_the_size_in_hundredths(tiny_run):
    metrics, events = tiny_run
    noise = {event.step: event.value for event in events.Scalars("zoo/robust/noise_acc")}
    fgsm = {event.step: event.value for event in events.Scalars("zoo/robust/fgsm_acc")}
    assert sorted(noise) == [0, 10, 25, 50, 100] and sorted(fgsm) == [0, 1, 2, 5, 10, 20]
    assert noise[0] == fgsm[0] == metrics["test/acc"]  # size 0 is the test exactly
    assert fgsm[20] < fgsm[0] and noise[100] < noise[0]
    robust = {"noise_acc_0.5": noise[50], "fgsm_acc_0.1": fgsm[10]}
    assert {name: metrics["measured"][name] for name in robust} == pytest.approx(robust)
    for name in robust:  # the HPARAMS row's metrics
        assert events.Scalars(f"zoo/{name}")[-1].value == pytest.approx(metrics["measured"][name])


@pytest.mark.slow
@pytest.mark.parametrize("tag", ["robust/accuracy", "robust/adversarial_examples", "saliency/examples"])
def test_a_run_shows_the_figures(tiny_run, tag):
    _, events = tiny_run
    image = Image.open(io.BytesIO(events.Images(tag)[-1].encoded_image_string))
    assert image.width > 300 and image.height > 250
    assert len(numpy.unique(numpy.asarray(image.convert("L")))) > 20  # drawn, not blank
