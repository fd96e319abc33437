"""Data hunger and the generalization gap (docs/claims/): `data.train_fraction`
trains on a seeded, stratified, nested part of the training split for the same number of steps; the
`generalization` view reports the tested network's accuracy on that part and its gap to the test accuracy;
zoo-compare draws test accuracy against training samples; experiment=data_hunger composes the sweep."""

import itertools
import json

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import zoo
from zoo import CONFIG_DIR
from zoo.compare import command as compare
from zoo.data.loaders import EpochPermutation
from zoo.data.mnist1d import MNIST1D
from zoo.data.splits import stratified_subset
from zoo.errors import ZooError
from zoo.training import command as cli
from zoo.training.checks import check_config

from conftest import TINY, command_here, run_dirs

FRACTIONS = [0.05, 0.1, 0.25, 0.5, 1.0]


def mnist1d(data_dir, fraction=1.0, seed=0) -> MNIST1D:
    data = MNIST1D(name="mnist1d", data_dir=str(data_dir), train_fraction=fraction, seed=seed)
    data.setup()
    return data


@pytest.fixture(scope="module")
def by_fraction(data_dir) -> dict[float, MNIST1D]:
    return {fraction: mnist1d(data_dir, fraction) for fraction in FRACTIONS}


def test_a_fraction_trains_on_that_part_of_the_samples_each_class_keeping_its_share(by_fraction):
    full = torch.bincount(by_fraction[1.0].splits["train"][1], minlength=10)
    for fraction in FRACTIONS:
        counts = torch.bincount(by_fraction[fraction].splits["train"][1], minlength=10)
        assert counts.sum() == round(fraction * 3600), fraction  # 0.1 of 3,600 is 360, not one more or less
        shares = zip(counts.tolist(), full.tolist(), strict=True)
        assert all(abs(count - n * fraction) <= 1 for count, n in shares), fraction
    assert len(stratified_subset(torch.tensor([0] * 99 + [1]), 0.01, seed=0)) == 2  # every class keeps one


def test_smaller_parts_lie_inside_larger_ones(by_fraction):
    parts = [set(by_fraction[fraction].indices["train"].tolist()) for fraction in FRACTIONS]
    for smaller, larger in itertools.pairwise(parts):
        assert smaller < larger


def test_validation_and_test_are_the_full_runs(by_fraction):
    full, part = by_fraction[1.0], by_fraction[0.1]
    assert torch.equal(full.indices["val"], part.indices["val"])
    for split in ("val", "test"):
        assert torch.equal(full.splits[split][1], part.splits[split][1])
        # normalized differently (with each run's own training statistics), the same raw samples
        raw = [
            data.splits[split][0] * data.normalization["std"][0] + data.normalization["mean"][0]
            for data in (full, part)
        ]
        assert torch.allclose(raw[0], raw[1], atol=1e-4)
    # the statistics are the part's own
    x_part = part.splits["train"][0] * part.normalization["std"][0] + part.normalization["mean"][0]
    assert part.normalization["mean"][0] == pytest.approx(x_part.mean().item(), abs=1e-4)
    assert part.normalization["mean"] != full.normalization["mean"]


def test_an_epoch_keeps_its_steps_and_cycles_through_the_part(by_fraction):
    full, part = by_fraction[1.0], by_fraction[0.05]
    loader = part.train_dataloader()
    assert len(loader) == len(full.train_dataloader()) == 3600 // 128
    served = torch.cat([targets for _, targets in loader])
    assert len(served) == 28 * 128
    # each pass is a permutation of the part: the first len(part) samples hold each sample once
    inputs = torch.cat([x for x, _ in loader])
    size = len(part.splits["train"][1])
    assert len(torch.unique(inputs[:size], dim=0)) == size
    # the order depends on (seed, epoch) alone: a fresh loader (a resumed run) serves the same batches
    again = part.train_dataloader()
    for each in (loader, again):
        each.sampler.set_epoch(3)
    assert torch.equal(torch.cat([y for _, y in loader]), torch.cat([y for _, y in again]))
    assert not torch.equal(torch.cat([y for _, y in loader]), served)


def test_the_whole_split_keeps_the_order_it_always_had():
    # fraction 1.0 runs see the same batches as before train_fraction existed
    for epoch in (0, 5):
        permutation = EpochPermutation(3600, seed=7)
        permutation.set_epoch(epoch)
        old = torch.randperm(3600, generator=torch.Generator().manual_seed(7 * 1_000_003 + epoch))
        assert torch.equal(permutation.order(), old)


def test_the_seed_draws_the_part(data_dir, by_fraction):
    assert torch.equal(mnist1d(data_dir, 0.1, seed=0).indices["train"], by_fraction[0.1].indices["train"])
    other = mnist1d(data_dir, 0.1, seed=1)
    assert not torch.equal(other.indices["train"], by_fraction[0.1].indices["train"])
    assert torch.equal(other.indices["val"], by_fraction[0.1].indices["val"])  # split_seed decides validation


