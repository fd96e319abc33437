"""data.augment: random transformations of training batches, on the batch's device, seeded by (seed, epoch,
batch), for signals (MNIST-1D) and images; off for evaluation and for the paper presets."""

import os
from unittest import mock

import pytest
import torch

from zoo.compare.command import read_run
from zoo.compare.command import run_dirs as board_runs
from zoo.data.augment import ImageAugmentation, SignalAugmentation
from zoo.data.loaders import TensorLoader
from zoo.data.mnist1d import MNIST1D
from zoo.errors import ZooError

from conftest import TINY, train_cli, train_here

SIGNALS = torch.randn(8, 1, 40, generator=torch.Generator().manual_seed(0))


def settings(count, **given):
    plain = {
        "shift": torch.zeros(count),
        "stretch": torch.ones(count),
        "amplitude": torch.ones(count),
        "shear": torch.zeros(count),
        "noise": torch.zeros(count, 1, 40),
    }
    return plain | given


def test_each_signal_transformation_does_what_its_name_says():
    augment = SignalAugmentation()
    assert torch.equal(augment.apply(SIGNALS, settings(8)), SIGNALS)
    shifted = augment.apply(SIGNALS, settings(8, shift=torch.full((8,), 3.0)))
    assert torch.allclose(shifted, SIGNALS.roll(3, dims=-1), atol=1e-6)  # circular, as mnist1d shifts
    half = augment.apply(SIGNALS, settings(8, shift=torch.full((8,), 0.5)))
    assert torch.allclose(half, (SIGNALS + SIGNALS.roll(1, dims=-1)) / 2, atol=1e-6)  # linear interpolation
    stretched = augment.apply(SIGNALS, settings(8, stretch=torch.full((8,), 2.0)))
    assert torch.allclose(stretched[..., 19:21].mean(-1), SIGNALS[..., 19:21].mean(-1), atol=1e-6)  # about the centre
    # point 17 reads 19.5 + (17 - 19.5) / 2 = 18.25
    assert torch.allclose(stretched[..., 17], 0.75 * SIGNALS[..., 18] + 0.25 * SIGNALS[..., 19], atol=1e-6)
    louder = augment.apply(SIGNALS, settings(8, amplitude=torch.full((8,), 1.5)))
    assert torch.allclose(louder, SIGNALS * 1.5, atol=1e-6)
    sheared = augment.apply(SIGNALS, settings(8, shear=torch.full((8,), 0.5)))
    assert torch.allclose(sheared - SIGNALS, torch.linspace(-0.5, 0.5, 40).expand(8, 1, 40), atol=1e-6)


def test_random_signal_settings_stay_in_their_bounds_and_depend_on_the_generator_alone():
    augment = SignalAugmentation(shift=4, stretch=0.1, amplitude=0.2, shear=0.3, noise=0.05)
    drawn = augment.draw(10_000, torch.Size([1, 40]), torch.Generator().manual_seed(1))
    assert drawn["shift"].abs().max() <= 4 and drawn["shift"].abs().max() > 3.9
    assert ((drawn["stretch"] - 1).abs() <= 0.1).all() and ((drawn["amplitude"] - 1).abs() <= 0.2).all()
    assert drawn["shear"].abs().max() <= 0.3
    assert drawn["noise"].std().item() == pytest.approx(0.05, rel=0.02)
    first, again = (augment(SIGNALS, torch.Generator().manual_seed(7), 8) for _ in range(2))
    assert torch.equal(first, again) and not torch.equal(first, augment(SIGNALS, torch.Generator().manual_seed(8), 8))


@pytest.mark.parametrize("shape", [(6, 1, 28, 28), (6, 3, 32, 32)], ids=["mnist", "cifar10"])
def test_an_image_crop_is_a_window_of_the_reflected_image_and_a_flip_mirrors_it(shape):
    images = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    augment = ImageAugmentation(crop_padding=2, flip=True)
    drawn = augment.draw(6, images.shape[1:], torch.Generator().manual_seed(3))
    out = augment.apply(images, drawn)
    assert out.shape == images.shape
    padded = torch.nn.functional.pad(images, [2] * 4, mode="reflect")
    for i in range(6):
        row, column = drawn["rows"][i], drawn["columns"][i]
        window = padded[i, :, row : row + shape[2], column : column + shape[3]]
        assert torch.equal(out[i], window.flip(-1) if drawn["flip"][i] else window)
    assert drawn["flip"].any() and not drawn["flip"].all()
    centred = {"rows": torch.full((6,), 2), "columns": torch.full((6,), 2), "flip": torch.zeros(6, dtype=torch.bool)}
    assert torch.equal(augment.apply(images, centred), images)


