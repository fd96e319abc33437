"""Sentence pairs for translation, without training: a user's files read as written (and each bad one refused in one
line that names what is wrong and where), the generated tasks' answers, the splits and vocabularies, and chrF and BLEU
scored as sacreBLEU scores them."""

import inspect
from pathlib import Path

import pandas as pd
import pytest
import sacrebleu
from omegaconf import OmegaConf

from zoo import CONFIG_DIR, models
from zoo.data.generated_pairs import generate, scan_commands
from zoo.data.pairs import SentencePairs
from zoo.data.pairs_files import END, START, UNKNOWN, PairVocabulary, read_pairs
from zoo.errors import ZooError
from zoo.tasks.translation import CorpusScore

from conftest import train_cli

TATOEBA = "Go.\tVa !\tCC-BY 2.0 (France) Attribution: tatoeba.org #2877272 (CM)\nHi.\tSalut !\n\nRun!\tCours\u202f!\n"


def pairs_of(tmp_path, text: str | bytes, name: str = "pairs.tsv", **settings) -> SentencePairs:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    data = SentencePairs(path=str(path), **settings)
    data.prepare_data()
    return data


def test_a_tatoeba_file_reads_its_first_two_fields_and_skips_blank_lines(tmp_path):
    (tmp_path / "fra.txt").write_text(TATOEBA)
    assert read_pairs(tmp_path / "fra.txt") == [("Go.", "Va !"), ("Hi.", "Salut !"), ("Run!", "Cours\u202f!")]


def test_csv_and_parquet_pairs_come_from_the_named_columns(tmp_path):
    frame = pd.DataFrame({"id": [1, 2, 3], "en": ["one", "two", "three"], "fr": ["un", "deux", "trois"]})
    frame.to_csv(tmp_path / "pairs.csv", index=False)
    frame.to_parquet(tmp_path / "pairs.parquet")
    for name in ("pairs.csv", "pairs.parquet"):
        assert read_pairs(tmp_path / name, "en", "fr") == [("one", "un"), ("two", "deux"), ("three", "trois")]
    with pytest.raises(
        ZooError, match=r"^data.source='english' is not a column of .*pairs.csv; its columns are id, en, fr$"
    ):
        read_pairs(tmp_path / "pairs.csv", "english", "fr")


@pytest.mark.parametrize(
    "name, text, message",
    [
        ("absent.tsv", None, r"data.path=.*absent.tsv: no such file; give a tab-separated file of pairs"),
        (
            "pairs.tsv",
            "a\tb\nno tab here\n",
            r"pairs.tsv: line 2 has 1 field, not the 2 of a pair; separate the source",
        ),
        ("pairs.tsv", "a\tb\n\tb\n", r"pairs.tsv: line 2 has an empty source; every pair needs a source and a target"),
        ("pairs.tsv", "a\tb\nc\t  \n", r"pairs.tsv: line 2 has an empty target"),
        ("pairs.tsv", b"a\tb\ncaf\xe9\tc\n", r"pairs.tsv is not UTF-8 text: line 2 holds byte 0xe9, which cannot be"),
        ("pairs.csv", "source,target\na,b\nc,\n", r"pairs.csv: line 3 has an empty target"),
        ("pairs.tsv", "\n\n", r"pairs.tsv holds no pairs"),
    ],
)
def test_bad_pair_files_are_refused_in_one_line(tmp_path, name, text, message):
    if text is not None:
        (tmp_path / name).write_bytes(text if isinstance(text, bytes) else text.encode())
    data = SentencePairs(path=str(tmp_path / name))
    with pytest.raises(ZooError, match=message) as error:
        data.prepare_data()
    assert "\n" not in str(error.value)


def test_train_py_refuses_a_bad_file_with_exit_2_and_one_line(tmp_path, data_dir):
    (tmp_path / "pairs.tsv").write_text("hello\tbonjour\nbye\n")
    result = train_cli(
        "data=pairs", f"data.path={tmp_path / 'pairs.tsv'}", log_dir=tmp_path / "logs", data_dir=data_dir
    )
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: data.path=") and line.endswith(
        "line 2 has 1 field, not the 2 of a pair; separate the source and the target with a tab"
    )


def test_pairs_longer_than_max_len_are_skipped_and_counted(tmp_path, capsys):
    lines = [f"{word}\t{word[::-1]}" for word in ["ab", "abc", "abcd", "abcdefgh", "ab" * 10, "xy", "yz", "zx"]]
    data = pairs_of(tmp_path, "\n".join(lines), max_len=5, test_fraction=0.2, val_fraction=0.0)
    assert data.skipped == 2 and sum(len(pairs) for pairs in data.pairs.values()) == 6
    data.write_run_files(tmp_path)
    assert "left out 2 longer than data.max_len=5" in capsys.readouterr().out
    assert (tmp_path / "pairs_splits.tsv").read_text().count("\n") == 7  # the header and the 6 pairs
    with pytest.raises(ZooError, match=r"0 of its 2 pairs have at most data.max_len=2 symbols on each side; raise"):
        pairs_of(tmp_path, "abc\tcba\nabcd\tdcba\n", max_len=2)


