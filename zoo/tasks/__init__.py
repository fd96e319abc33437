"""What a run learns. A task is a LightningModule around any network the model registry builds for it; it
declares its loss, its metrics and their direction, what the best checkpoint monitors, what the HPARAMS row
and metrics.json hold, and what a sample of its output looks like. `zoo.training.train.train(cfg)` asks the task and
never which task it runs.

One module per task, each with its config in conf/task/<name>.yaml; a data set declares the task it trains
(its module's `task` attribute, its config's override of the task group), so `data=text` is enough.
"""
