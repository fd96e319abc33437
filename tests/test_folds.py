"""Cross-validation folds (`data.folds=K data.fold=i`) of a table and of an image folder: scikit-learn's splitters,
every sample tested exactly once, class proportions kept, validation drawn from each fold's training part alone, and
every row's split recorded in the run folder. Fast: the data modules are read, nothing trains."""

import csv
import re

import pytest
import torch
from sklearn.datasets import load_breast_cancer, load_diabetes

from zoo.data.image_folder import RUN_SPLITS
from zoo.data.images import ImageFolder
from zoo.data.splits import Folds
from zoo.data.table import Table
from zoo.errors import ZooError

from own_data import write_folder


@pytest.fixture(scope="module")
def cancer(tmp_path_factory):
    path = tmp_path_factory.mktemp("tables") / "cancer.csv"
    load_breast_cancer(as_frame=True).frame.to_csv(path, index=False)
    return path


def table(path, target="target", **settings) -> Table:
    data = Table(name="table", data_dir=str(path.parent), path=str(path), target=target, **settings)
    data.read()
    return data


def assert_partition(fold_positions: list[dict], size: int) -> None:
    """Each fold's train, val and test are disjoint and together every sample; the test folds together are every
    sample, each once."""
    for positions in fold_positions:
        train, val, test = (set(positions[split].tolist()) for split in ("train", "val", "test"))
        assert not (train & val or train & test or val & test)
        assert train | val | test == set(range(size))
    tested = sorted(i for positions in fold_positions for i in positions["test"].tolist())
    assert tested == list(range(size))


def test_the_folds_of_a_table_test_every_row_once_and_keep_the_class_proportions(cancer):
    folds = [table(cancer, folds=5, fold=i) for i in range(5)]
    assert_partition([data.positions for data in folds], 569)
    labels = folds[0].y
    share = labels.float().mean().item()  # 357 of 569 are class 1
    for data in folds:
        test = labels[data.positions["test"]]
        assert len(test) in (113, 114)
        # StratifiedKFold: each fold holds each class's count / K, to within one sample
        assert abs(test.sum().item() - share * len(test)) <= 1
        val = labels[data.positions["val"]]
        assert abs(len(val) - 0.1 * (569 - len(test))) <= 1  # validation: 10% of the fold's training part
    # The same folds in every run: they depend on the split seed alone, not on the run's seed.
    again = table(cancer, folds=5, fold=3, seed=7)
    assert torch.equal(again.positions["test"], folds[3].positions["test"])


def test_regression_folds_are_plain_k_fold_and_repeats_reshuffle(tmp_path):
    path = tmp_path / "diabetes.csv"
    load_diabetes(as_frame=True).frame.to_csv(path, index=False)
    folds = [table(path, folds=3, repeats=2, fold=i) for i in range(6)]
    assert folds[0].task == "regression"
    # Each repeat tests every row once, and the second repeat is another shuffle.
    assert_partition([data.positions for data in folds[:3]], 442)
    assert_partition([data.positions for data in folds[3:]], 442)
    assert not torch.equal(folds[0].positions["test"], folds[3].positions["test"])
    assert "fold 2 of 3, repeat 2 of 2" in Folds(3, 4, 2).name


def test_scikit_learn_draws_the_folds(cancer):
    """The test folds are those of RepeatedStratifiedKFold with the split seed: no home-made splitter."""
    from sklearn.model_selection import RepeatedStratifiedKFold

    data = table(cancer, folds=4, fold=2)
    splits = RepeatedStratifiedKFold(n_splits=4, n_repeats=1, random_state=0).split(data.y.numpy(), data.y.numpy())
    expected = list(splits)[2][1]
    assert data.positions["test"].tolist() == sorted(expected.tolist())


def test_every_rows_split_is_written_to_the_run_folder(cancer, tmp_path, capsys):
    data = table(cancer, folds=5, fold=1)
    data.write_run_files(tmp_path)
    assert "rows: train 409, val 46, test 114 (fold 2 of 5)" in capsys.readouterr().out
    with open(tmp_path / "splits.csv") as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == 569
    written = {split: sorted(int(row["row"]) for row in rows if row["split"] == split) for split in ("train", "val")}
    assert written["train"] == data.positions["train"].tolist() and written["val"] == data.positions["val"].tolist()
    assert [int(row["row"]) for row in rows if row["split"] == "test"] == data.positions["test"].tolist()


def test_the_folds_of_an_image_folder_are_stratified_and_recorded(tmp_path):
    folder = write_folder(tmp_path / "pets", per_class=10)
    plans = []
    for fold in range(3):
        images = ImageFolder(name="images", data_dir=str(tmp_path / "cache"), path=str(folder), folds=3, fold=fold)
        images.plan()
        plans.append(images.indices)
        for split, kept in images.indices.items():
            assert {RUN_SPLITS[code] for code in images.split_codes[kept.numpy()]} == {split}  # what splits.csv says
        assert torch.bincount(images.labels[images.indices["test"]]).tolist() in ([4, 3, 3], [3, 4, 3], [3, 3, 4])
    assert_partition(plans, 30)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"folds": 1}, "data.folds=1 must be an integer of at least 2 (or null: one test split)"),
        ({"folds": 5, "fold": 5}, "data.fold=5 must be one of 0 to 4: data.folds=5 test folds, e.g. 'data.fold=range"),
        ({"folds": 3, "repeats": 0}, "data.repeats=0 must be an integer of at least 1"),
    ],
)
def test_a_bad_fold_setting_is_one_line(cancer, settings, message):
    with pytest.raises(ZooError, match=re.escape(message)):
        table(cancer, **settings)


def test_folds_refuse_a_folder_with_its_own_splits(tmp_path):
    root = tmp_path / "given"
    write_folder(root / "train", per_class=4)
    write_folder(root / "test", per_class=2, seed=1)
    images = ImageFolder(name="images", data_dir=str(tmp_path / "cache"), path=str(root), folds=3)
    with pytest.raises(ZooError, match=r"has its own split folders \(train/, test/\); folds are drawn from class"):
        images.plan()
