"""Translation through what a user runs: `python train.py data=pairs model=<family>` on a real tab-separated file and
on a generated task (tiny budgets, one module fixture shared by the assertions), greedy and beam decoding, the views in
TensorBoard, zoo-generate and zoo-predict on new sentences, resume; the families that refuse, in one line."""

import csv
from pathlib import Path

import pytest
import sacrebleu
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import zoo.export.command
import zoo.inference.generate
import zoo.inference.predict
from zoo.inference.network import open_network
from zoo.inference.translate import open_translator
from zoo.models.decoding import decode
from zoo.runs.checkpoint import load_checkpoint

from conftest import command_here, read_metrics, train_here, trained_once

pytestmark = pytest.mark.slow  # the fixture trains three networks

TASK = "translation"
TINY = [
    "data=pairs",
    "data.max_len=10",
    "model.dim=32",
    "model.depth=1",
    "trainer.max_epochs=2",
    "+trainer.limit_train_batches=4",
    "data.batch_size=32",
    "callbacks.compute_cost=null",
    "task.views.attention_maps.every_n_epochs=1",
]
FAMILIES = {
    "rnn_plain": ["model=rnn", "model.attention=none"],
    "rnn_attention": ["model=rnn", "model.attention=dot"],
    "transformer": ["model=transformer", "model.heads=2", "task.generate.beam=3"],
}
FRENCH = [("Go.", "Va !"), ("Hi.", "Salut !"), ("Run!", "Cours !"), ("Who?", "Qui ?"), ("Wow!", "Ça alors !")]


@pytest.fixture(scope="module")
def pairs_file(tmp_path_factory) -> Path:
    """A Tatoeba-like file: 120 lines of source<TAB>target<TAB>attribution."""
    path = tmp_path_factory.mktemp("pairs") / "fra.txt"
    lines = [f"{en}\t{fr}\tCC-BY 2.0 #{i}" for i in range(24) for en, fr in FRENCH]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory, data_dir, pairs_file) -> dict[str, Path]:
    """Each family trained on the generated reversal task (300 pairs); the RNN with attention also on the file."""
    trained = {
        name: trained_once(tmp_path_factory, data_dir, *TINY, "data.samples=300", *settings)
        for name, settings in FAMILIES.items()
    }
    trained["file"] = trained_once(
        tmp_path_factory, data_dir, *TINY, f"data.path={pairs_file}", *FAMILIES["rnn_attention"]
    )
    return trained


def events(run_dir: Path) -> EventAccumulator:
    metrics = read_metrics(run_dir)
    [folder] = {path.parent for path in Path(metrics["best_checkpoint"]).parents[3].rglob("events.out.tfevents.*")}
    return EventAccumulator(str(folder), size_guidance={"tensors": 0, "images": 0}).Reload()


def test_every_family_trains_and_scores_its_test_split(runs):
    for name, run_dir in runs.items():
        metrics = read_metrics(run_dir)
        assert metrics["status"] == "finished" and metrics["task"] == TASK, name
        for key in ("test/exact", "test/token_acc", "val/exact", "val/chrf_best"):
            assert 0 <= metrics[key] <= 1 or key == "val/chrf_best", (name, key)
        assert 0 <= metrics["test/chrf"] <= 100 and 0 <= metrics["test/bleu"] <= 100
        assert "train/exact" not in metrics and metrics["train/token_acc"] is not None  # training translates nothing
    assert read_metrics(runs["file"])["samples"] == {"train": 96, "val": 12, "test": 12}
    splits = (runs["file"] / "pairs_splits.tsv").read_text().splitlines()
    assert splits[0] == "split\tsource\ttarget" and len(splits) == 121 and "Ça alors !" in "".join(splits)


def test_the_test_scores_are_sacrebleus_on_the_runs_own_translations(runs):
    for name in ("file", "transformer"):
        rows = [line.split("\t") for line in (runs[name] / "pairs_splits.tsv").read_text().splitlines()[1:]]
        sources, targets = [r[1] for r in rows if r[0] == "test"], [r[2] for r in rows if r[0] == "test"]
        outputs = open_translator(runs[name]).translate(sources)  # the best checkpoint, the run's own decoding
        metrics = read_metrics(runs[name])
        assert metrics["test/chrf"] == pytest.approx(sacrebleu.corpus_chrf(outputs, [targets]).score, abs=1e-6)
        assert metrics["test/bleu"] == pytest.approx(sacrebleu.corpus_bleu(outputs, [targets]).score, abs=1e-6)
        exact = sum(o == t for o, t in zip(outputs, targets, strict=True)) / len(targets)
        assert metrics["test/exact"] == pytest.approx(exact), name


