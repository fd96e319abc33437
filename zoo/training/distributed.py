"""Several processes training one run: what they cannot do (checked before anything trains), and which process a
run started from outside (torchrun, SLURM) is. The data's share of each process is zoo.data.base.process_share.
Light at the top: the command line asks which process it is before torch and Lightning load."""

import os
import tempfile


def check_processes(trainer, datamodule) -> None:
    """Refuse, before anything trains, what several processes cannot do: a batch that does not divide among
    them, and a multirun whose jobs Lightning would start processes for by running the command line again
    (its `ddp` does: each process would run the whole sweep, Lightning issue 11300)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode
    from lightning.pytorch.strategies.launchers.subprocess_script import _SubprocessScriptLauncher

    from zoo.data.loaders import process_share
    from zoo.training.failures import SweepStopped

    process_share(trainer, datamodule.batch_size)
    launcher = getattr(trainer.strategy, "launcher", None)
    if (
        HydraConfig.initialized()
        and HydraConfig.get().mode == RunMode.MULTIRUN
        and isinstance(launcher, _SubprocessScriptLauncher)
        and not trainer.strategy.cluster_environment.creates_processes_externally
    ):
        raise SweepStopped(
            f"a multirun (-m) cannot train its jobs on {trainer.world_size} processes with "
            f"Lightning's ddp strategy, which starts them by running the command line again, sweep "
            f"and all; use trainer.strategy=ddp_spawn, or have SLURM start them (hydra/launcher=slurm)"
        )


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
    started. Only the first process writes the run's files (zoo.training.train.train), so the others keep
    Hydra's log in a folder of their own outside paths.log_dir."""
    if rank == 0:
        return []
    folder = tempfile.mkdtemp(prefix=f"zoo-rank{rank}-")
    return [f"hydra.run.dir='{folder}'", f"hydra.sweep.dir='{folder}'", "hydra.output_subdir=null"]