@pytest.mark.parametrize("value", ["0", "-0.5", "1.5", "nan", "abc", "null"])
def test_a_bad_fraction_is_refused_in_one_line(value, compose_config):
    with pytest.raises(ZooError) as error:
        check_config(compose_config(f"data.train_fraction={value}"))
    assert str(error.value).startswith("data.train_fraction=") and "(0, 1]" in str(error.value)
    assert "\n" not in str(error.value)


def experiment_jobs(*overrides: str) -> list[list[str]]:
    """The jobs `python train.py -m experiment=data_hunger ...` launches, as Hydra's basic sweeper forms them:
    the experiment's sweeper params, then the command line (which wins for a key it repeats)."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(config_name="train", overrides=["experiment=data_hunger", *overrides], return_hydra_config=True)
    GlobalHydra.instance().clear()
    params = [f"{key}={value}" for key, value in cfg.hydra.sweeper.params.items()]
    parsed = OverridesParser.create().parse_overrides([*params, "experiment=data_hunger", *overrides])
    return BasicSweeper.split_arguments(parsed, None)[0]


def test_the_experiment_sweeps_families_fractions_and_seeds():
    jobs = experiment_jobs()
    combos = {(job[0], job[1], job[2]) for job in jobs}
    assert len(jobs) == len(combos) == 5 * 5 * 3
    assert {job[0] for job in jobs} == {f"model={m}" for m in ("linear", "mlp", "cnn", "rnn", "transformer")}
    assert {job[1] for job in jobs} == {f"data.train_fraction={f}" for f in FRACTIONS}
    assert len(experiment_jobs("seed=0")) == 25
    assert {job[2] for job in experiment_jobs("seed=0")} == {"seed=0"}


@pytest.fixture(scope="module")
def runs(tmp_path_factory, data_dir):
    """Two tiny MLP runs, at 10% and 20% of the training split: one multirun, in this process."""
    log_dir = tmp_path_factory.mktemp("hunger")
    result = command_here(
        cli.main,
        "-m",
        "model=mlp",
        "data.train_fraction=0.1,0.2",
        *TINY,
        "task.views.robustness=null",  # the figures take most of a tiny run's time; nothing here looks at them
        "task.views.saliency=null",
        f"paths.log_dir={log_dir}",
        f"paths.data_dir={data_dir}",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    found = {}
    for run in run_dirs(log_dir):
        overrides = (run / ".hydra" / "overrides.yaml").read_text()
        found[0.1 if "data.train_fraction=0.1" in overrides else 0.2] = run
    return log_dir, found


@pytest.mark.slow
def test_a_run_reports_the_samples_it_trained_on(runs, data_dir):
    log_dir, found = runs
    expected = len(mnist1d(data_dir, 0.1).splits["train"][1])
    metrics = json.loads((found[0.1] / "metrics.json").read_text())
    assert metrics["samples"]["train"] == expected
    assert metrics["samples"]["val"] == 400 and metrics["samples"]["test"] == 1000
    events = [EventAccumulator(str(path.parent)).Reload() for path in (log_dir / "tensorboard").rglob("events.*")]
    tag = "zoo/train_samples"
    hp = sorted({e.Scalars(tag)[-1].value for e in events if tag in e.Tags()["scalars"]})
    assert hp == [expected, len(mnist1d(data_dir, 0.2).splits["train"][1])]


@pytest.mark.slow
def test_the_gap_is_train_minus_test_accuracy_of_the_tested_weights(runs, data_dir):
    _, found = runs
    metrics = json.loads((found[0.1] / "metrics.json").read_text())
    measured = metrics["measured"]
    assert measured["gap"] == pytest.approx(measured["eval_train_acc"] - metrics["test/acc"], abs=1e-12)
    # independently: the best checkpoint (the tested weights) on the raw inputs of the part it trained on
    data = mnist1d(data_dir, 0.1)
    x, y, _, _ = data.load()
    model = zoo.load(found[0.1])
    predicted = model(x[data.indices["train"]].float()).argmax(dim=1)
    assert measured["eval_train_acc"] == pytest.approx(
        (predicted == y[data.indices["train"]]).float().mean().item(), abs=1e-6
    )


@pytest.mark.slow
def test_zoo_compare_draws_accuracy_against_training_samples(runs, tmp_path):
    log_dir, _found = runs
    assert compare.main(["--logdir", str(log_dir), "--out", str(tmp_path / "both")]) == 0
    figure = tmp_path / "both" / "data_hunger.png"
    assert figure.stat().st_size > 10_000
    one = next((log_dir / "tensorboard").rglob("*train_fraction=0.1*"))
    assert compare.main(["--logdir", str(one), "--out", str(tmp_path / "one")]) == 0
    assert not (tmp_path / "one" / "data_hunger.png").exists()  # one fraction: nothing to draw
