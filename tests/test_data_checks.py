"""The data can lie too: what a table or an image folder holds that would make its scores lie (rows of the test split
repeated in training, identifier-like columns, a one-feature leak, copies of test images), and a CSV saved in another
locale, each on a real file and said in a line of its own, which the run prints first and keeps in data_checks.json.
Fast: the data modules are read, nothing trains (tests/test_which.py sees the lines in a real run's output)."""

import json
import re
import shutil

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer

from zoo.data.images import ImageFolder
from zoo.data.table import Table
from zoo.errors import ZooError

from own_data import customers, write_folder


@pytest.fixture(scope="module")
def cancer() -> pd.DataFrame:
    return load_breast_cancer(as_frame=True).frame


def notes(path, target="target", **settings) -> list[str]:
    data = Table(name="table", data_dir=str(path.parent), path=str(path), target=target, **settings)
    return [note.line() for note in data.data_notes()]


def test_a_clean_table_says_nothing(cancer, tmp_path):
    cancer.to_csv(tmp_path / "cancer.csv", index=False)
    assert notes(tmp_path / "cancer.csv") == []
    assert notes(tmp_path / "cancer.csv", folds=5, fold=0) == []


def test_rows_repeated_across_the_splits_are_counted_and_dedupe_drops_them(cancer, tmp_path):
    """As an export with a bad join gives it: 200 rows, each repeated 20 times."""
    rows = cancer.head(200)
    pd.concat([rows] * 20).sample(frac=1, random_state=0).to_csv(tmp_path / "repeated.csv", index=False)
    [line] = notes(tmp_path / "repeated.csv")
    assert re.fullmatch(
        r"zoo: warning: 800 of the 800 test rows also appear, exactly, in the training rows \(the file repeats "
        r"3,800 of its 4,000 rows\): the test score counts rows the model has seen; data.dedupe=true drops "
        r"repeated rows before splitting",
        line,
    )
    deduped = Table(name="table", data_dir=".", path=str(tmp_path / "repeated.csv"), target="target", dedupe=True)
    assert [note.line() for note in deduped.data_notes()] == [
        "zoo: data.dedupe=true: left out 3,800 rows that repeat an earlier one (features and target), of 4,000, "
        "before splitting"
    ]
    assert sum(len(rows) for rows in deduped.positions.values()) == 200
    # Within folds too: each test fold of the repeated file is mostly copies of training rows.
    [line] = notes(tmp_path / "repeated.csv", folds=5, fold=2)
    assert line.startswith("zoo: warning: 800 of the 800 test rows also appear, exactly, in the training rows")


def test_an_identifier_column_and_a_counter_are_named_with_data_drop(tmp_path):
    frame = customers(rows=200)
    frame["row"] = np.arange(200)  # a counter
    frame["customer"] = np.random.default_rng(0).permutation(200) + 1000  # shuffled ids
    frame.to_csv(tmp_path / "customers.csv", index=False)
    lines = notes(tmp_path / "customers.csv", target="churn", drop=["spend"])
    assert lines == [
        "zoo: warning: column 'row' looks like an identifier (a counter: it only rises from row to row): as a "
        "feature it can only memorize rows; leave it out with data.drop=[row]",
        "zoo: warning: column 'customer' looks like an identifier (a different value in every row): as a feature "
        "it can only memorize rows; leave it out with data.drop=[customer]",
        "zoo: warning: column 'id' looks like an identifier (a different value in every row): as a feature it can "
        "only memorize rows; leave it out with data.drop=[id]",
    ]
    assert notes(tmp_path / "customers.csv", target="churn", drop=["spend", "id", "row", "customer"]) == []


