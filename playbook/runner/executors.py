"""Where reports run: local worker processes or a Dask cluster, behind one interface (as ploomber's
``Serial``/``Parallel`` executors are). An executor takes jobs and yields each one's outcome as it
finishes; a crash or a lost worker becomes that report's failed outcome, never the run's."""

from __future__ import annotations

import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Iterator, Protocol

from playbook.errors import RunError
from playbook.runner.execute import execute_job
from playbook.runner.kernels import kill_trees, worker_init
from playbook.runner.outcomes import Outcome, Status
from playbook.runner.plan import Job


class Executor(Protocol):
    """Runs jobs and yields (job, outcome) as each finishes."""

    workers: int

    def run(self, jobs: list[Job]) -> Iterator[tuple[Job, Outcome]]: ...


def _failed(job: Job, reason: str) -> Outcome:
    return Outcome(job.team, job.area, Status.FAILED, team_name=job.team_name, reason=reason)


class LocalExecutor:
    """Each job in a pool of ``workers`` processes; on Ctrl-C the workers (and their kernels) are
    stopped at once."""

    def __init__(self, workers: int) -> None:
        self.workers = workers

    def run(self, jobs: list[Job]) -> Iterator[tuple[Job, Outcome]]:
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=context, initializer=worker_init)
        stopped = False
        try:
            futures = {pool.submit(execute_job, job): job for job in jobs}
            for future in as_completed(futures):
                job = futures[future]
                try:
                    outcome = future.result()
                except Exception as err:  # noqa: BLE001 - a worker crash fails only its report
                    outcome = _failed(job, f"worker crashed: {err}")
                yield job, outcome
        except KeyboardInterrupt:
            stopped = True
            # Workers ignore SIGINT (see kernels.worker_init), so the run decides: they and their
            # kernels (each in a session of its own, out of the terminal's reach) are stopped at once.
            kill_trees([w.pid for w in multiprocessing.active_children() if w.pid])
            raise
        finally:
            pool.shutdown(wait=not stopped, cancel_futures=True)


class DaskExecutor:
    """Each job as a task on the Dask cluster at ``address``; its workers must reach the workspace,
    the params and the reports folder at the same paths and have the ``playbook`` kernel."""

    def __init__(self, address: str) -> None:
        try:
            from distributed import Client
        except ImportError:
            raise RunError("--dask needs the distributed package: pip install 'playbook[cluster]'") from None
        try:
            self.client = Client(address, timeout="10s")
        except (OSError, TimeoutError) as err:
            raise RunError(f"cannot reach the Dask scheduler at {address}: {err}") from None
        self.workers = len(self.client.scheduler_info().get("workers", {})) or 1

    def run(self, jobs: list[Job]) -> Iterator[tuple[Job, Outcome]]:
        from distributed import as_completed as completed

        with self.client:
            futures = {
                self.client.submit(execute_job, job, pure=False, key=f"playbook-{job.team}-{job.area}-{os.getpid()}-{time.time_ns()}"): job
                for job in jobs
            }
            for future in completed(futures):
                job = futures[future]
                try:
                    yield job, future.result()
                except Exception as err:  # noqa: BLE001 - a lost worker fails only its report
                    yield job, _failed(job, f"Dask task failed: {err}")
