"""zoo-which's protocol (zoo.compare.which): its settings (conf/which.yaml, the command's flags and train.py
overrides), its folder, named by them, and what it has done (protocol.json), which is how the same command continues
a protocol that was stopped; and its plan, said before anything runs: what the data holds that could make the scores
lie, what will run and about how long that takes, refined as runs finish.
"""

import argparse
import hashlib
import json
import math
import shlex
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from zoo.configs import CONFIG_DIR, plain
from zoo.errors import ZooError
from zoo.files import write_text_atomically

SETTINGS = Path(CONFIG_DIR) / "which.yaml"
# What zoo-which sets in every job itself.
CHOSEN = ("model", "data.folds", "data.fold", "data.repeats", "seed", "paths.log_dir", "hparams_search")


class Protocol:
    """One protocol: its settings, its folder and what it has done (protocol.json)."""

    def __init__(self, args: argparse.Namespace, argv: list[str]) -> None:
        settings = OmegaConf.load(SETTINGS)
        self.families = list(args.families or settings.families)
        self.folds = args.folds if args.folds is not None else int(settings.folds)
        self.repeats = args.repeats if args.repeats is not None else int(settings.repeats)
        self.trials = args.trials if args.trials is not None else int(settings.trials)
        self.seed = args.seed if args.seed is not None else int(settings.seed)
        self.overrides = list(args.overrides)
        if self.trials < 0 or self.folds < 2 or self.repeats < 1:
            raise ZooError("zoo-which needs --trials 0 or more, --folds 2 or more and --repeats 1 or more")
        for override in self.overrides:
            key = override.lstrip("+~").split("=", 1)[0]
            if key in CHOSEN or key.startswith(("hydra", "-")):
                raise ZooError(
                    f"zoo-which sets {key} in every run itself: leave out {override} (the families are --families, "
                    f"the folds --folds, the seed --seed; paths.log_dir is --log-dir)"
                )
        known = OmegaConf.to_container(settings.search)
        assert isinstance(known, dict)
        self.search = {family: {**known.get("all", {}), **known.get(family, {})} for family in self.families}
        self.step_ms, self.job_seconds = plain(settings.step_ms), float(settings.job_seconds)
        self.command = shlex.join(["zoo-which", *argv])
        data: dict[str, Any] = dict(o.split("=", 1) for o in self.overrides if o.startswith("data") and "=" in o)
        self.data = data.get("data", "mnist1d")
        if self.data not in ("table", "images"):
            raise ZooError(
                f"zoo-which compares the families on your own data, data=table or data=images (their folds), not "
                f"data={self.data}: e.g. zoo-which data=table data.path=houses.csv data.target=price"
            )
        plan = [self.families, self.folds, self.repeats, self.trials, self.seed, self.overrides, self.search]
        digest = hashlib.sha1(json.dumps(plan, sort_keys=True).encode()).hexdigest()[:8]
        label = Path(data.get("data.path", self.data)).stem or self.data
        self.folder = Path(args.log_dir).expanduser().resolve() / "which" / f"{label}_{digest}"
        self.file = self.folder / "protocol.json"
        saved = json.loads(self.file.read_text()) if self.file.is_file() else {}
        self.best: dict[str, dict] = saved.get("best", {})
        self.done: dict[str, dict[str, float]] = saved.get("done", {})
        self.defaults: dict[str, float] = saved.get("defaults", {})
        self.estimates: dict[str, float] = {}  # seconds per run of each family, by plan()
        self.measured = self.expected = 0.0  # seconds the runs so far took, and their estimates

    def jobs_left(self, family: str) -> int:
        """The runs of `family` still to run: its search's (the defaults and its trials) and its folds'."""
        searching = 1 + self.trials if self.trials and family not in self.best else 0
        return searching + self.fold_count - len(self.done.get(family, {}))

    def time_left(self) -> float:
        """Seconds the runs still to run should take: their estimates (`plan`), scaled by how the runs so far
        measured against theirs."""
        estimated = sum(self.estimates[family] * self.jobs_left(family) for family in self.families)
        return estimated * (self.measured / self.expected if self.expected else 1.0)

    def took(self, family: str, seconds: float, jobs: int = 1) -> None:
        """`jobs` runs of `family` took `seconds`: what refines the estimate of the rest."""
        self.measured += seconds
        self.expected += self.estimates[family] * jobs

    @property
    def fold_count(self) -> int:
        return self.folds * self.repeats

    def fold_settings(self, fold: int) -> list[str]:
        return [f"data.folds={self.folds}", f"data.fold={fold}", f"data.repeats={self.repeats}", f"seed={self.seed}"]

    def save(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        state = {
            "command": self.command,
            "families": self.families,
            "folds": self.folds,
            "repeats": self.repeats,
            "trials": self.trials,
            "seed": self.seed,
            "overrides": self.overrides,
            "search": self.search,
            "defaults": self.defaults,
            "best": self.best,
            "done": self.done,
        }
        write_text_atomically(self.file, json.dumps(state, indent=2) + "\n")


def composed(overrides: list[str]) -> DictConfig:
    """The config train.py would compose for `overrides` (with the task the data chooses)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    from zoo.registry import register_resolvers
    from zoo.training.checks import composition_error
    from zoo.training.command import task_chosen_by_the_data

    register_resolvers()
    chosen = task_chosen_by_the_data(OverridesParser.create().parse_overrides(overrides))
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
            return compose(config_name="train", overrides=[*overrides, *chosen, "paths.output_dir=unused"])
    except HydraException as error:
        raise composition_error(error, {}) from None
    finally:
        GlobalHydra.instance().clear()


def plan(protocol: Protocol) -> dict[str, DictConfig]:
    """Read the data as fold 1 splits it, say what could make its scores lie, what will run and about how long it
    takes; each family's config."""
    from hydra.utils import instantiate

    from zoo.registry import load_class

    configs = {
        family: composed([*protocol.overrides, f"model={family}", *protocol.fold_settings(0)])
        for family in protocol.families
    }
    first = next(iter(configs.values()))
    data = instantiate(first.data)
    notes = data.data_notes()
    sizes = {split: len(rows) for split, rows in data.indices.items()}
    if not sizes["val"]:
        raise ZooError(
            f"fold 1 leaves no validation samples to choose and stop by (data.val_fraction={first.data.val_fraction} "
            f"of its {sizes['train']:,} training samples): raise data.val_fraction, or use fewer --folds"
        )
    task = load_class(first.task._target_).name
    print(f"zoo-which: which family for {data_label(first)} ({task}, {sum(sizes.values()):,} samples)?", flush=True)
    for note in notes:
        print(note.line(), flush=True)
    search_runs = (1 + protocol.trials) * len(protocol.families) if protocol.trials else 0
    fold_runs = protocol.fold_count * len(protocol.families)
    protocol.estimates = {family: job_seconds(protocol, cfg, sizes["train"]) for family, cfg in configs.items()}
    left = protocol.time_left()
    folds = f"{protocol.folds}-fold cross-validation" + (f" x {protocol.repeats}" if protocol.repeats > 1 else "")
    lines = [
        f"families {', '.join(protocol.families)}; {folds}, seed {protocol.seed}",
        (
            f"search: each family's defaults and {protocol.trials} random settings (conf/which.yaml), trained on fold "
            f"1's {sizes['train']:,} training samples, scored on its {sizes['val']:,} validation samples"
            if protocol.trials
            else "no search (--trials 0): every family with its defaults"
        ),
        f"then each family's best setting on all {protocol.fold_count} folds"
        + (" beside gradient boosting and a linear model on the same folds" if protocol.data == "table" else ""),
        f"{search_runs} search runs + {fold_runs} fold runs, about {duration(left)} "
        f"(from conf/which.yaml's step times on 2 CPU cores; refined as runs finish)",
        f"into {protocol.folder} (the same command again continues it, skipping finished runs)",
    ]
    for line in lines:
        print(f"  {line}", flush=True)
    return configs


def data_label(cfg: DictConfig) -> str:
    path = cfg.data.get("path")
    target = cfg.data.get("target")
    return f"{Path(str(path)).name}" + (f", target {target!r}" if target else "") if path else str(cfg.data.name)


def job_seconds(protocol: Protocol, cfg: DictConfig, train_samples: int) -> float:
    """The estimate of one run's wall time: its steps at conf/which.yaml's step time, and the start-up."""
    step = protocol.step_ms.get(protocol.data, {}).get(str(cfg.model.name), 20) / 1000
    steps = int(cfg.trainer.max_epochs) * math.ceil(train_samples / int(cfg.data.batch_size))
    return protocol.job_seconds + steps * step


def duration(seconds: float) -> str:
    return (
        f"{seconds:.0f} s"
        if seconds < 90
        else f"{seconds / 60:.0f} min"
        if seconds < 5400
        else f"{seconds / 3600:.1f} h"
    )
