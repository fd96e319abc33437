"""data=toy (Playground's 2-D data) and the decision_boundary view: the shapes' labels, seeded points, the
features, the one-line refusals, and a real run whose boundary images show in TensorBoard and zoo-compare."""

import io
import math

import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from matplotlib.image import imread
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from zoo.compare.command import main as compare_main
from zoo.data.toy import Toy
from zoo.errors import ZooError
from zoo.inference.restore import restore
from zoo.training.build import build_network, instantiate_checked
from zoo.views.boundary import FIRST_LAYER_TAG, OUTPUT_TAG, TESTED_TAG, compare_figure, plane_output

from conftest import read_metrics, run_dirs, train_here

# A small MLP trained long enough to draw the circle: 8 epochs of 22 batches, an image every 4 epochs.
RUN = ["data=toy", "model=mlp", "model.dim=64", "trainer.max_epochs=8"]
VIEW_EVERY_4 = "task.views.decision_boundary.every_n_epochs=4"
# The robustness and saliency figures take most of a short run's time, and nothing here looks at them.
NO_SLOW_VIEWS = ["task.views.robustness=null", "task.views.saliency=null"]


def toy(**settings) -> Toy:
    datamodule = Toy(name="toy", data_dir="unused", **settings)
    datamodule.setup()
    return datamodule


def points_and_labels(datamodule: Toy):
    splits = ("train", "val", "test")
    return (torch.cat([datamodule.points[s] for s in splits]), torch.cat([datamodule.splits[s][1] for s in splits]))


def test_circle_inside_is_its_own_class_and_noise_flips_labels_near_the_edge():
    datamodule = toy(shape="circle")
    points, labels = points_and_labels(datamodule)
    radius = points.norm(dim=1)
    assert datamodule.class_names[1] == "inside"
    assert (labels[radius < 2.5] == 1).all() and (labels[radius >= 3.5] == 0).all()
    assert ((radius < 2.5) | (radius >= 3.5)).all() and radius.max() <= 5  # the gap between disc and ring
    noisy_points, noisy_labels = points_and_labels(toy(shape="circle", noise=0.5))
    flipped = (noisy_labels != (noisy_points.norm(dim=1) < 2.5).long()).float().mean()
    assert 0.05 < flipped < 0.5


def test_xor_gauss_spiral_moons_labels():
    points, labels = points_and_labels(toy(shape="xor"))
    assert torch.equal(labels, (points[:, 0] * points[:, 1] > 0).long())
    assert points.abs().min() >= 0.3 and points.abs().max() <= 5.3  # pushed off the axes by the padding

    points, labels = points_and_labels(toy(shape="gauss"))
    assert torch.equal(labels, (points.sum(dim=1) > 0).long())  # (2,2) against (-2,-2), variance 0.5
    assert torch.allclose(points[labels == 1].mean(dim=0), torch.tensor([2.0, 2.0]), atol=0.2)

    points, labels = points_and_labels(toy(shape="spiral"))
    assert labels.float().mean() == 0.5 and points.norm(dim=1).max() <= 5
    # the two arms are the same spiral turned by half a turn: each point's mirror is near the other arm
    ones, zeros = points[labels == 1], points[labels == 0]
    assert torch.cdist(-ones, zeros).min(dim=1).values.max() < 0.1

    points, labels = points_and_labels(toy(shape="moons"))
    assert points[labels == 0, 1].mean() > points[labels == 1, 1].mean()  # class 0 is the upper moon
    assert points[:, 0].abs().max() <= 5.01 and points[:, 1].abs().max() <= 2.51


def test_same_settings_same_points_whatever_the_run_seed():
    first, again, other_run_seed = (
        toy(shape="xor", noise=0.2),
        toy(shape="xor", noise=0.2, seed=7),
        toy(shape="xor", noise=0.2, generator_seed=1),
    )
    for split in ("train", "val", "test"):
        assert torch.equal(first.points[split], again.points[split])
        assert torch.equal(first.splits[split][1], again.splits[split][1])
    assert not torch.equal(first.points["test"], other_run_seed.points["test"])
    assert first.split_sizes() == {"train": 225, "val": 25, "test": 250}  # half of 500 test, a tenth validates


def test_features_choose_the_inputs_and_points_map_to_them_as_the_splits_were_normalized():
    datamodule = toy(features=["x2", "y2", "xy", "sinx"])
    assert datamodule.input_shape == (4,) and datamodule.splits["train"][0].shape == (225, 4)
    for split in ("train", "val", "test"):
        assert torch.allclose(datamodule.inputs(datamodule.points[split]), datamodule.splits[split][0], atol=1e-5)
    raw = datamodule.features(torch.tensor([[2.0, -3.0]]))
    assert torch.allclose(raw, torch.tensor([[4.0, 9.0, -6.0, math.sin(2.0)]]))