def test_a_feature_that_alone_predicts_the_target_is_named(cancer, tmp_path):
    frame = cancer.copy()
    frame["diagnosis code"] = np.where(frame["target"] == 1, "B", "M")  # the target under another name
    frame.to_csv(tmp_path / "leak.csv", index=False)
    [line] = notes(tmp_path / "leak.csv")
    assert line.startswith(
        "zoo: warning: column 'diagnosis code' alone predicts the target almost perfectly on the training rows "
        "(balanced accuracy 1.000"
    )
    regression = customers(rows=300).drop(columns=["churn", "id"])
    regression["spend in cents"] = np.log(regression["spend"].clip(1)) * 100  # a monotone function of the target
    regression.to_parquet(tmp_path / "spend.parquet")
    [line] = notes(tmp_path / "spend.parquet", target="spend")
    assert "column 'spend in cents' alone predicts the target almost perfectly" in line and "R-squared" in line


def test_a_european_csv_is_read_and_said_so(cancer, tmp_path):
    """A spreadsheet in a European locale saves ';' between fields and ',' as the decimal mark."""
    cancer.head(300).to_csv(tmp_path / "european.csv", sep=";", decimal=",", index=False)
    data = Table(name="table", data_dir=str(tmp_path), path=str(tmp_path / "european.csv"), target="target")
    assert [note.line() for note in data.data_notes()] == [
        "zoo: data.path=european.csv is read with ';' between fields and ',' as the decimal mark, sniffed from its "
        "first lines (data.sep=';' data.decimal=',' would say so)"
    ]
    assert len(data.numeric_columns) == 30 and not data.categorical_columns  # numbers, not text
    trained = cancer.head(300).iloc[data.rows_trained.numpy()]
    assert data.encoding.numeric["mean radius"][0] == pytest.approx(trained["mean radius"].median())
    assert Table.choose_task(str(tmp_path / "european.csv"), "target") == "classification"
    # Said on the command line, it is no news.
    assert notes(tmp_path / "european.csv", sep=";", decimal=",") == []
    # A tab-separated file named .csv
    cancer.head(50).to_csv(tmp_path / "tabs.csv", sep="\t", index=False)
    assert notes(tmp_path / "tabs.csv")[0].startswith("zoo: data.path=tabs.csv is read with a tab between fields")


def test_a_csv_whose_separator_cannot_be_told_is_refused_naming_it(tmp_path):
    """Semicolons in the header, a row that does not follow them: one line naming ';' and data.sep."""
    (tmp_path / "odd.csv").write_text("a;b;target\n1;2;x\n3;4\n5;6;y\n" * 10)
    data = Table(name="table", data_dir=str(tmp_path), path=str(tmp_path / "odd.csv"), target="target")
    with pytest.raises(ZooError) as raised:
        data.read()
    assert str(raised.value) == (
        f"data.path={tmp_path / 'odd.csv'}: every line is one field with ',' between fields; the header is "
        f"separated by ';' (3 fields), but not every line is: give the separator, data.sep=';' (and a decimal comma, "
        f"data.decimal=',')"
    )
    assert "\n" not in str(raised.value)
    with pytest.raises(ZooError, match=r"data.sep='ab' must be one character between fields"):
        Table(name="table", data_dir=".", path=str(tmp_path / "odd.csv"), target="target", sep="ab").read()


def test_copies_of_test_images_in_training_are_counted(tmp_path):
    folder = write_folder(tmp_path / "pets", per_class=10)
    clean = ImageFolder(name="images", data_dir=str(tmp_path / "cache"), path=str(folder))
    assert clean.data_notes() == []
    for image in sorted((folder / "cat").glob("*"))[:5]:
        shutil.copy(image, folder / "cat" / f"copy_{image.name}")
    copied = ImageFolder(name="images", data_dir=str(tmp_path / "cache"), path=str(folder), folds=3, fold=0)
    [note] = copied.data_notes()
    assert re.fullmatch(
        r"zoo: warning: \d of the 12 test images have the same pixels \(3x32x32\) as a training image: the test "
        r"score counts images the model has seen; remove the copies from .*pets",
        note.line(),
    )
    copied.write_run_files(tmp_path)
    assert json.loads((tmp_path / "data_checks.json").read_text())["notes"][0]["check"] == "duplicates"
