"""Translate new sentences with a trained translation model, for zoo-generate (`source="jump twice"` or `input=<file>`,
the translations printed one a line) and zoo-predict (`input=<file>`, a CSV of source and translation). The
vocabularies travel in the checkpoint; nothing of training is imported (tests/test_inference_imports.py).

A symbol the training pairs never had is read as the unknown symbol, and said so on stderr; a translation is at most
the run's `data.max_len` symbols long. Decoding is the run's own (`task.generate`: greedy or beam search) unless
`beam=` says otherwise.
"""

import sys
from pathlib import Path
from typing import cast

import torch

from zoo.data.pairs_files import PairVocabulary, padded, read_sources
from zoo.errors import ZooError
from zoo.files import write_atomically
from zoo.inference.network import TrainedNetwork
from zoo.models.decoding import EncoderDecoder, decode

BATCH_SIZE = 256


class Translator:
    """A trained encoder-decoder with its vocabularies and decoding settings: sentences in, sentences out."""

    def __init__(self, trained: TrainedNetwork, beam: int | None = None, device: str = "cpu") -> None:
        if trained.task != "translation":
            raise ZooError(f"{trained.path} is a {trained.task} model, not a translation model")
        dataset = trained.dataset
        self.source_vocabulary = PairVocabulary.from_dict(dataset["source_vocabulary"])
        self.target_vocabulary = PairVocabulary.from_dict(dataset["target_vocabulary"])
        self.max_len = int(dataset["max_len"])
        self.source_column = str(dataset.get("source_column") or "source")  # of a CSV or Parquet file
        settings = (trained.checkpoint["hyper_parameters"].get("task") or {}).get("generate") or {}
        self.beam = int(beam if beam is not None else settings.get("beam", 1))
        self.length_penalty = float(settings.get("length_penalty", 1.0))
        self.net = trained.net.to(device).eval()
        self.device = device

    def translate(self, sentences: list[str]) -> list[str]:
        unknown = sorted({symbol for sentence in sentences for symbol in self.source_vocabulary.unknown(sentence)})
        if unknown:
            shown = " ".join(map(repr, unknown[:10])) + (" ..." if len(unknown) > 10 else "")
            print(
                f"zoo: {len(unknown)} symbol{'s' * (len(unknown) > 1)} the training pairs never had, read as unknown: "
                f"{shown}",
                file=sys.stderr,
                flush=True,
            )
        empty = [i for i, sentence in enumerate(sentences) if not self.source_vocabulary.tokens(sentence)]
        if empty:
            raise ZooError(f"sentence {empty[0] + 1} is empty; give each a source sentence to translate")
        outputs = []
        for start in range(0, len(sentences), BATCH_SIZE):
            batch = sentences[start : start + BATCH_SIZE]
            source = padded([self.source_vocabulary.encode(sentence) for sentence in batch]).to(self.device)
            decoded = decode(
                cast(EncoderDecoder, self.net), source, self.max_len, beam=self.beam, length_penalty=self.length_penalty
            )
            outputs += [self.target_vocabulary.decode(ids) for ids in decoded.ids]
        return outputs


def open_translator(ckpt, beam: int | None = None, device: str = "cpu") -> Translator:
    from zoo.inference.network import open_network

    if device == "cuda" and not torch.cuda.is_available():
        raise ZooError("device=cuda but this machine has no CUDA GPU; use device=cpu")
    return Translator(open_network(ckpt), beam, device)


def sentences_of(source: str | None, given: str | None, column: str = "source") -> list[str]:
    """The sentences a command line names: `source=` itself, or `input=`'s file (zoo.data.pairs_files.read_sources)."""
    if source and given:
        raise ZooError("give source=<a sentence> or input=<a file of sentences>, not both")
    if source:
        return [source]
    if given:
        return read_sources(Path(given), "input", column)
    raise ZooError('a translation model needs source="<a sentence>" or input=<a file of sentences, one a line>')


def write_translations(target: Path, sources: list[str], outputs: list[str]) -> None:
    """A CSV of source and translation, one row per sentence, written atomically."""
    import csv

    def write(partial: Path) -> None:
        with open(partial, "w", newline="", encoding="utf-8") as file:
            writer = csv.writer(file)
            writer.writerow(["source", "translation"])
            writer.writerows(zip(sources, outputs, strict=True))

    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(target, write)
    except OSError as error:
        raise ZooError(f"could not write {target}: {error.strerror}; choose another output=...") from None
