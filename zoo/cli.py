"""The `train.py` / `zoo-train` command line. It checks what Hydra cannot check well before importing
torch and Lightning, so a mistyped override fails in a fraction of a second, in one line."""

import os
import sys
import tempfile
from pathlib import Path

from zoo import CONFIG_DIR
from zoo.checks import check_overrides
from zoo.errors import ZooError

# Hydra's own flags, some with a value of their own: Hydra handles these command lines itself.
HYDRA_FLAGS = ("--help", "-h", "--hydra-help", "--cfg", "-c", "--config", "--info", "--version", "--shell-completion",
               "--experimental-rerun", "--resolve", "-p", "--package")


def main() -> None:
    arguments = sys.argv[1:]
    if not any(argument.startswith(HYDRA_FLAGS) for argument in arguments):
        try:
            configs = check_overrides(arguments, CONFIG_DIR)
            # A resumed run writes into its own folders (a paths.log_dir other than its own is refused).
            for log_dir in {cfg.paths.log_dir for cfg in configs if not cfg.resume}:
                check_log_dir(Path(log_dir))
            sys.argv += continue_in_run_dir(configs[0].resume)
            sys.argv += outside_the_run_dir(rank_started_outside())
        except ZooError as error:
            print(f"error: {error}", file=sys.stderr)
            sys.exit(2)
    from zoo.multirun import register_resolvers
    from zoo.training import hydra_main

    register_resolvers()
    hydra_main()


def check_log_dir(log_dir: Path) -> None:
    """Hydra creates its run directory under paths.log_dir before any zoo code runs, and fails there with
    a traceback; check that the folder can be written first."""
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=log_dir):
            pass
    except OSError as error:
        raise ZooError(f"paths.log_dir={log_dir} cannot be written ({error.strerror}); "
                       f"choose another folder with paths.log_dir=...") from None


def continue_in_run_dir(resume: str | None) -> list[str]:
    """A resumed run writes its log into the run directory it continues, not a new one, and keeps that
    directory's .hydra/ config (the run's own) as it is."""
    if not resume:
        return []
    run_dir = resumed_run_dir(resume)
    return [f"hydra.run.dir='{run_dir}'", "hydra.output_subdir=null"] if run_dir else []


def resumed_run_dir(resume: str) -> Path | None:
    """The run directory that `resume` (a run directory or a checkpoint in its checkpoints/) continues;
    None for a checkpoint kept elsewhere."""
    path = Path(resume).resolve()
    if not path.exists():
        raise ZooError(f"checkpoint {resume} does not exist")
    return path if path.is_dir() else path.parent.parent if path.parent.name == "checkpoints" else None


def rank_started_outside() -> int:
    """The global rank of a process that torchrun or SLURM started as one of several processes of one run
    (Lightning's own ddp starts its processes in the run directory already), else 0."""
    if "TORCHELASTIC_RUN_ID" in os.environ:
        return int(os.environ.get("RANK", 0))
    if int(os.environ.get("SLURM_NTASKS", 1)) > 1:
        return int(os.environ.get("SLURM_PROCID", 0))
    return 0


def outside_the_run_dir(rank: int) -> list[str]:
    """Every process starts Hydra, which would make a run directory of its own, named after the second it
    started. Only the first process writes the run's files (zoo.training.train), so the others keep
    Hydra's log in a folder of their own outside paths.log_dir."""
    if rank == 0:
        return []
    folder = tempfile.mkdtemp(prefix=f"zoo-rank{rank}-")
    return [f"hydra.run.dir='{folder}'", f"hydra.sweep.dir='{folder}'", "hydra.output_subdir=null"]


def parse_settings(program: str, arguments: list[str], usage: str, required: tuple[str, ...],
                   optional: dict) -> dict:
    """The key=value settings of zoo's small commands (zoo-eval, zoo-predict): every `required` one, and
    the `optional` ones over their defaults. -h or --help prints the usage and exits."""
    if any(argument in ("-h", "--help") for argument in arguments):
        print(usage)
        sys.exit(0)
    settings = dict(optional)
    for argument in arguments:
        key, equals, value = argument.partition("=")
        if not equals or (key not in required and key not in optional):
            raise ZooError(f"{argument!r} is not a {program} setting; {usage}")
        settings[key] = value
    for key in required:
        if not settings.get(key):
            raise ZooError(f"no {key}= given; {usage}")
    return settings


if __name__ == "__main__":
    main()
