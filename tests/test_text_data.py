"""Character-level text (zoo/data/text.py): the offline default corpus, contiguous splits, the vocabulary,
windows that predict every character once, seeded epochs, line mode, one-line errors, and the download."""

import functools
import http.server
import importlib.util
import operator
import threading
from pydoc_data.topics import topics

import lightning as L
import pytest
import torch
from torch import nn

from zoo.data.text import SPLITS, TextCorpus
from zoo.data.vocabulary import BOUNDARY, IGNORED, UNKNOWN, UNKNOWN_SYMBOL, Vocabulary
from zoo.data.windows import evaluation_windows
from zoo.errors import ZooError

from conftest import REPO

NAMES = [
    "emma",
    "olivia",
    "ava",
    "isabella",
    "sophia",
    "charlotte",
    "mia",
    "amelia",
    "harper",
    "evelyn",
    "abigail",
    "emily",
    "elizabeth",
    "mila",
    "ella",
    "avery",
    "sofia",
    "camila",
    "aria",
    "scarlett",
]


@pytest.fixture(scope="module")
def default_corpus() -> TextCorpus:
    corpus = TextCorpus(context=32, batch_size=16)
    corpus.setup()
    return corpus


def write(path, text: str):
    path.write_text(text, encoding="utf-8")
    return path


def test_the_default_corpus_is_pythons_reference_docs_read_offline(default_corpus):
    text = "".join(topics[key] for key in sorted(topics))
    assert 400_000 < len(text) < 600_000  # 464,970 characters on Python 3.11
    assert "".join(default_corpus.texts[split] for split in SPLITS) == text
    assert TextCorpus().model_inputs == {"vocab_size": len(TextCorpus().vocabulary), "context": 64}
    assert 90 < len(default_corpus.vocabulary) < 120  # the unknown symbol and ~103 characters


def test_splits_are_contiguous_disjoint_and_in_order(default_corpus):
    texts, total = default_corpus.texts, sum(default_corpus.characters().values())
    assert [len(texts[split]) for split in SPLITS] == [
        total - 2 * round(total * 0.05),
        round(total * 0.05),
        round(total * 0.05),
    ]
    whole, start = default_corpus.vocabulary.encode("".join(texts[split] for split in SPLITS)), 0
    for split in SPLITS:  # each block starts where the one before ended
        block = default_corpus.blocks[split]
        assert default_corpus.vocabulary.decode(block) == texts[split]
        assert torch.equal(block, whole[start : start + len(block)])
        start += len(block)


def test_the_vocabulary_is_built_from_training_text_only(tmp_path):
    # "Z" and "é" appear only in the test block: they are unknown symbols there.
    corpus = TextCorpus(
        path=write(tmp_path / "t.txt", "abcab " * 30 + "Zé"), context=4, val_fraction=0.1, test_fraction=0.1
    )
    corpus.setup()
    vocabulary = corpus.vocabulary
    assert vocabulary.symbols == [UNKNOWN_SYMBOL, " ", "a", "b", "c"] and "Z" not in vocabulary.characters
    assert corpus.blocks["test"][-2:].tolist() == [UNKNOWN, UNKNOWN]
    assert vocabulary.decode(vocabulary.encode("caZ")) == "ca\ufffd"


def test_encode_and_decode_round_trip_and_padding_is_not_a_symbol(default_corpus):
    vocabulary, text = default_corpus.vocabulary, default_corpus.texts["train"][:5000]
    ids = vocabulary.encode(text)
    assert ids.dtype == torch.long and ids.min() >= 1 and vocabulary.decode(ids) == text
    assert vocabulary.decode(ids.tolist()) == text
    with pytest.raises(ValueError, match="id -1 is not in the vocabulary"):
        vocabulary.decode([IGNORED])


