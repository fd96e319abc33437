"""The generalization gap: how much better the network does on the samples it trained on than on new ones.

The training accuracy logged during training (`train/acc`) is measured on the fly, in train mode (dropout
on, batch statistics), by weights that change within the epoch; it is not the accuracy of the tested network
on its training data. So once, after testing, this view runs the tested weights in eval mode over the whole
training split the run actually trained on (its `data.train_fraction` part) and reports

    eval_train_acc   that accuracy
    gap              eval_train_acc - test/acc

in metrics.json and the HPARAMS row (`zoo/eval_train_acc`, `zoo/gap`). The training and validation curves on
one chart are in TensorBoard's CUSTOM SCALARS tab (zoo.callbacks.tensorboard).
"""

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_only

from zoo.views.base import measuring


def split_accuracy(net: torch.nn.Module, datamodule, split: str, batch_size: int | None = None) -> float:
    """The accuracy of `net` (in eval mode) on one split of a set-up data module ("train", "val", "test")."""
    inputs, targets = datamodule.splits[split]
    batch_size = batch_size or datamodule.eval_batch_size
    correct = 0
    with measuring(net):
        for start in range(0, len(targets), batch_size):
            logits = net(inputs[start : start + batch_size])
            correct += int((logits.argmax(dim=1) == targets[start : start + batch_size]).sum())
    return correct / len(targets)


class Generalization(L.Callback):
    """After testing: the tested network's accuracy on its training split, and the gap to its test accuracy."""

    def __init__(self) -> None:
        self.results: dict[str, float] = {}

    @rank_zero_only
    def on_test_end(self, trainer, pl_module) -> None:
        test_acc = trainer.callback_metrics.get("test/acc")
        if test_acc is None:
            return
        with trainer.precision_plugin.forward_context():  # the test's precision, which test/acc was measured in
            train_acc = split_accuracy(pl_module.net, trainer.datamodule, "train")
        self.results = {"eval_train_acc": train_acc, "gap": train_acc - float(test_acc)}
