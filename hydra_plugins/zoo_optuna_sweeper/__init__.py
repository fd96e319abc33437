"""zoo's Optuna sweeper for Hydra (`python train.py hparams_search=optuna`): an Optuna study whose trials are jobs of
Hydra's launcher and whose objective is the value each job returns. Its settings are conf/hydra/sweeper/zoo_optuna.yaml.

Hydra finds plugins by listing the folders of the `hydra_plugins` namespace package when it starts, every run:
nothing here imports Optuna (a third of a second) until a study runs."""


def register() -> None:
    """Make the sweeper known to Hydra in this process. Hydra's listing finds it in an installed zoo and in a
    checkout's folder, but not through the import hook of an editable install (`pip install -e .`), whose
    `zoo-train` and `pytest` would otherwise stop at "Unknown plugin class"; zoo's command line calls this."""
    from hydra.core.plugins import Plugins

    from hydra_plugins.zoo_optuna_sweeper.sweeper import OptunaSweeper

    Plugins.instance().register(OptunaSweeper)
