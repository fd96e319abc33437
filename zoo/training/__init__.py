"""The training job: its two doors (`python train.py`/`zoo-train`, and `zoo.train` from Python) through Hydra's own
entry, the checks of a config, building the run's objects from it, training, resuming, multiruns, several processes,
and what a run tells when it ends."""
