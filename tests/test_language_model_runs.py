"""Language modelling through the command lines a user types: `python train.py data=text model=<family>`,
zoo-generate on the checkpoint, zoo-compare on the runs, resume after a kill, bad corpora refused.

The commands run in this process (their own main(), conftest.command_here) but where the process is the point: the
kill of a run, and one bad corpus refused by `python train.py` end to end (its exit status and one line)."""

import json
import signal
import time

import numpy
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from test_resume import start_train_py, wait_for_first_checkpoint

import zoo.compare.command
import zoo.inference.evaluate
import zoo.inference.generate
import zoo.inference.predict
import zoo.training.command
from zoo.models import list_models
from zoo.runs.checkpoint import load_checkpoint

from conftest import command_here, read_metrics, run_dirs, train_here, train_py

# A few dozen steps on the default corpus (Python's reference docs, offline).
TINY_TEXT = [
    "data=text",
    "trainer.max_epochs=2",
    "+trainer.limit_train_batches=15",
    "+trainer.limit_val_batches=4",
    "task.sample.length=40",
]
LM_FAMILIES = list_models("language_model")


COMMANDS = {
    "generate": zoo.inference.generate.main,
    "predict": zoo.inference.predict.main,
    "evaluate": zoo.inference.evaluate.main,
    "compare": zoo.compare.command.main,
}


def run_zoo(command: str, *arguments: str):
    """`python -m zoo.<command> <arguments>`, run by the command's own main() in this process."""
    return command_here(COMMANDS[command], *arguments)


def text_samples(run_dir) -> list[tuple[int, str]]:
    """The TEXT tab's samples of a run, as (step, text)."""
    [events] = {path.parent for path in run_dir.rglob("events.out.tfevents.*")}
    accumulator = EventAccumulator(str(events), size_guidance={"tensors": 0}).Reload()
    return [
        (event.step, event.tensor_proto.string_val[0].decode())
        for event in accumulator.Tensors("samples/text/text_summary")
    ]


@pytest.fixture(scope="module")
def every_family(tmp_path_factory, data_dir):
    """One multirun of every family on a tiny budget, as docs/language-models.md runs it (train.py's main() here)."""
    log_dir = tmp_path_factory.mktemp("text_families")
    result = command_here(
        zoo.training.command.main,
        "-m",
        f"model={','.join(LM_FAMILIES)}",
        *TINY_TEXT,
        f"paths.log_dir={log_dir}",
        f"paths.data_dir={data_dir}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return log_dir


@pytest.mark.slow
def test_every_family_learns_to_predict_text_and_writes_its_metrics(every_family):
    runs = {read_metrics(run_dir)["model"]: run_dir for run_dir in run_dirs(every_family)}
    assert sorted(runs) == sorted(LM_FAMILIES) == ["cnn", "linear", "mlp", "rnn", "transformer"]
    for model, run_dir in runs.items():
        metrics = read_metrics(run_dir)
        assert metrics["task"] == "language_model" and metrics["data"] == "text"
        # Uniform guessing over the ~100 symbols costs log2(104) = 6.7 bits; a few dozen steps already beat it.
        assert metrics["test/bpc"] < 6.0, model
        assert metrics["test/bpc"] == pytest.approx(metrics["test/loss"] / 0.6931471805599453, rel=1e-5)
        assert metrics["val/loss_best"] <= metrics["val/loss"] + 1e-6
        assert (run_dir / "checkpoints" / "best.ckpt").is_file()


@pytest.mark.slow
def test_a_text_sample_is_in_tensorboard_after_every_validation(every_family):
    for run_dir in run_dirs(every_family):
        samples = text_samples(every_family / "tensorboard" / "text" / read_metrics(run_dir)["model"])
        assert len(samples) == 2  # two epochs, two validations (the sanity check writes none)
        step, text = samples[-1]
        sample = text.split("\n\n", 1)[1].replace("\n    ", "\n").removeprefix("    ")
        assert step > 0 and sample.startswith("The ") and len(sample) == len("The ") + 40


@pytest.mark.slow
@pytest.mark.parametrize("model", LM_FAMILIES)
def test_zoo_generate_reads_every_familys_checkpoint(every_family, model):
    run_dir = next(d for d in run_dirs(every_family) if read_metrics(d)["model"] == model)
    result = run_zoo("generate", f"ckpt={run_dir}", "prompt=The ", "length=20")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("The ") and len(result.stdout) == len("The ") + 20 + 1  # and print's newline


@pytest.mark.slow
def test_zoo_generate_samples_the_same_text_for_the_same_seed(every_family):
    run_dir = next(d for d in run_dirs(every_family) if read_metrics(d)["model"] == "transformer")
    first = run_zoo("generate", f"ckpt={run_dir}", "prompt=def ", "length=80", "seed=3")
    again = run_zoo("generate", f"ckpt={run_dir}", "prompt=def ", "length=80", "seed=3")
    other = run_zoo("generate", f"ckpt={run_dir}", "prompt=def ", "length=80", "seed=4")
    assert first.returncode == 0, first.stderr
    assert first.stdout == again.stdout != other.stdout
    assert first.stdout.startswith("def ") and len(first.stdout.rstrip("\n")) >= 4 + 80 - 1
    greedy = [
        run_zoo("generate", f"ckpt={run_dir}", "prompt=def ", "length=30", f"seed={seed}", "temperature=0")
        for seed in (0, 1)
    ]
    assert greedy[0].stdout == greedy[1].stdout  # no sampling at temperature 0: the seed does not matter


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["length=0"], "length='0' must be an integer >= 1"),
        (["temperature=hot"], "temperature='hot' must be a number >= 0"),
        (["temperature=nan"], "temperature='nan' must be a number >= 0"),
        (["prompt=\u2603 snow"], "holds characters the training text never had: '\u2603'"),
        (["prompt="], "prompt= is empty"),
        (["colour=red"], "'colour=red' is not a zoo-generate setting"),
    ],
)
@pytest.mark.slow
def test_zoo_generate_refuses_bad_settings_in_one_line(every_family, arguments, message):
    run_dir = run_dirs(every_family)[0]
    result = run_zoo("generate", f"ckpt={run_dir}", *arguments)
    assert result.returncode == 2 and message in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