def test_two_processes_see_together_the_batch_one_process_sees():
    augment = SignalAugmentation(shift=4, stretch=0.1, amplitude=0.2, shear=0.3, noise=0.05)
    x, y = torch.randn(64, 1, 40), torch.arange(64)
    one = TensorLoader(x, y, 16, shuffle=True, seed=3, share=(0, 1), split_batches=True, augment=augment)
    parts = [
        TensorLoader(x, y, 16, shuffle=True, seed=3, share=(rank, 2), split_batches=True, augment=augment)
        for rank in range(2)
    ]
    for whole, first, second in zip(one, *parts, strict=False):
        assert torch.equal(whole[0], torch.cat([first[0], second[0]]))
        assert torch.equal(whole[1], torch.cat([first[1], second[1]]))


def test_batches_are_transformed_by_seed_epoch_and_batch_and_evaluation_is_not(data_dir):
    def loader(seed, epoch, augment=True):
        settings = {"shift": 4, "stretch": 0.1, "amplitude": 0.2, "shear": 0.3, "noise": 0.05}
        datamodule = MNIST1D(
            name="mnist1d", data_dir=data_dir, batch_size=32, seed=seed, augment=settings if augment else None
        )
        datamodule.setup()
        train = datamodule.train_dataloader()
        train.sampler.set_epoch(epoch)
        return datamodule, train

    def batches(seed, epoch, augment=True):
        return [x for x, _ in loader(seed, epoch, augment)[1]]

    plain, augmented = batches(0, 1, augment=False), batches(0, 1)
    assert all(a.shape == p.shape and not torch.equal(a, p) for a, p in zip(augmented, plain, strict=False))
    assert all(
        torch.equal(a, b) for a, b in zip(augmented, batches(0, 1), strict=False)
    )  # what a resumed run sees again
    assert not torch.equal(augmented[0], batches(0, 2)[0]) and not torch.equal(augmented[0], batches(1, 1)[0])
    datamodule, _ = loader(0, 1)
    assert torch.equal(next(iter(datamodule.test_dataloader()))[0], datamodule.splits["test"][0][:1024])


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"shift": -1}, "data.augment.shift=-1 is not allowed: it must be a number of points >= 0"),
        ({"stretch": 1.5}, "data.augment.stretch=1.5 is not allowed: it must be a number in [0, 1)"),
        ({"noise": "loud"}, "data.augment.noise='loud' is not allowed"),
    ],
)
def test_bad_signal_settings_are_refused(settings, message):
    with pytest.raises(ZooError, match=message.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        SignalAugmentation(**settings)


@pytest.mark.parametrize(
    "overrides, message",
    [
        (
            ["data.augment=true"],
            "error: data.augment=true is not allowed: give its settings, e.g. data.augment.shift=4, "
            "or data.augment=null for none",
        ),
        (["data.augment.shfit=2"], "error: data.augment.shfit is not a setting; did you mean data.augment.shift?"),
        (
            ["data=digits", "+data.augment.flip=true"],
            "error: data.augment.flip=true is not allowed for data=digits: a mirrored digit is not the same digit",
        ),
        (
            ["data=digits", "data.augment.crop_padding=1"],
            "error: data.augment is null here, so "
            "data.augment.crop_padding is not a setting; to give it: "
            "+data.augment.crop_padding=...",
        ),
        (["data=toy", "+data.augment.shift=2"], "error: data=toy has no random transformations: remove data.augment"),
    ],
)
@pytest.mark.slow
def test_bad_augment_settings_fail_in_one_line(tmp_path, data_dir, overrides, message):
    """train.py's main() in this process: test_errors.py runs the command end to end in a subprocess."""
    result = train_cli(*overrides, *TINY, log_dir=tmp_path, data_dir=data_dir)
    assert (result.returncode == 2 and result.stderr.strip() == message) or message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


@pytest.mark.slow
def test_augmentation_changes_training_alone_and_is_recorded(tmp_path, data_dir):
    """The same seed twice gives the same run; without augmentation training differs, validation and test
    see the same samples, and the HPARAMS row says which run was augmented."""
    common = ["model=linear", *TINY]
    runs = [
        ("on", []),
        ("again", []),
        ("off", ["data.augment=null"]),
        ("crops", ["data=digits", "+data.augment.crop_padding=1"]),
    ]
    # In this process one after another (train_here): "again" also shows that a run leaves nothing behind that
    # changes the next one.
    with mock.patch.dict(os.environ):  # Lightning's seed_everything sets PL_GLOBAL_SEED
        trained = {
            name: train_here(*common, *extra, log_dir=tmp_path / name, data_dir=data_dir) for name, extra in runs
        }
    assert all(metrics["status"] == "finished" for metrics in trained.values())
    on, again, off = (trained[name] for name in ("on", "again", "off"))
    assert on["train/loss"] == again["train/loss"] and on["test/acc"] == again["test/acc"]
    assert on["train/loss"] != off["train/loss"]
    logged = {
        name: read_run(board_runs(tmp_path / name / "tensorboard")[0], None)["hparams"]["data.augment"]
        for name in ("on", "off", "crops")
    }
    assert logged == {
        "on": "shift=4,stretch=0.1,amplitude=0.0,shear=0.3,noise=0.05",
        "off": "none",
        "crops": "crop_padding=1",
    }
