"""What a translation model writes and where it looks: after every validation, the first validation pairs' source,
truth and output in TensorBoard's TEXT tab (`TranslationSamples`), and for the families with attention (model=rnn
with model.attention=additive|dot, model=transformer, model=cnn) a map of the source positions each output symbol
attended to (`AttentionMaps`, IMAGES: the last decoder layer's cross-attention, averaged over heads).

The textbook claim: a decoder with attention looks back at the source symbol it is writing about; for reversal, the
map is the anti-diagonal.
"""

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_only
from matplotlib.figure import Figure

from zoo.callbacks.tensorboard import tensorboard_writer
from zoo.callbacks.trackers import log_figure, takes_figures
from zoo.views.base import POSITIVE_INT, EveryFewEpochs, measuring, require


def first_pairs(trainer, count: int) -> tuple[str, torch.Tensor, list[tuple[str, str]]]:
    """(split, source ids, sentence pairs) of the first `count` validation pairs (test pairs where there is no
    validation split)."""
    datamodule = trainer.datamodule
    split = "val" if datamodule.pairs.get("val") else "test"
    return split, datamodule.splits[split][0][:count], datamodule.pairs[split][:count]


def cell(text: str) -> str:
    """A sentence in a Markdown table cell: its bars escaped, its spaces kept visible where they lead or trail."""
    return "`" + text.replace("|", "\\|").replace("`", "'") + "`" if text else "(nothing)"


class TranslationSamples(L.Callback):
    """After every validation, the first `examples` validation pairs translated greedily, as a table of source, truth
    and output (and whether they match) in the TEXT tab, under `samples/translations`."""

    def __init__(self, examples: int = 8) -> None:
        require(examples=(examples, POSITIVE_INT))
        self.examples = examples

    @rank_zero_only
    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        writer = tensorboard_writer(trainer)
        if writer is None or trainer.sanity_checking:
            return
        _, source, pairs = first_pairs(trainer, self.examples)
        with measuring(pl_module.net):
            outputs = pl_module.translate_ids(source)[0]
        rows = [
            f"| {cell(src)} | {cell(truth)} | {cell(out)} | {'yes' if out == truth else 'no'} |"
            for (src, truth), out in zip(pairs, outputs, strict=True)
        ]
        table = "\n".join(["| source | truth | output | exact |", "|---|---|---|---|", *rows])
        writer.add_text("samples/translations", f"step {trainer.global_step}, greedy:\n\n{table}", trainer.global_step)


def attention_figure(maps: list[tuple[list[str], list[str], torch.Tensor]]) -> Figure:
    """One panel per translation: output symbols (rows, the end symbol last) against source symbols (columns)."""
    figure = Figure(figsize=(4.2 * len(maps), 4.4))
    for index, (source, output, weights) in enumerate(maps, start=1):
        axes = figure.add_subplot(1, len(maps), index)
        axes.imshow(weights.numpy(), cmap="viridis", vmin=0, vmax=1, aspect="auto")
        font = 7 if max(len(source), len(output)) <= 30 else 5
        axes.set_xticks(range(len(source)), source, rotation=90, fontsize=font)
        axes.set_yticks(range(len(output)), output, fontsize=font)
        axes.set_xlabel("source")
        axes.set_ylabel("output")
    figure.tight_layout()
    return figure


class AttentionMaps(EveryFewEpochs):
    """Every `every_n_epochs` epochs and at the end of training: the attention of the first `examples` validation
    pairs' greedy translations, in IMAGES under `attention/maps`. Nothing for a network without attention."""

    def __init__(self, examples: int = 4, every_n_epochs: int = 5) -> None:
        super().__init__(every_n_epochs)
        require(examples=(examples, POSITIVE_INT))
        self.examples = examples

    def draw(self, trainer, pl_module) -> None:
        if not getattr(pl_module.net, "has_attention", False) or not takes_figures(trainer):
            return
        _, source, pairs = first_pairs(trainer, self.examples)
        with measuring(pl_module.net):
            decoded = pl_module.translate_ids(source)[1]
        maps = []
        for (sentence, _), ids, weights in zip(pairs, decoded.ids, decoded.attention, strict=True):
            if weights is None:
                continue
            symbols = pl_module.source_vocabulary.tokens(sentence)
            written = [pl_module.target_vocabulary.symbols[i] for i in ids] + ["</s>"]
            maps.append((symbols, written, weights[: len(written), : len(symbols)]))
        if maps:
            log_figure(trainer, "attention/maps", attention_figure(maps), trainer.global_step)
