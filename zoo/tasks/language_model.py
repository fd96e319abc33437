"""Character-level language modelling: every position predicts the next symbol. Loss in nats per
character, bits per character (`bpc`) and perplexity (`ppl`); the best checkpoint has the lowest
validation loss. After every validation a sample from a fixed prompt goes to TensorBoard's TEXT tab."""

import math
from typing import ClassVar

import lightning as L
import torch
import torch.nn.functional as F

from zoo.data.vocabulary import IGNORED, Vocabulary
from zoo.tasks.base import Task


class LanguageModel(Task):
    name = "language_model"
    metrics = ("loss", "bpc", "ppl")
    monitor, mode = "val/loss", "min"
    headline = "test/bpc"
    hp_metrics: ClassVar[tuple[str, ...]] = ("test/bpc", "val/loss_best", "test/loss", "test/ppl")

    def __init__(
        self,
        net,
        optimizer=None,
        scheduler=None,
        label_smoothing: float = 0.0,
        hparams: dict | None = None,
        sample: dict | None = None,
        views: dict | None = None,
    ) -> None:
        super().__init__(net, optimizer, scheduler, label_smoothing, hparams, views)
        self.vocabulary = Vocabulary.from_dict(self.hparams["dataset"]["vocabulary"])
        self.context = int(self.hparams["dataset"]["context"])
        self.sample_settings = dict(sample or {})
        if self.sample_settings:
            prompt = self.sample_settings.get("prompt") or self.vocabulary.default_prompt()
            self.vocabulary.encode_prompt(prompt, "task.sample.prompt")  # refused now, not at epoch 1
            self.sample_settings["prompt"] = prompt

    def derived(self, values) -> dict[str, torch.Tensor]:
        return {"bpc": values["loss"] / math.log(2), "ppl": values["loss"].exp()}

    @classmethod
    def example_input(cls, model_inputs) -> torch.Tensor:
        return torch.zeros(2, model_inputs["context"], dtype=torch.long)

    def step(self, batch, stage) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = batch
        logits = self(x)
        smoothing = self.label_smoothing if stage == "train" else 0.0
        loss = F.cross_entropy(logits.flatten(0, 1), y.flatten(), ignore_index=IGNORED, label_smoothing=smoothing)
        # Weighted by the characters predicted, not the windows: a padded last window counts for what it holds.
        self.metrics_of(stage)["loss"].update(loss, weight=(y != IGNORED).sum())
        return loss, logits

    def generate(
        self, prompt: str, length: int, temperature: float = 1.0, top_k: int | None = None, seed: int = 0
    ) -> str:
        """`length` characters after `prompt`, sampled; the same seed gives the same text."""
        from zoo.models.sampling import sample_text

        return sample_text(
            self.net, self.vocabulary, self.context, prompt, length, temperature=temperature, top_k=top_k, seed=seed
        )

    def callbacks(self) -> list[L.Callback]:
        from zoo.callbacks.tensorboard import TextSamples

        return super().callbacks() + ([TextSamples(**self.sample_settings)] if self.sample_settings else [])