@pytest.mark.slow
def test_zoo_compare_ranks_the_families_by_test_bits_per_character(every_family, tmp_path):
    result = run_zoo("compare", "--logdir", str(every_family), "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    header, _, *rows = [
        [cell.strip() for cell in line.split("|")[1:-1]]
        for line in (tmp_path / "comparison.md").read_text().splitlines()
        if line.startswith("|")  # the table, under its task's heading
    ]
    # The bigram's own learning rate (model/for_task/language_model/linear.yaml) tells its row apart.
    assert header[:5] == ["data", "model", "optimizer.lr", "runs", "test bpc (lower is better)"]
    bpcs = [float(row[4]) for row in rows]
    assert len(bpcs) == 5 and bpcs == sorted(bpcs)
    by_model = {read_metrics(d)["model"]: read_metrics(d)["test/bpc"] for d in run_dirs(every_family)}
    assert [row[1] for row in rows] == sorted(by_model, key=by_model.get)


@pytest.mark.slow
def test_zoo_eval_rebuilds_a_language_model_and_repeats_its_test_metrics(every_family, tmp_path):
    run_dir = next(d for d in run_dirs(every_family) if read_metrics(d)["model"] == "rnn")
    result = run_zoo("evaluate", f"ckpt={run_dir}", f"output={tmp_path / 'eval.json'}")
    assert result.returncode == 0, result.stderr
    evaluated = json.loads((tmp_path / "eval.json").read_text())
    for key in ("test/loss", "test/bpc", "test/ppl"):
        assert evaluated[key] == pytest.approx(read_metrics(run_dir)[key], rel=1e-5), key


@pytest.fixture(scope="module")
def classifier(tmp_path_factory, data_dir):
    log_dir = tmp_path_factory.mktemp("classifier")
    result = train_here(
        "model=linear", "trainer.max_epochs=1", "+trainer.limit_train_batches=2", log_dir=log_dir, data_dir=data_dir
    )
    assert result["status"] == "finished"
    return run_dirs(log_dir)[0]


