"""Translation (sequence to sequence): the network reads a source sentence and writes its target one symbol at a time.
Training feeds it the true previous symbols (teacher forcing): the loss is the cross-entropy of every target symbol,
and token accuracy counts the symbols it predicts right so. Validation and test also translate each source on their
own (zoo.models.decoding: greedily; the test split by beam search where `task.generate.beam` > 1) and score the
sentences: exact match, and chrF and BLEU as sacreBLEU computes them on a corpus. The best checkpoint has the
highest validation chrF, which says something on every kind of data (exact match is near 0 on natural language).
"""

from typing import Any, ClassVar, cast

import torch
import torch.nn.functional as F
from torchmetrics import Metric

from zoo.data.pairs_files import PAD, PairVocabulary
from zoo.errors import ZooError
from zoo.models.decoding import Decoded, EncoderDecoder, decode
from zoo.tasks.base import Fraction, Task, WeightedMean


def require_sacrebleu() -> None:
    import importlib.util

    if importlib.util.find_spec("sacrebleu") is None:
        raise ZooError(
            "task=translation scores chrF and BLEU with sacrebleu, which is not installed: install zoo's "
            'translation extra, pip install "zoo[translation]" (in a checkout: pip install -e ".[translation]")'
        )


class CorpusScore(Metric):
    """sacreBLEU's corpus-level chrF (`chrf`: character 6-grams, beta 2, no word n-grams) or BLEU (`bleu`: 13a
    tokenization, exponential smoothing), on the scale 0-100. Each update adds its sentences' statistics, which
    sacreBLEU sums over a corpus before it scores: exact over any number of batches and processes.

    Not torchmetrics' CHRFScore and SacreBLEUScore: on short outputs they differ from sacreBLEU's definitions
    (CHRFScore scores "168" against "168" 50, not 100: it counts the character n-grams longer than the sentence as
    misses; SacreBLEUScore has no exponential smoothing, so a sentence without a matching 4-gram scores 0)."""

    full_state_update = False
    stats: torch.Tensor

    def __init__(self, kind: str) -> None:
        super().__init__()
        require_sacrebleu()
        from sacrebleu.metrics import BLEU, CHRF

        self.scorer = CHRF() if kind == "chrf" else BLEU()
        width = len(self.scorer._extract_corpus_statistics(["a"], [["a"]])[0])
        self.add_state("stats", torch.zeros(width, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, hypotheses: list[str], references: list[str]) -> None:
        stats = self.scorer._extract_corpus_statistics(hypotheses, [references])
        self.stats += torch.tensor(stats, dtype=torch.long).sum(0).to(self.stats.device)

    def compute(self) -> torch.Tensor:
        return torch.tensor(self.scorer._compute_score_from_stats(self.stats.tolist()).score, dtype=torch.float64)


def trimmed(ids: torch.Tensor) -> torch.Tensor:
    """A batch of padded ids without the columns that are padding in every row."""
    used = int((ids != PAD).any(0).nonzero().max()) + 1 if ids.numel() else 1
    return ids[:, :used]


class Translation(Task):
    name = "translation"
    metrics = ("loss", "token_acc", "exact", "chrf", "bleu")
    monitor, mode = "val/chrf", "max"
    headline = "test/chrf"
    hp_metrics: ClassVar[tuple[str, ...]] = (
        "test/chrf",
        "test/bleu",
        "test/exact",
        "val/chrf_best",
        "test/token_acc",
        "test/loss",
    )

    def __init__(
        self,
        net,
        optimizer=None,
        scheduler=None,
        label_smoothing: float = 0.0,
        hparams: dict | None = None,
        generate: dict | None = None,
        views: dict | None = None,
    ) -> None:
        require_sacrebleu()
        settings = {"beam": 1, "length_penalty": 1.0, **(generate or {})}
        beam, penalty = settings["beam"], settings["length_penalty"]
        if not (isinstance(beam, int) and not isinstance(beam, bool) and beam >= 1):
            raise ZooError(f"task.generate.beam={beam!r} must be a positive integer (1: greedy decoding)")
        if not (isinstance(penalty, (int, float)) and not isinstance(penalty, bool) and penalty >= 0):
            raise ZooError(f"task.generate.length_penalty={penalty!r} must be a number >= 0")
        super().__init__(net, optimizer, scheduler, label_smoothing, hparams, views)
        dataset = self.hparams["dataset"]
        self.source_vocabulary = PairVocabulary.from_dict(dataset["source_vocabulary"])
        self.target_vocabulary = PairVocabulary.from_dict(dataset["target_vocabulary"])
        self.max_len = int(dataset["max_len"])
        self.beam, self.length_penalty = beam, float(penalty)

    def make_metrics(self) -> dict[str, Metric]:
        return {
            "loss": WeightedMean(),
            "token_acc": Fraction(),
            "exact": Fraction(),
            "chrf": CorpusScore("chrf"),
            "bleu": CorpusScore("bleu"),
        }

    @classmethod
    def logged(cls, stage: str) -> tuple[str, ...]:
        """Training translates nothing on its own: it logs the teacher-forced loss and token accuracy alone."""
        return cls.metrics[:2] if stage == "train" else cls.metrics

    @classmethod
    def example_input(cls, model_inputs) -> tuple[torch.Tensor, torch.Tensor]:
        """Two sources of 5 symbols and their targets' first 4 (every id 4: the first symbol of the vocabularies)."""
        return torch.full((2, 5), 4, dtype=torch.long), torch.full((2, 4), 4, dtype=torch.long)

    def step(self, batch, stage) -> tuple[torch.Tensor, torch.Tensor]:
        source, target, index = batch
        source, target = trimmed(source), trimmed(target)
        expected = target[:, 1:]
        logits = self(source, target[:, :-1])
        smoothing = self.label_smoothing if stage == "train" else 0.0
        loss = F.cross_entropy(logits.flatten(0, 1), expected.flatten(), ignore_index=PAD, label_smoothing=smoothing)
        kept = expected != PAD
        metrics = self.metrics_of(stage)
        metrics["loss"].update(loss, weight=kept.sum())
        metrics["token_acc"].update((logits.detach().argmax(-1) == expected)[kept])
        if stage != "train":
            outputs = self.translate_ids(source, beam=self.beam if stage == "test" else 1)[0]
            pairs = cast(Any, self.trainer).datamodule.pairs[stage]  # the data module of the loop (zoo.data.pairs)
            references = [pairs[i][1] for i in index.tolist()]
            same = [output == reference for output, reference in zip(outputs, references, strict=True)]
            metrics["exact"].update(torch.tensor(same, device=source.device))
            metrics["chrf"].update(outputs, references)
            metrics["bleu"].update(outputs, references)
        return loss, logits

    def translate_ids(self, source: torch.Tensor, beam: int = 1) -> tuple[list[str], Decoded]:
        """The translations of a batch of source ids, and what decoding found (ids, attention, scores)."""
        decoded = decode(
            cast(EncoderDecoder, self.net), source, self.max_len, beam=beam, length_penalty=self.length_penalty
        )
        return [self.target_vocabulary.decode(ids) for ids in decoded.ids], decoded