@pytest.mark.parametrize("split", ["val", "test"])
def test_evaluation_predicts_every_character_but_the_first_exactly_once(default_corpus, split):
    x, y = default_corpus.splits[split]
    block, context = default_corpus.blocks[split], default_corpus.context
    stride = context // 2
    assert x.shape[1] == y.shape[1] == context and len(x) == 1 + -(-(len(block) - 1 - context) // stride)
    predicted = y != IGNORED
    assert default_corpus.predicted_symbols(split) == predicted.sum() == len(block) - 1
    assert torch.equal(y[predicted], block[1:]) and torch.equal(x[predicted], block[:-1])
    # The windows overlap by half: after the first, each scores its last half, after half a context of history.
    assert torch.equal(x[1:, :stride], x[:-1, stride:]) and predicted[0].all() and not predicted[1:, :stride].any()
    assert predicted[1:-1, stride:].all() and not predicted[-1, -1]  # only the last window is padded
    loaded = (
        torch.cat([targets for _, targets in default_corpus.val_dataloader()])
        if split == "val"
        else torch.cat([targets for _, targets in default_corpus.test_dataloader()])
    )
    assert torch.equal(loaded, y)  # the loaders serve the windows in order


@pytest.mark.parametrize("length", [2, 5, 9, 10, 11, 40])
@pytest.mark.parametrize("context", [1, 2, 3, 8])
def test_evaluation_windows_score_each_symbol_once_after_half_a_context(length, context):
    block = torch.arange(1, length + 1)
    x, y = evaluation_windows(block, context)
    predicted = y != IGNORED
    assert torch.equal(y[predicted], block[1:]) and torch.equal(x[predicted], block[:-1])
    history = torch.arange(1, context + 1).expand_as(y)  # symbols read up to and including each input
    assert (history[1:][predicted[1:]] >= context - max(1, context // 2) + 1).all()


def epoch_batches(loader, epoch: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    loader.sampler.set_epoch(epoch)
    return list(loader)


def test_training_windows_shift_by_one_follow_seed_and_epoch(default_corpus):
    loader = default_corpus.train_dataloader()
    block, context, batch_size = default_corpus.blocks["train"], default_corpus.context, default_corpus.batch_size
    windows = (len(block) - context) // context
    first = epoch_batches(loader, 0)
    assert len(first) == len(loader) == windows // batch_size  # the ragged last batch is dropped
    for x, y in first:
        assert x.shape == y.shape == (batch_size, context) and torch.equal(x[:, 1:], y[:, :-1])
    starts = loader.starts()
    assert len(set(starts.tolist())) == windows and len(set((starts % context).tolist())) == 1  # non-overlapping
    assert torch.equal(first[0][0][0], block[starts[0] : starts[0] + context])
    assert torch.equal(first[0][1][0], block[starts[0] + 1 : starts[0] + context + 1])

    # A resumed run builds its loader anew: with the same seed and epoch it sees the same batches.
    again = TextCorpus(context=32, batch_size=16)
    again.setup()
    for (x, y), (x2, y2) in zip(first, epoch_batches(again.train_dataloader(), 0), strict=True):
        assert torch.equal(x, x2) and torch.equal(y, y2)
    offsets = set()
    for epoch in range(1, 6):
        batches = epoch_batches(loader, epoch)
        assert len(batches) == len(loader) == len(first)
        assert not torch.equal(batches[0][0], first[0][0])
        offsets.add(int(loader.starts()[0]) % context)
    assert len(offsets) > 1  # windows are cut at another offset each epoch
    other_seed = TextCorpus(context=32, batch_size=16, seed=1)
    other_seed.setup()
    assert not torch.equal(epoch_batches(other_seed.train_dataloader(), 0)[0][0], first[0][0])


class Bigram(L.LightningModule):
    """The smallest language model: it records the first training batch of each epoch."""

    def __init__(self, vocab_size: int):
        super().__init__()
        self.table, self.seen = nn.Embedding(vocab_size, vocab_size), {}

    def training_step(self, batch, batch_index):
        x, y = batch
        self.seen.setdefault(self.current_epoch, x.clone())
        return nn.functional.cross_entropy(self.table(x).flatten(0, 1), y.flatten(), ignore_index=IGNORED)

    def validation_step(self, batch, batch_index):
        x, y = batch
        loss = nn.functional.cross_entropy(self.table(x).flatten(0, 1), y.flatten(), ignore_index=IGNORED)
        self.log("val/loss", loss)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_lightning_sets_each_epochs_windows(tmp_path):
    corpus = TextCorpus(path=write(tmp_path / "t.txt", " ".join(NAMES) * 20), context=16, batch_size=8)
    model = Bigram(corpus.model_inputs["vocab_size"])
    trainer = L.Trainer(
        max_epochs=3,
        limit_train_batches=2,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(model, datamodule=corpus)
    reference = TextCorpus(path=tmp_path / "t.txt", context=16, batch_size=8)
    reference.setup()
    for epoch in range(3):
        assert torch.equal(model.seen[epoch], epoch_batches(reference.train_dataloader(), epoch)[0][0])
    assert not torch.equal(model.seen[0], model.seen[1])


def test_line_mode_makes_each_name_a_sample_between_boundaries(tmp_path):
    names = "\n".join(NAMES[:10]) + "\n\n" + "\n".join(NAMES[10:]) + "\n"  # an empty line is no sample
    corpus = TextCorpus(
        path=write(tmp_path / "names.txt", names),
        lines=True,
        context=12,
        batch_size=4,
        val_fraction=0.1,
        test_fraction=0.1,
    )
    assert corpus.model_inputs == {"vocab_size": len(corpus.vocabulary), "context": 12}
    corpus.setup()
    vocabulary = corpus.vocabulary
    assert vocabulary.symbols[:2] == [UNKNOWN_SYMBOL, "\n"]
    texts = corpus.texts
    assert [len(texts[split]) for split in SPLITS] == [16, 2, 2]
    assert corpus.split_sizes() == {"train": 16, "val": 2, "test": 2}
    assert sorted(functools.reduce(operator.iadd, (texts[split] for split in SPLITS), [])) == sorted(
        NAMES
    )  # every name once, no empty line
    assert set(vocabulary.characters) == set("".join(texts["train"]))
    x, y = corpus.splits["train"]
    for row, name in enumerate(texts["train"]):
        ids = vocabulary.encode(name).tolist()
        assert x[row].tolist() == [BOUNDARY] + ids + [BOUNDARY] * (12 - 1 - len(name))
        assert y[row].tolist() == ids + [BOUNDARY] + [IGNORED] * (12 - 1 - len(name))
    assert vocabulary.decode(x[0][: len(texts["train"][0]) + 1]) == "\n" + texts["train"][0]
    assert corpus.predicted_symbols("test") == sum(len(name) + 1 for name in texts["test"])
    assert torch.equal(torch.cat([b for _, b in corpus.test_dataloader()]), corpus.splits["test"][1])

    loader = corpus.train_dataloader()
    first = [b for b, _ in epoch_batches(loader, 0)]
    assert len(first) == len(loader) == 4 and [b.tolist() for b, _ in loader] == [b.tolist() for b in first]
    assert [b.tolist() for b, _ in epoch_batches(loader, 1)] != [b.tolist() for b in first]
    # The lines go to splits by a fixed draw, not by the run's seed: every run is measured on the same names.
    other_seed = TextCorpus(
        path=tmp_path / "names.txt", lines=True, context=12, seed=5, val_fraction=0.1, test_fraction=0.1
    )
    assert other_seed.describe()["characters"] == corpus.describe()["characters"]
    assert other_seed.texts == texts


def test_describe_and_the_vocabulary_survive_a_weights_only_checkpoint(tmp_path):
    corpus = TextCorpus(
        path=write(tmp_path / "names.txt", "\n".join(NAMES)),
        lines=True,
        context=12,
        val_fraction=0.1,
        test_fraction=0.1,
    )
    description = corpus.describe()
    torch.save({"dataset": description}, tmp_path / "c.ckpt")
    loaded = torch.load(tmp_path / "c.ckpt", weights_only=True)["dataset"]
    assert loaded == description
    assert loaded["characters"] == {split: sum(map(len, corpus.texts[split])) for split in SPLITS}
    assert (loaded["name"], loaded["task"], loaded["context"], loaded["lines"]) == ("text", "language_model", 12, True)
    assert loaded["model_inputs"] == corpus.model_inputs == {"vocab_size": len(corpus.vocabulary), "context": 12}
    assert loaded["path"] == str(tmp_path / "names.txt")
    vocabulary = Vocabulary.from_dict(loaded["vocabulary"])
    assert vocabulary == corpus.vocabulary and len(vocabulary) == len(corpus.vocabulary)
    assert vocabulary.decode(vocabulary.encode("emma\nava")) == "emma\nava"


def test_a_relative_path_is_read_from_where_the_run_started(tmp_path, monkeypatch):
    write(tmp_path / "t.txt", "\ufeff" + "hello world\r\n" * 40)  # a byte order mark and Windows line ends
    monkeypatch.chdir(tmp_path)
    corpus = TextCorpus(path="t.txt", context=8)
    monkeypatch.chdir(REPO)
    assert corpus.path == str(tmp_path / "t.txt") and corpus.describe()["path"] == str(tmp_path / "t.txt")
    assert corpus.vocabulary.symbols == [UNKNOWN_SYMBOL, "\n", " ", "d", "e", "h", "l", "o", "r", "w"]


@pytest.mark.parametrize(
    "content, settings, expected",
    [
        (None, {}, "no such file"),
        (b"", {}, "is empty"),
        (b"fine text\n" * 20 + b"caf\xe9 au lait", {}, "is not UTF-8 text: byte 0xe9 at offset 203"),
        (b"text\0with a NUL byte" * 10, {}, "is not text: it holds a NUL byte at offset 4"),
        (
            b"a short text\n" * 8,
            {"context": 64},
            "its 104 characters split into train 94, val 5, test 5, but with "
            "data.context=64 train needs at least 128; use a smaller data.context",
        ),
        (
            b"a short text\n" * 30,
            {"context": 32},
            "val needs at least 33; use a smaller data.context, a larger data.val_fraction",
        ),
        (
            b"\n".join([b"ann", b"bob", b"christopher"] * 20),
            {"lines": True, "context": 8},
            "its longest line holds 11 characters, 12 symbols with the boundary, more than data.context=8; "
            "raise data.context to 12",
        ),
        (b"\n\n\n", {"lines": True}, "holds no non-empty line"),
        (
            b"ann\nbob\n",
            {"lines": True},
            "its 2 lines split into train 2, val 0, test 0, and each split needs at least one",
        ),
    ],
)
def test_bad_input_stops_with_one_line_that_names_it(tmp_path, content, settings, expected):
    path = tmp_path / "corpus.txt"
    if content is not None:
        path.write_bytes(content)
    corpus = TextCorpus(path=str(path), **settings)
    with pytest.raises(ZooError) as error:
        corpus.prepare_data()
    message = str(error.value)
    assert "\n" not in message and expected in message and f"data.path={path}" in message
    with pytest.raises(ZooError):  # the model, built before the data is prepared, meets the same error
        _ = TextCorpus(path=str(path), **settings).model_inputs


@pytest.mark.parametrize(
    "settings, expected",
    [
        ({"test_fraction": 0}, "data.test_fraction=0 must be a number in (0, 1)"),
        ({"val_fraction": 1.5}, "data.val_fraction=1.5 must be a number in [0, 1)"),
        (
            {"val_fraction": 0.5, "test_fraction": 0.5},
            "data.val_fraction + data.test_fraction = 1 leaves nothing to train on",
        ),
        ({"context": 0}, "data.context=0 must be a positive integer"),
    ],
)
def test_bad_settings_stop_with_one_line_that_names_them(settings, expected):
    with pytest.raises(ZooError) as error:
        TextCorpus(**settings).prepare_data()
    assert "\n" not in str(error.value) and expected in str(error.value)


def test_a_folder_is_not_a_text(tmp_path):
    with pytest.raises(ZooError, match=f"data.path={tmp_path} is not a file"):
        TextCorpus(path=str(tmp_path)).prepare_data()


def load_download_script():
    spec = importlib.util.spec_from_file_location("download_data", REPO / "scripts" / "download_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def local_server(tmp_path):
    """An HTTP server on this machine serving `tmp_path/served`: the tests never reach the network."""
    served = tmp_path / "served"
    served.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=served))
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield served, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_tiny_shakespeare_downloads_into_the_data_folder(local_server, tmp_path, monkeypatch, capsys):
    served, address = local_server
    text = "First Citizen:\nBefore we proceed any further, hear me speak.\n\n" * 100
    write(served / "input.txt", text)
    script = load_download_script()
    monkeypatch.setitem(script.TEXTS, "tiny_shakespeare", f"{address}/input.txt")
    assert script.main(["tiny_shakespeare", "--data-dir", str(tmp_path / "data")]) == 0
    target = tmp_path / "data" / "tiny_shakespeare" / "input.txt"
    assert target.read_text(encoding="utf-8") == text
    assert sorted(path.name for path in target.parent.iterdir()) == ["input.txt"]  # no partial file left
    assert f"data=text data.path={target}" in capsys.readouterr().out
    corpus = TextCorpus(path=str(target))
    assert sum(corpus.characters().values()) == len(text)
    (served / "input.txt").unlink()  # already there: not downloaded again
    assert script.main(["tiny_shakespeare", "--data-dir", str(tmp_path / "data")]) == 0


@pytest.mark.parametrize(
    "served_name, expected",
    [
        ("elsewhere.txt", "the download from {url} failed: HTTP Error 404: File not found"),
        ("input.txt", "what {url} sent is not a usable text: "),
    ],
)
def test_a_failed_download_is_one_line_and_leaves_nothing(
    local_server, tmp_path, monkeypatch, capsys, served_name, expected
):
    served, address = local_server
    (served / served_name).write_bytes(b"\x89PNG\r\n\x1a\n\0\0\0" * 50)
    script = load_download_script()
    url = f"{address}/input.txt"
    monkeypatch.setitem(script.TEXTS, "tiny_shakespeare", url)
    assert script.main(["tiny_shakespeare", "--data-dir", str(tmp_path / "data")]) == 1
    error = capsys.readouterr().err
    assert error.startswith("error: tiny_shakespeare: ") and error.count("\n") == 1
    assert expected.format(url=url) in error
    assert list((tmp_path / "data" / "tiny_shakespeare").iterdir()) == []