def test_samples_in_text_each_epoch_and_attention_maps_only_where_there_is_attention(runs):
    for name in FAMILIES:
        board = events(runs[name])
        samples = board.Tensors("samples/translations/text_summary")
        assert len(samples) == 2  # one per validation
        rows = [line for line in samples[-1].tensor_proto.string_val[0].decode().splitlines() if line.startswith("| ")]
        assert rows[0] == "| source | truth | output | exact |" and len(rows) == 1 + 8  # the header, 8 pairs
        assert ("attention/maps" in board.Tags()["images"]) == (name != "rnn_plain"), name


def test_greedy_decoding_is_what_teacher_forcing_predicts_and_beam_1_is_greedy(runs):
    for name in FAMILIES:
        net = open_network(runs[name]).net
        source = torch.tensor([[5, 6, 7, 8, 0], [9, 10, 11, 12, 13]])
        greedy = decode(net, source, max_len=10)
        assert decode(net, source, max_len=10, beam=1).ids == greedy.ids
        for row, ids in enumerate(greedy.ids):
            # Fed its own output, the network under teacher forcing predicts that output, symbol by symbol.
            target_in = torch.tensor([[1, *ids]])
            logits = net(source[row : row + 1, : int((source[row] != 0).sum())], target_in)
            predicted = logits.argmax(-1)[0].tolist()
            assert predicted[: len(ids)] == ids, name
        beams = decode(net, source, max_len=10, beam=3)
        for row, (ids, score) in enumerate(zip(beams.ids, beams.scores, strict=True)):
            if len(ids) == 10:
                continue  # cut at max_len: its score counts one symbol more than it shows
            # A beam's score is its translation's log-probability, the end symbol's included, as the network
            # gives it under teacher forcing.
            given = net(source[row : row + 1, : int((source[row] != 0).sum())], torch.tensor([[1, *ids]]))
            log_probabilities = given[0].detach().log_softmax(-1)
            expected = sum(log_probabilities[t, i] for t, i in enumerate([*ids, 2]))
            assert score == pytest.approx(float(expected), abs=1e-4), name


def test_zoo_generate_and_zoo_predict_translate_new_sentences(runs, tmp_path):
    run = runs["file"]
    result = command_here(zoo.inference.generate.main, f"ckpt={run}", "source=Hi.", "beam=2")
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 1
    sentences = tmp_path / "sentences.txt"
    sentences.write_text("Go.\nWho?\nZut!\n")
    result = command_here(zoo.inference.generate.main, f"ckpt={run}", f"input={sentences}")
    assert result.returncode == 0 and len(result.stdout.splitlines()) == 3
    assert "2 symbols the training pairs never had, read as unknown: 'Z' 't'" in result.stderr
    result = command_here(zoo.inference.predict.main, f"ckpt={run}", f"input={sentences}")
    assert result.returncode == 0, result.stderr
    with open(tmp_path / "sentences_predictions.csv", newline="") as file:
        rows = list(csv.reader(file))
    assert rows[0] == ["source", "translation"] and [row[0] for row in rows[1:]] == ["Go.", "Who?", "Zut!"]
    refused = command_here(zoo.inference.generate.main, f"ckpt={run}", "prompt=Hi")
    assert refused.returncode == 2 and refused.stderr.strip().endswith(
        'is a translation model: give source="<a sentence>" or input=<a file>'
    )


def test_zoo_export_says_it_cannot_write_a_decoding_loop(runs, tmp_path):
    result = command_here(zoo.export.command.main, f"ckpt={runs['file']}", "format=onnx", f"output={tmp_path}")
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "is a translation model:" in result.stderr and "translate with zoo-generate or zoo-predict" in result.stderr
    assert not any(tmp_path.iterdir())


def test_a_run_resumes_where_it_stopped(tmp_path, data_dir):
    command = [*TINY, "data.samples=300", *FAMILIES["rnn_plain"], "task.views.attention_maps=null"]
    first = train_here(*command, "trainer.max_epochs=1", log_dir=tmp_path, data_dir=data_dir)
    run = Path(first["run_dir"])
    before = load_checkpoint(run / "checkpoints" / "last.ckpt")
    result = train_here(*command, f"resume={run}", log_dir=tmp_path, data_dir=data_dir)
    after = load_checkpoint(run / "checkpoints" / "last.ckpt")
    assert result["status"] == "finished" and result["run_dir"] == str(run)
    assert after["epoch"] == before["epoch"] + 1 and after["global_step"] == before["global_step"] + 4
    assert read_metrics(run)["test/chrf"] is not None
