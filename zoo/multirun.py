"""A Hydra callback that ends a multirun with the list of its failed jobs and a non-zero exit."""

import sys

from hydra.experimental.callback import Callback


class FailureSummary(Callback):
    def __init__(self):
        self.jobs: list[list[str]] = []
        self.failures: list[tuple[list[str], str]] = []

    def on_job_end(self, config, job_return, **kwargs):
        overrides = list(job_return.overrides)
        self.jobs.append(overrides)
        value = job_return._return_value  # read directly: `.return_value` re-raises a job's exception
        if isinstance(value, BaseException):
            value = {"failed": f"{type(value).__name__}: {value}"}
        if isinstance(value, dict) and "failed" in value:
            self.failures.append((overrides, value["failed"]))

    def on_multirun_end(self, config, **kwargs):
        if not self.failures:
            return
        # Name each failed job by what sets it apart from the others (its sweep values).
        shared = set.intersection(*(set(job) for job in self.jobs))
        print(f"\n{len(self.failures)} of {len(self.jobs)} jobs failed:", file=sys.stderr)
        for overrides, reason in self.failures:
            name = " ".join(o for o in overrides if o not in shared) or " ".join(overrides)
            print(f"  {name}: {reason}", file=sys.stderr)
        sys.exit(1)