def test_unknown_symbols_encode_as_unknown_and_targets_are_framed():
    vocabulary = PairVocabulary.of(["abba", "cab"], "char")
    assert vocabulary.symbols[4:] == ["a", "b", "c"]  # most frequent first
    assert vocabulary.encode("abz", frame=True) == [START, 4, 5, UNKNOWN, END]
    assert vocabulary.decode([START, 4, 5, UNKNOWN, END, 4]) == "ab<unk>"
    words = PairVocabulary.from_dict(PairVocabulary.of(["jump twice", "walk"], "word").to_dict())
    assert words.decode(words.encode("walk twice")) == "walk twice"


def test_generated_tasks_have_the_right_answers():
    for source, target in generate("addition", 50, seed=1, max_len=50):
        a, b = source.split("+")
        assert int(target) == int(a) + int(b)
    assert all(target == source[::-1] for source, target in generate("reversal", 50, seed=1, max_len=20))
    commands = dict(scan_commands())
    assert len(commands) == 20910  # SCAN's own count
    assert commands["jump twice after walk left"] == "I_TURN_LEFT I_WALK I_JUMP I_JUMP"
    assert commands["turn around right and look opposite left"] == " ".join(
        ["I_TURN_RIGHT"] * 4 + ["I_TURN_LEFT", "I_TURN_LEFT", "I_LOOK"]
    )


def test_scans_length_split_tests_on_the_long_action_sequences():
    data = SentencePairs(generated="scan", split="length", test_fraction=0.2, seed=3)
    data.prepare_data()
    assert data.level == "word" and not data.shared and data.threshold == 24  # SCAN's split: train <= 22, test >= 24
    assert len(data.pairs["test"]) == 3920
    lengths = {split: [len(target.split()) for _, target in pairs] for split, pairs in data.pairs.items()}
    assert max(lengths["train"] + lengths["val"]) < 24 <= min(lengths["test"])
    again = SentencePairs(generated="scan", split="length", test_fraction=0.2, seed=3)
    again.prepare_data()
    assert again.pairs == data.pairs


def test_reversal_shares_one_vocabulary_and_the_splits_depend_on_the_seed():
    one, other = SentencePairs(samples=200, seed=0), SentencePairs(samples=200, seed=1)
    other.prepare_data()
    assert one.shared and one.model_inputs == {"source_vocab": 30, "target_vocab": 30, "shared_vocabulary": True}
    assert one.pairs["test"] != other.pairs["test"]


HYPOTHESES = ["the cat sat on the mat", "je suis content", "I_JUMP I_JUMP I_WALK", "168", "a"]
REFERENCES = ["the cat is on the mat", "je suis très content", "I_JUMP I_JUMP I_JUMP I_WALK", "168", "b c"]


@pytest.mark.parametrize(
    "kind, score, reference",
    [("chrf", sacrebleu.corpus_chrf, 68.85047262151299), ("bleu", sacrebleu.corpus_bleu, 58.57521267432858)],
)
def test_chrf_and_bleu_are_sacrebleus_over_any_batches(kind, score, reference):
    metric = CorpusScore(kind)
    metric.update(HYPOTHESES[:2], REFERENCES[:2])
    metric.update(HYPOTHESES[2:], REFERENCES[2:])
    assert float(metric.compute()) == pytest.approx(reference, abs=1e-9)
    assert score(HYPOTHESES, [REFERENCES]).score == pytest.approx(reference, abs=1e-9)
    for hypotheses, references in ((["168"], ["168"]), (HYPOTHESES[:2], REFERENCES[:2])):
        metric.reset()
        metric.update(hypotheses, references)
        # short outputs, where torchmetrics' CHRFScore (50 for "168") and SacreBLEUScore (0, unsmoothed) differ
        assert float(metric.compute()) == pytest.approx(score(hypotheses, [references]).score, abs=1e-9)


TASK = "translation"


@pytest.mark.parametrize(
    "name, message",
    [
        ("mlp", "model=mlp cannot do translation: an MLP reads a fixed number of inputs"),
        ("linear", "model=linear cannot do translation: one linear map"),
        ("cnn", "model=cnn cannot do translation: "),
    ],
)
def test_families_without_an_encoder_decoder_refuse_in_one_line(name, message):
    with pytest.raises(ValueError, match="^" + message) as error:
        models.build(name, {"source_vocab": 9, "target_vocab": 9, "shared_vocabulary": True}, TASK)
    assert str(error.value).endswith("; choose one of rnn, transformer") and "\n" not in str(error.value)


@pytest.mark.parametrize("name", models.list_models(TASK))
def test_the_translation_config_repeats_the_builders_defaults(name):
    def node(path: Path):
        cfg = OmegaConf.load(path)
        return cfg.model if path.read_text().startswith("# @package _global_") else cfg

    merged = OmegaConf.to_container(
        OmegaConf.merge(
            node(Path(CONFIG_DIR, "model", f"{name}.yaml")),
            node(Path(CONFIG_DIR, "model", "for_task", TASK, f"{name}.yaml")),
        )
    )
    assert merged.pop("name") == name
    parameters = inspect.signature(models.build_function(name, TASK)).parameters.values()
    defaults = {p.name: p.default for p in parameters if p.default is not p.empty}
    assert {k: v for k, v in merged.items() if v is not None} == defaults
