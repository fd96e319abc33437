"""zoo from Python, for notebooks: `zoo.train("model=cnn", "data=digits")` is `python train.py model=cnn data=digits`
in a function, and `zoo.open_run(run)` gives a finished run's network and data back for figures.

Without Hydra's command line there is no HydraConfig, so the run directory and the TensorBoard run's name,
which the command line takes from Hydra, are computed here from the same settings (conf/hydra/default.yaml).
"""

from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra._internal.config_loader_impl import get_overrides_dirname
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from zoo.configs import CONFIG_DIR, plain
from zoo.errors import ZooError
from zoo.runs.folder import continued_run, new_folder, run_name
from zoo.training.checks import check_overrides
from zoo.training.command import check_log_dir


def train(*given: str) -> dict:
    """Train as `python train.py <overrides>` would: the same config, the same checks (a bad override raises
    a one-line ZooError), the run written to a new logs/runs/<time>_<data>_<model> and TensorBoard run.
    Returns the run's metrics (what metrics.json holds) and "run_dir", the run's folder."""
    overrides = list(given)
    for override in overrides:
        if not isinstance(override, str):
            raise ZooError(f'zoo.train takes overrides as strings such as "model=cnn", not {override!r}')
        if override.startswith("-") or override.startswith(("hydra.", "hydra/", "+hydra", "~hydra")):
            raise ZooError(
                f"{override} is for the command line (python train.py); zoo.train runs one job with "
                f'the overrides of its config, such as "model=cnn" "data=digits"'
            )
    cfg = check_overrides(overrides, CONFIG_DIR)[0]
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        if cfg.resume:
            cfg = resumed_job(cfg, overrides)
        else:
            check_log_dir(Path(cfg.paths.log_dir))
            cfg = new_job(overrides)
    from zoo.training.train import train as train_config  # here, so `import zoo` stays light

    result = train_config(cfg)
    return {**result, "run_dir": cfg.paths.output_dir}


def new_job(overrides: list[str]) -> DictConfig:
    """The job's config, its output_dir and run_name set as Hydra's command line sets them: the run
    directory is conf/hydra/default.yaml's run.dir, the TensorBoard run is named after the start time and
    the overrides (zoo.runs.folder.run_name, as the command line names it). A second run started in the same second gets
    the next free `_<n>` on both, so no two runs share a folder."""
    cfg = compose(config_name="train", overrides=overrides, return_hydra_config=True)
    hydra = cfg.hydra
    # run.dir and run_name both hold ${now:...}: one config resolves it once (Hydra caches it), so they agree.
    run_dir, started = Path(hydra.run.dir), cfg.run_name
    naming = hydra.job.config.override_dirname
    overrides_name = get_overrides_dirname(
        OverridesParser.create().parse_overrides(overrides),
        exclude_keys=list(naming.exclude_keys),
        item_sep=naming.item_sep,
        kv_sep=naming.kv_sep,
    ).replace("/", "_")
    with read_write(cfg), open_dict(cfg):
        del cfg["hydra"]
    if hydra_sets_output_dir(cfg):
        folder = new_folder(run_dir.absolute())
        cfg.paths.output_dir, suffix = str(folder), folder.name[len(run_dir.name) :]
    else:  # paths.output_dir=... given: the run writes there, as on the command line
        suffix = ""
        Path(cfg.paths.output_dir).mkdir(parents=True, exist_ok=True)
    cfg.run_name = run_name(f"{started}{suffix}", overrides_name)
    save_hydra_files(cfg, overrides)
    return cfg


def save_hydra_files(cfg: DictConfig, overrides: list[str]) -> None:
    """The run directory's .hydra/config.yaml and overrides.yaml, as the command line writes them."""
    folder = Path(cfg.paths.output_dir) / ".hydra"
    folder.mkdir(exist_ok=True)
    OmegaConf.save(cfg, folder / "config.yaml")
    OmegaConf.save(OmegaConf.create(overrides), folder / "overrides.yaml")


def resumed_job(composed: DictConfig, overrides: list[str]) -> DictConfig:
    """The config of the run `resume=` continues, checked against the overrides as on the command line
    (zoo.training.resume); it goes on writing where the run wrote."""
    from zoo.training.resume import resumed_config

    if hydra_sets_output_dir(composed):  # as the command line does (zoo.training.command.continue_in_run_dir)
        composed.paths.output_dir = str(continued_run(composed.resume) or Path(composed.resume).resolve().parent)
    return resumed_config(composed, overrides)


def hydra_sets_output_dir(cfg: DictConfig) -> bool:
    """paths.output_dir is Hydra's run directory (conf/paths/default.yaml), not one the overrides give."""
    return str(plain(cfg.paths, resolve=False)["output_dir"]).startswith("${hydra:")
