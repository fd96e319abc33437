"""zoo-which, the whole protocol in one command, end to end on tiny budgets: on a CSV (whose identifier column it names
first) and on an image folder, each family searched on fold 1's validation rows, then trained and tested on every
fold, then compared with intervals, a paired test, a sentence and report.html; the same command again continues a
stopped protocol, skipping the finished folds, and gets the same scores (everything is seeded)."""

import json
import re

import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer

from zoo.compare import which

from conftest import command_here, read_metrics, run_dirs
from own_data import write_folder

# Two families, two folds, one random setting each besides the defaults; two epochs of a few batches.
TINY_PROTOCOL = ["--families", "linear", "mlp", "--folds", "2", "--trials", "1"]
QUICK = [
    "trainer.max_epochs=2",
    "+trainer.limit_train_batches=3",
    "task.views.robustness=null",
    "task.views.saliency=null",
    "callbacks.compute_cost=null",
]


def zoo_which(*arguments: str, log_dir, data_dir):
    return command_here(
        which.entry, *TINY_PROTOCOL, "--log-dir", str(log_dir), *arguments, *QUICK, f"paths.data_dir={data_dir}"
    )


@pytest.fixture(scope="module")
def table_protocol(tmp_path_factory, data_dir):
    folder = tmp_path_factory.mktemp("which")
    frame = load_breast_cancer(as_frame=True).frame.sample(n=240, random_state=0)
    frame.insert(0, "patient", range(1000, 1240))  # an identifier, left in
    frame.to_csv(folder / "cancer.csv", index=False)
    arguments = ["data=table", f"data.path={folder / 'cancer.csv'}", "data.target=target"]
    result = zoo_which(*arguments, log_dir=folder / "logs", data_dir=data_dir)
    assert result.returncode == 0, result.stderr[-3000:] + result.stdout[-3000:]
    [protocol] = (folder / "logs" / "which").iterdir()
    return protocol, result.stdout, arguments, folder


@pytest.mark.slow
def test_the_protocol_says_the_data_and_the_plan_first_then_runs_and_compares(table_protocol):
    protocol, stdout, _, _ = table_protocol
    lines = stdout.splitlines()
    assert lines[0] == "zoo-which: which family for cancer.csv, target 'target' (classification, 240 samples)?"
    assert lines[1].startswith("zoo: warning: column 'patient' looks like an identifier")
    assert lines[2] == "  families linear, mlp; 2-fold cross-validation, seed 0"
    assert re.fullmatch(r"  4 search runs \+ 4 fold runs, about \d+ s .*", lines[5])
    saved = json.loads((protocol / "protocol.json").read_text())
    assert set(saved["best"]) == {"linear", "mlp"} and saved["done"] == {
        family: {"0": pytest.approx(saved["done"][family]["0"]), "1": pytest.approx(saved["done"][family]["1"])}
        for family in ("linear", "mlp")
    }
    # The search: the defaults and one random setting per family, on fold 1 only, in its own folder.
    searched = [read_metrics(run) for run in run_dirs(protocol / "search")]
    assert len(searched) == 4 and all(run["samples"]["test"] == 120 for run in searched)
    # The folds: every family on both, each run's rows recorded; the baselines beside them.
    for family in ("linear", "mlp"):
        for fold in (0, 1):
            [run] = run_dirs(protocol / "runs" / family / f"fold{fold}")
            assert read_metrics(run)["status"] == "finished"
            splits = pd.read_csv(run / "splits.csv")
            assert len(splits) == 240 and (splits.split == "test").sum() == 120
            assert json.loads((run / "data_checks.json").read_text())["notes"][0]["check"] == "identifier"
    assert "cancer.csv, target 'target': test acc (2-fold cross-validation)" in stdout
    assert re.search(r"\S.* is best \(0\.\d{3} ± 0\.\d{3}\); .*over 2 test folds", stdout.replace("\n", " "))
    for name in ("comparison.md", "noise.md", "forest.png", "report.html"):
        assert (protocol / "compare" / name).is_file()
    report = (protocol / "compare" / "report.html").read_text()
    assert "gradient boosting (sklearn)" in report and "data:image/png;base64," in report
    assert "column &#x27;patient&#x27; looks like an identifier" in report
    assert "zoo-which --families linear mlp --folds 2 --trials 1" in report


@pytest.mark.slow
def test_the_same_command_continues_a_stopped_protocol_skipping_finished_folds(table_protocol, data_dir):
    protocol, _, arguments, folder = table_protocol
    saved = json.loads((protocol / "protocol.json").read_text())
    [run] = run_dirs(protocol / "runs" / "mlp" / "fold1")
    before = read_metrics(run)["test/acc"]
    # As a kill during mlp's second fold leaves it: not recorded as done, its folder half written.
    del saved["done"]["mlp"]["1"]
    (protocol / "protocol.json").write_text(json.dumps(saved))
    (run / "metrics.json").unlink()
    result = zoo_which(*arguments, log_dir=folder / "logs", data_dir=data_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    steps = [line for line in result.stdout.splitlines() if re.match(r"  (linear|mlp): ", line)]
    assert len(steps) == 1 and steps[0].startswith("  mlp: fold 2 of 2, test/acc ")
    [again] = run_dirs(protocol / "runs" / "mlp" / "fold1")
    assert read_metrics(again)["test/acc"] == before  # seeded: the same run, the same score
    assert "mlp" in result.stdout and "over 2 test folds" in result.stdout.replace("\n", " ")


@pytest.mark.slow
def test_the_protocol_runs_on_an_image_folder(tmp_path, data_dir):
    pets = write_folder(tmp_path / "pets", per_class=12)
    # Folds too small to leave validation images for the search: refused before anything runs.
    result = zoo_which(
        "--dry-run", "data=images", f"data.path={pets}", "data.val_fraction=0.01", log_dir=tmp_path, data_dir=data_dir
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: fold 1 leaves no validation samples to choose and stop by (data.val_fraction=0.01 of its 18 training "
        "samples): raise data.val_fraction, or use fewer --folds"
    )
    result = zoo_which("data=images", f"data.path={pets}", "data.size=8", log_dir=tmp_path / "logs", data_dir=data_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.startswith("zoo-which: which family for pets (classification, 36 samples)?")
    assert "pets: test acc (2-fold cross-validation)" in result.stdout
    assert re.search(r"(linear|mlp) is best", result.stdout)
    [protocol] = (tmp_path / "logs" / "which").iterdir()
    assert (protocol / "compare" / "report.html").is_file()


def test_a_setting_zoo_which_chooses_itself_is_refused_in_one_line(tmp_path):
    result = command_here(which.entry, "--log-dir", str(tmp_path), "data=table", "model=cnn")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: zoo-which sets model in every run itself: leave out model=cnn (the families are --families, the folds "
        "--folds, the seed --seed; paths.log_dir is --log-dir)"
    )
    result = command_here(which.entry, "--log-dir", str(tmp_path), "data=mnist1d")
    assert result.returncode == 2 and "zoo-which compares the families on your own data" in result.stderr