@pytest.mark.slow
def test_a_classifier_checkpoint_is_refused_by_zoo_generate_and_a_language_model_by_zoo_predict(
    every_family, classifier, tmp_path
):
    result = run_zoo("generate", f"ckpt={classifier}")
    assert result.returncode == 2 and "zoo-generate samples from language models" in result.stderr
    numpy.save(tmp_path / "x.npy", numpy.zeros((1, 40), dtype=numpy.float32))
    result = run_zoo("predict", f"ckpt={run_dirs(every_family)[0]}", f"input={tmp_path / 'x.npy'}")
    assert result.returncode == 2 and "not a classifier; sample from it with zoo-generate" in result.stderr


# The one refusal that runs `python train.py` itself: its exit status and its single line end to end.
END_TO_END = "shorter than the context"


@pytest.mark.parametrize(
    "corpus, overrides, message",
    [
        (None, ["data.path=no_such_corpus.txt"], "no_such_corpus.txt: no such file"),
        (b"", [], "is empty"),
        ("caf\u00e9 au lait ".encode("latin-1") * 50, [], "is not UTF-8 text"),
        (b"short text. " * 20, [], "with data.context=64 val needs at least 65; use a smaller data.context"),
        (None, ["task=classification"], "data=text trains task=language_model, not task=classification"),
        (None, ["model=rnn", "model.bidirectional=true"], "model.bidirectional=True"),
        (None, ["model=transformer", "model.positions=32"], "data.context=64 is longer than model.positions=32"),
    ],
    ids=["missing", "empty", "not utf-8", "shorter than the context", "another task", "bidirectional", "positions"],
)
@pytest.mark.slow
def test_bad_input_stops_the_run_in_one_line_before_training(request, tmp_path, data_dir, corpus, overrides, message):
    path = []
    if corpus is not None:
        (tmp_path / "corpus.txt").write_bytes(corpus)
        path = [f"data.path={tmp_path / 'corpus.txt'}"]
    if request.node.callspec.id == END_TO_END:
        result = train_py("data=text", *path, *overrides, log_dir=tmp_path / "logs", data_dir=data_dir)
    else:
        logs = [f"paths.log_dir={tmp_path / 'logs'}", f"paths.data_dir={data_dir}"]
        result = command_here(zoo.training.command.main, "data=text", *path, *overrides, *logs)
    assert result.returncode == 2, result.stderr[-2000:]
    assert message in result.stderr and "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert not list((tmp_path / "logs").rglob("*.ckpt"))


@pytest.mark.slow
def test_a_killed_language_model_resumes_to_the_same_result(tmp_path, data_dir):
    """Killed in its second epoch and resumed with the same command line: the metrics of the run left alone.
    The kill is of a `python train.py` process; the run left alone and the resumed one run in this process."""
    command = [
        "data=text",
        "model=mlp",
        "trainer.max_epochs=2",
        "+trainer.limit_train_batches=200",  # a few seconds an epoch: long enough to be killed in the middle of
        "data.batch_size=8",
        "model.dim=32",
        "task.sample.length=20",
    ]
    alone = train_here(*command, log_dir=tmp_path / "alone", data_dir=data_dir)
    assert alone["status"] == "finished"
    [alone_dir] = run_dirs(tmp_path / "alone")
    seconds_per_epoch = read_metrics(alone_dir)["train_time_s"] / 2

    run = start_train_py(*command, log_dir=tmp_path / "killed", data_dir=data_dir)
    checkpoint = wait_for_first_checkpoint(run, tmp_path / "killed")
    time.sleep(seconds_per_epoch / 4)
    run.send_signal(signal.SIGKILL)
    run.communicate(timeout=60)
    assert load_checkpoint(checkpoint)["epoch"] == 0
    run_dir = checkpoint.parent.parent
    resumed = train_here(*command, f"resume={run_dir}", log_dir=tmp_path / "killed", data_dir=data_dir)
    assert resumed["status"] == "finished" and resumed["run_dir"] == str(run_dir)
    for key in ["train/loss", "val/loss", "val/loss_best", "test/loss", "test/bpc"]:
        assert read_metrics(run_dir)[key] == pytest.approx(read_metrics(alone_dir)[key], abs=1e-6), key
    assert text_samples(tmp_path / "killed")[-1] == text_samples(tmp_path / "alone")[-1]


