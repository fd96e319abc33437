"""data=images: a user's own folder of class subfolders, as real folders are (mixed formats, sizes and modes, hidden
and stray files, a damaged file), trained by every family through train.py, then zoo-predict on new images."""

import csv
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import zoo.export.command
import zoo.inference.predict
import zoo.training.command
from zoo.data.images import ImageFolder
from zoo.errors import ZooError

from conftest import TINY, command_here, read_metrics, run_dirs, train_cli, train_here, train_py
from own_data import CLASSES, picture, write_folder

FAMILIES = ["linear", "mlp", "cnn", "rnn", "transformer"]
TWO_PROCESSES = ["trainer=cpu", "trainer.devices=2", "trainer.strategy=ddp_spawn"]


@pytest.fixture(scope="module")
def pets(tmp_path_factory):
    return write_folder(tmp_path_factory.mktemp("photos") / "pets")


@pytest.fixture(scope="module")
def runs(tmp_path_factory, data_dir, pets):
    """Every family, one multirun, on the folder."""
    log_dir = tmp_path_factory.mktemp("runs")
    result = train_cli(
        "-m",
        f"model={','.join(FAMILIES)}",
        "data=images",
        f"data.path={pets}",
        *TINY,
        "task.views.robustness=null",
        "task.views.saliency=null",
        "task.views.feature_maps=null",
        log_dir=log_dir,
        data_dir=data_dir,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    found = {read_metrics(run)["model"]: run for run in run_dirs(log_dir)}
    assert sorted(found) == sorted(FAMILIES)
    return found, result.stdout, log_dir


@pytest.mark.slow
def test_every_family_trains_on_a_messy_folder(runs):
    found, stdout, _ = runs
    assert "zoo: data=images: 36 images of 3 classes (cat, dog, fox)" in stdout
    assert "3x32x32" in stdout  # colour images among them: RGB
    assert "ignored 3 files that are not images (.DS_Store, notes.txt, Thumbs.db)" in stdout
    for family, run in found.items():
        metrics = read_metrics(run)
        assert metrics["status"] == "finished" and metrics["data"] == "images", family
        assert metrics["samples"] == {
            "train": 30,
            "val": 3,
            "test": 3,
        }  # of each class of 12: 10% test, 10% of the rest val


@pytest.mark.slow
def test_every_files_split_is_recorded_and_stratified(runs, pets):
    run = runs[0]["cnn"]
    with open(run / "splits.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    images = sorted(
        str(path.relative_to(pets))
        for path in pets.rglob("*.*")
        if path.suffix in (".png", ".jpg", ".bmp", ".webp", ".gif")
    )
    assert sorted(row["file"] for row in rows) == images
    for name in CLASSES:
        splits = [row["split"] for row in rows if row["class"] == name]
        assert (splits.count("train"), splits.count("val"), splits.count("test")) == (10, 1, 1)
    # The same seed draws the same splits: every family's run has the same file.
    assert all((other / "splits.csv").read_text() == (run / "splits.csv").read_text() for other in runs[0].values())


@pytest.mark.slow
def test_class_names_show_in_the_confusion_matrix_predictions_and_model_card(runs, tmp_path):
    run = runs[0]["cnn"]
    # The TensorBoard run is named after the folder (pets), not the kind of data (images).
    [folder] = {path.parent for path in (runs[2] / "tensorboard" / "pets" / "cnn").rglob("events.out.tfevents.*")}
    events = EventAccumulator(str(folder), size_guidance={"images": 0}).Reload()
    assert "test/confusion_matrix" in events.Tags()["images"]
    result = command_here(zoo.export.command.main, f"ckpt={run}", "format=safetensors", f"output={tmp_path / 'shared'}")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "| classes | cat, dog, fox |" in (tmp_path / "shared" / "README.md").read_text()


@pytest.mark.slow
def test_zoo_predict_reads_new_images_of_any_size_and_mode(runs, tmp_path):
    new = tmp_path / "new"
    new.mkdir()
    rng = np.random.default_rng(7)
    for i, (mode, size) in enumerate([("RGB", (200, 90)), ("L", (5, 9)), ("RGBA", (33, 33)), ("I;16", (64, 48))]):
        picture(rng, CLASSES["dog"], *size, mode).save(new / f"photo_{i}.png")
    picture(rng, CLASSES["cat"], 40, 40, "RGB").save(new / "photo_4.webp")
    (new / ".hidden.png").write_bytes(b"not read")
    result = command_here(zoo.inference.predict.main, f"ckpt={runs[0]['cnn']}", f"input={new}")
    assert result.returncode == 0, result.stderr[-2000:]
    with open(tmp_path / "new_predictions.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    assert [row["file"] for row in rows] == [f"photo_{i}.png" for i in range(4)] + ["photo_4.webp"]
    assert list(rows[0]) == ["file", "predicted_index", "predicted", "cat", "dog", "fox"]
    assert all(abs(sum(float(row[name]) for name in CLASSES) - 1) < 1e-4 for row in rows)


@pytest.mark.slow
def test_the_folders_own_train_val_test_folders_are_its_splits(tmp_path, data_dir):
    root = tmp_path / "given"
    write_folder(root / "train", per_class=6)
    write_folder(root / "test", per_class=2, seed=1)
    for stray in (root / "train" / ".DS_Store", root / "test" / ".DS_Store"):
        stray.unlink()
    result = train_here(
        "data=images",
        f"data.path={root}",
        "model=linear",
        *TINY,
        "task.views=null",
        "logger=none",
        log_dir=tmp_path / "logs",
        data_dir=data_dir,
    )
    assert result["status"] == "finished"
    [run] = run_dirs(tmp_path / "logs")
    assert Path(result["run_dir"]) == run
    with open(run / "splits.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    assert {row["split"] for row in rows if row["file"].startswith("test/")} == {"test"}
    # No val/ folder: validation is carved from train/, one image of each class of 6.
    assert sorted(row["file"].split("/")[0] for row in rows if row["split"] == "val") == ["train"] * 3
    assert read_metrics(run)["samples"] == {"train": 15, "val": 3, "test": 6}


STREAMED = {  # what each guarantee compares: (the run in memory, the same run streamed), as overrides
    "by DataLoader workers": (["data.in_memory=true"], ["data.in_memory=false", "data.num_workers=2"]),
    "in this process": (["data.in_memory=true"], ["data.in_memory=false", "data.num_workers=0"]),
    "on two processes": (["data.in_memory=true", *TWO_PROCESSES], ["data.in_memory=false", *TWO_PROCESSES]),
}


def the_run(pets, *overrides, views=False):
    return [
        "data=images",
        f"data.path={pets}",
        "model=cnn",
        *TINY,
        "data.augment={crop_padding:2,flip:true}",
        "scheduler=constant",
        *([] if views else ["task.views=null"]),
        "logger=none",
        *overrides,
    ]


def metrics_of(tmp_path, data_dir, pets, name, *overrides, views=False):
    """The run trained in this process (DataLoader workers, if any, are processes of their own)."""
    result = train_cli(*the_run(pets, *overrides, views=views), log_dir=tmp_path / name, data_dir=data_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout, read_metrics(run_dirs(tmp_path / name)[0])


def metrics_on_two_processes(tmp_path, data_dir, pets, in_memory, from_disk):
    """Both runs, each on two ddp_spawn processes, as the two jobs of one train.py multirun started as a process of
    its own: the same runs as two train.py commands, with one start of Python, torch and Lightning fewer."""
    shared = [setting for setting in in_memory if setting in from_disk]
    [memory_setting], [disk_setting] = (sorted(set(settings) - set(shared)) for settings in (in_memory, from_disk))
    sweep = f"data.in_memory={memory_setting.split('=')[1]},{disk_setting.split('=')[1]}"
    result = train_py("-m", *the_run(pets, sweep, *shared), log_dir=tmp_path / "both", data_dir=data_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    # Each job's overrides as Hydra recorded them (a swept value as YAML reads it: data.in_memory=True).
    jobs = {
        run: [override.lower() for override in yaml.safe_load((run / ".hydra" / "overrides.yaml").read_text())]
        for run in run_dirs(tmp_path)
    }
    [memory_run] = [run for run, overrides in jobs.items() if memory_setting in overrides]
    [disk_run] = [run for run, overrides in jobs.items() if disk_setting in overrides]
    return result.stdout, read_metrics(memory_run), read_metrics(disk_run)


@pytest.mark.slow
@pytest.mark.parametrize("streamed", STREAMED)
def test_streamed_from_disk_the_run_is_the_run_in_memory(streamed, tmp_path, data_dir, pets):
    """data.in_memory=false reads each batch from the decoded cache; with augmentation on, it trains on the same
    batches (each of two processes its own share of each) and ends with the same metrics."""
    in_memory, from_disk = STREAMED[streamed]
    # In this process, the views too: streamed, they read the splits from disk a batch at a time (FirstSamples).
    views = streamed == "in this process"
    if streamed == "on two processes":
        stdout, expected, got = metrics_on_two_processes(tmp_path, data_dir, pets, in_memory, from_disk)
    else:
        _, expected = metrics_of(tmp_path, data_dir, pets, "memory", *in_memory, views=views)
        stdout, got = metrics_of(tmp_path, data_dir, pets, "disk", *from_disk, views=views)
    assert "streamed from" in stdout and ("2 workers" in stdout) == ("data.num_workers=2" in from_disk)
    for key in ("train/loss", "val/loss", "test/loss", "test/acc"):
        assert got[key] == pytest.approx(expected[key], abs=1e-6), key
    for key in ("eval_train_acc", "noise_acc_0.5", "fgsm_acc_0.1") if views else ():
        assert got["measured"][key] == pytest.approx(expected["measured"][key], abs=1e-6), key


@pytest.mark.slow
def test_a_streamed_run_resumed_sees_the_batches_it_would_have_seen(tmp_path, data_dir, pets):
    _, whole = metrics_of(tmp_path, data_dir, pets, "whole", "data.in_memory=false", "trainer.max_epochs=2")
    metrics_of(tmp_path, data_dir, pets, "halves", "data.in_memory=false", "trainer.max_epochs=1")
    [run] = run_dirs(tmp_path / "halves")
    result = train_cli(f"resume={run}", "trainer.max_epochs=2", log_dir=tmp_path / "halves", data_dir=data_dir)
    assert result.returncode == 0 and "resuming from step" in result.stdout, result.stderr[-3000:]
    resumed = read_metrics(run)
    for key in ("train/loss", "val/loss", "test/loss", "test/acc"):
        assert resumed[key] == pytest.approx(whole[key], abs=1e-6), key


def folder_with(tmp_path, change) -> str:
    root = write_folder(tmp_path / "case", per_class=4)
    change(root)
    return str(root)


def truncate(path):
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])


BAD_FOLDERS = {
    "missing": (
        lambda tmp: str(tmp / "nowhere"),
        "does not exist; give a folder with one subfolder of images per class",
    ),
    "no class folders": (lambda tmp: str((tmp / "flat").mkdir() or tmp / "flat"), "holds no class folders"),
    "no images": (
        lambda tmp: folder_with(
            tmp,
            lambda root: [
                shutil.rmtree(root / name) or (root / name).mkdir() or (root / name / "a.txt").write_text("x")
                for name in CLASSES
            ],
        ),
        "holds no images (.png .jpg .jpeg .bmp .webp .gif) in its class folders",
    ),
    "one class": (
        lambda tmp: folder_with(tmp, lambda root: [shutil.rmtree(root / name) for name in ("dog", "fox")]),
        "holds one class (cat); a classifier needs at least two class folders",
    ),
    "empty class": (
        lambda tmp: folder_with(tmp, lambda root: (root / "owl").mkdir()),
        "the class folder owl holds no images; add some or remove the folder",
    ),
}


@pytest.mark.parametrize("case", BAD_FOLDERS)
def test_a_bad_folder_is_one_line_naming_it(case, tmp_path):
    make, message = BAD_FOLDERS[case]
    with pytest.raises(ZooError, match=re.escape(message)) as raised:
        ImageFolder(name="images", data_dir=str(tmp_path / "data"), path=make(tmp_path))
    assert "\n" not in str(raised.value)


@pytest.mark.slow
def test_a_damaged_image_stops_the_run_before_training_or_is_skipped_and_listed(tmp_path, data_dir):
    root = write_folder(tmp_path / "pets", per_class=6)
    truncate(root / "dog" / "dog_0.png")
    (root / "fox" / "fox_1.jpg").write_text("this is not a JPEG")
    # train.py in a process of its own: its exit status and its single line on stderr, end to end.
    result = train_py(
        "data=images", f"data.path={root}", "model=linear", *TINY, log_dir=tmp_path / "logs", data_dir=data_dir
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert "2 image files cannot be read: dog/dog_0.png (image file is truncated)" in line
    assert "fox/fox_1.jpg" in line and "data.skip_bad_files=true" in line
    assert "zoo: training" not in result.stdout

    result = train_cli(
        "data=images",
        f"data.path={root}",
        "model=linear",
        *TINY,
        "data.skip_bad_files=true",
        "task.views=null",
        log_dir=tmp_path / "logs",
        data_dir=data_dir,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "skipped 2 unreadable image files (dog/dog_0.png, fox/fox_1.jpg)" in result.stdout
    [run] = run_dirs(tmp_path / "logs")
    with open(run / "splits.csv", newline="") as file:
        skipped = {row["file"]: row["reason"] for row in csv.DictReader(file) if row["split"] == "skipped"}
    assert sorted(skipped) == ["dog/dog_0.png", "fox/fox_1.jpg"] and "truncated" in skipped["dog/dog_0.png"]
    assert sum(read_metrics(run)["samples"].values()) == 16


def test_channels_follow_the_images_unless_given(tmp_path):
    gray = tmp_path / "gray"
    for name in ("a", "b"):
        (gray / name).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(np.full((9, 9), 40 * i, np.uint8)).save(gray / name / f"{i}.png")
    data = ImageFolder(name="images", data_dir=str(tmp_path / "data"), path=str(gray), size=8)
    assert data.input_shape == (1, 8, 8) and data.class_names == ["a", "b"]
    data = ImageFolder(name="images", data_dir=str(tmp_path / "data"), path=str(gray), size=8, channels=3)
    assert data.input_shape == (3, 8, 8)
    with pytest.raises(ZooError, match=r"data\.channels=2 must be 1"):
        ImageFolder(name="images", data_dir=str(tmp_path / "data"), path=str(gray), channels=2)
    assert json.loads(next((tmp_path / "data" / "images").rglob("colour.json")).read_text()) == {"colour": False}


def test_a_streamed_split_reads_as_the_split_in_memory_slices(tmp_path, pets):
    """What the views read of a streamed run's splits (FirstSamples): each slice read from disk when taken, the same
    values as the split held in memory; the run holds the classes alone, not the inputs."""
    folders = {
        in_memory: ImageFolder(
            name="images", data_dir=str(tmp_path / "data"), path=str(pets), size=8, in_memory=in_memory
        )
        for in_memory in (True, False)
    }
    for data in folders.values():
        data.setup()
    for split in ("train", "test"):
        (memory, memory_y), (disk, disk_y) = (folders[in_memory].splits[split] for in_memory in (True, False))
        assert torch.is_tensor(memory) and not torch.is_tensor(disk) and torch.equal(memory_y, disk_y)
        assert len(disk) == len(memory) and disk.shape == memory.shape and disk.dim() == 4
        for key in (slice(1, 4), slice(None, 2), [2, 0], torch.tensor([2, 1]), 1):
            assert torch.equal(disk[key], memory[key]), key