@pytest.mark.parametrize(
    "features, message",
    [
        (
            ["x", "z"],
            "data.features: 'z' is not a feature; choose from x, y, x2 (x^2), y2 (y^2), xy, sinx (sin(x)), "
            "siny (sin(y))",
        ),
        ([], "data.features is empty"),
    ],
)
def test_an_unknown_or_missing_feature_is_refused_in_one_line(compose_config, features, message):
    cfg = compose_config("data=toy", f"data.features=[{','.join(features)}]")
    with pytest.raises(ZooError) as error:
        instantiate_checked(cfg.data)  # as train() builds it: the one line, not Hydra's instantiation report
    assert str(error.value).startswith(message) and "\n" not in str(error.value)


@pytest.mark.parametrize("model", ["cnn", "rnn", "transformer"])
def test_families_that_take_signals_or_images_refuse_the_plane_and_name_what_works(compose_config, model):
    cfg = compose_config("data=toy", f"model={model}")
    with pytest.raises(ZooError) as error:
        build_network(cfg, instantiate(cfg.data))
    message = str(error.value)
    assert message.startswith(f"model={model} on data=toy: ") and "not shape (2,)" in message
    assert message.endswith("; data=toy suits model=linear or model=mlp") and "\n" not in message


@pytest.fixture(scope="module")
def runs(tmp_path_factory, data_dir):
    """One MLP on circle with the view, the same without it (in this process)."""
    with_view, without = tmp_path_factory.mktemp("with_view"), tmp_path_factory.mktemp("without_view")
    for log_dir, view in ((with_view, VIEW_EVERY_4), (without, "task.views.decision_boundary=null")):
        train_here(*RUN, *NO_SLOW_VIEWS, view, log_dir=log_dir, data_dir=data_dir)
    return with_view, without


def boundary_images(log_dir):
    (events_dir,) = {path.parent for path in (log_dir / "tensorboard").rglob("events.out.tfevents.*")}
    return EventAccumulator(str(events_dir), size_guidance={"images": 0}).Reload()


@pytest.mark.slow
def test_the_boundary_forms_in_tensorboard_every_few_steps(runs):
    events = boundary_images(runs[0])
    assert [image.step for image in events.Images(OUTPUT_TAG)] == [88, 176]  # epochs 4 and 8 (the end)
    assert [image.step for image in events.Images(FIRST_LAYER_TAG)] == [88, 176]
    assert [image.step for image in events.Images(TESTED_TAG)] == [176]  # the best checkpoint, after testing
    picture = imread(io.BytesIO(events.Images(OUTPUT_TAG)[-1].encoded_image_string), format="png")[..., :3]
    # Playground's colours: orange (outside) and blue (inside) both fill a good part of the plane
    orange = (np.abs(picture - [0xF5 / 255, 0x93 / 255, 0x22 / 255]).max(axis=-1) < 0.1).mean()
    blue = (np.abs(picture - [0x08 / 255, 0x77 / 255, 0xBD / 255]).max(axis=-1) < 0.15).mean()
    assert orange > 0.1 and blue > 0.03


@pytest.mark.slow
def test_the_view_leaves_the_training_alone(runs):
    (with_view,), (without,) = run_dirs(runs[0]), run_dirs(runs[1])
    first, second = read_metrics(with_view), read_metrics(without)
    for key in ("train/loss", "val/loss", "test/loss", "test/acc"):
        assert first[key] == second[key], key
    assert not {OUTPUT_TAG, FIRST_LAYER_TAG, TESTED_TAG} & set(boundary_images(runs[1]).Tags()["images"])


@pytest.mark.slow
def test_the_boundary_separates_the_classes_as_the_test_accuracy_says(runs):
    (run_dir,) = run_dirs(runs[0])
    _, _, cfg, task = restore(str(run_dir))
    datamodule = instantiate(cfg.data)
    datamodule.setup()
    output = plane_output(task.net, datamodule)  # what the image shows
    low, high = datamodule.plane
    cells = ((datamodule.points["test"] - low) / (high - low) * len(output)).long().clamp(0, len(output) - 1)
    predicted = (output[cells[:, 1], cells[:, 0]] > 0.5).long()  # row: y, column: x
    grid_accuracy = (predicted == datamodule.splits["test"][1]).float().mean().item()
    test_accuracy = read_metrics(run_dir)["test/acc"]
    assert test_accuracy > 0.95 and abs(grid_accuracy - test_accuracy) <= 0.02


@pytest.mark.slow
def test_zoo_compare_draws_every_runs_final_boundary(runs, tmp_path):
    assert compare_main(["--logdir", str(runs[0]), "--out", str(tmp_path)]) == 0
    picture = imread(tmp_path / "boundaries.png")
    assert picture.shape[0] > 200 and picture.shape[1] > 200
    assert compare_figure([], tmp_path / "none") is None  # no run with a plane: no figure
