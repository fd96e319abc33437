"""What a run learns. A task is a LightningModule around any network the model registry builds for it; it
declares its loss, its metrics and their direction, what the best checkpoint monitors, what the HPARAMS row
and metrics.json hold, and what a sample of its output looks like. `zoo.training.train(cfg)` asks the task and
never which task it runs.

One module per task, each with its config in conf/task/<name>.yaml; a data set declares the task it trains
(its module's `task` attribute, its config's override of the task group), so `data=text` is enough.
"""

from typing import Any

from hydra.utils import get_class
from omegaconf import OmegaConf


def task_declares(key: str, _root_) -> Any:
    """`${task_declares:monitor}` in a config: what the run's task class declares (conf/callbacks/ asks it
    which metric chooses the best checkpoint, and in which direction)."""
    return getattr(get_class(_root_.task._target_), key)


OmegaConf.register_new_resolver("task_declares", task_declares, replace=True)
