"""zoo's Optuna sweeper for Hydra (`python train.py hparams_search=optuna`): an Optuna study whose trials are jobs of
Hydra's launcher and whose objective is the value each job returns. Its settings are conf/hydra/sweeper/zoo_optuna.yaml.

Hydra finds it by scanning the `hydra_plugins` namespace package when it starts, every run: nothing here imports
Optuna (a third of a second) until a study runs."""