@pytest.mark.slow
def test_a_classifier_saved_before_tasks_existed_still_evaluates_and_predicts(classifier, tmp_path):
    """Checkpoints written before this change have no task and no model_inputs in them."""
    checkpoint = load_checkpoint(classifier / "checkpoints" / "best.ckpt")
    del checkpoint["zoo_format"]
    del checkpoint["hyper_parameters"]["task"]
    dataset = checkpoint["hyper_parameters"]["dataset"]
    del dataset["task"]
    dataset["num_classes"] = dataset.pop("model_inputs")["num_classes"]  # stored flat then, beside input_shape
    torch.save(checkpoint, tmp_path / "old.ckpt")
    evaluated = run_zoo("evaluate", f"ckpt={tmp_path / 'old.ckpt'}", f"output={tmp_path / 'eval.json'}")
    assert evaluated.returncode == 0, evaluated.stderr
    assert json.loads((tmp_path / "eval.json").read_text())["test/acc"] == pytest.approx(
        read_metrics(classifier)["test/acc"], abs=1e-6
    )
    numpy.save(tmp_path / "x.npy", numpy.zeros((2, 40), dtype=numpy.float32))
    predicted = run_zoo("predict", f"ckpt={tmp_path / 'old.ckpt'}", f"input={tmp_path / 'x.npy'}")
    assert predicted.returncode == 0, predicted.stderr


@pytest.mark.slow
def test_a_changed_corpus_is_refused_by_zoo_eval_in_one_line(tmp_path, data_dir):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the cat sat on the mat and the dog ate the hat. " * 200)
    result = train_here(
        "data=text",
        f"data.path={corpus}",
        "model=linear",
        "trainer.max_epochs=1",
        log_dir=tmp_path / "logs",
        data_dir=data_dir,
    )
    assert result["status"] == "finished"
    corpus.write_text("QXZ " + corpus.read_text())  # new characters: other ids for the same ones
    evaluated = run_zoo("evaluate", f"ckpt={run_dirs(tmp_path / 'logs')[0]}")
    assert (
        evaluated.returncode == 2
        and "gives a vocabulary of 17 symbols, not the 14 this model was trained with" in evaluated.stderr
    )
    assert evaluated.stderr.count("\n") == 1


def test_a_home_relative_corpus_path_is_found(compose_config, tmp_path, monkeypatch):
    """The run's record names the file absolutely, `~` expanded: where the run reads it, and a resumed run too."""
    from zoo.training.job import new_record

    monkeypatch.setenv("HOME", str(tmp_path))
    cfg = compose_config("data=text", "data.path='~/corpus.txt'")
    assert new_record(cfg, [], str(tmp_path / "run")).data_path == str(tmp_path / "corpus.txt")


@pytest.mark.slow
def test_line_mode_samples_names_that_each_start_at_the_boundary(tmp_path, data_dir):
    """makemore's task: one name a line. Every sampled name starts from the boundary, as in training."""
    names = tmp_path / "names.txt"
    names.write_text("\n".join(["emma", "olivia", "ava", "isabella", "sophia", "mia", "amelia"] * 60) + "\n")
    result = train_here(
        "data=text",
        f"data.path={names}",
        "data.lines=true",
        "data.context=16",
        "model=mlp",
        "trainer.max_epochs=3",
        log_dir=tmp_path / "logs",
        data_dir=data_dir,
    )
    assert result["status"] == "finished"
    sampled = run_zoo(
        "generate", f"ckpt={run_dirs(tmp_path / 'logs')[0]}", "prompt=\\n", "length=200", "temperature=0.5"
    )
    assert sampled.returncode == 0, sampled.stderr
    lines = [line for line in sampled.stdout.split("\n") if line]
    assert len(lines) >= 5 and all(set(line) <= set("emmaoliviaavaisabellasophiamiaamelia") for line in lines)
    # After a few epochs on seven names, most sampled lines are names of the list.
    known = {"emma", "olivia", "ava", "isabella", "sophia", "mia", "amelia"}
    assert sum(line in known for line in lines[:-1]) >= len(lines[:-1]) // 2
