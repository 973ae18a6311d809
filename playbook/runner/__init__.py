"""Running the plan: rooms that each do one job.

- :mod:`~playbook.runner.plan`: which reports to render, their inputs checked and hashed first.
- :mod:`~playbook.runner.kernels`: each report's kernel on private Unix sockets; killed-run clean-up.
- :mod:`~playbook.runner.execute`: one report through papermill and nbconvert; failures become outcomes.
- :mod:`~playbook.runner.executors`: local worker processes or a Dask cluster, behind one interface.
- :mod:`~playbook.runner.outcomes`: a report's :class:`Status` and :class:`Outcome`.
- :mod:`~playbook.runner.run`: one run at a time per folder; the manifest and index (in render).

Each report runs in its own worker process and kernel, so one failing team or area never stops
the others.
"""

from playbook.runner.execute import execute_job
from playbook.runner.outcomes import Outcome, Status
from playbook.runner.outcomes import exit_status as _exit_status
from playbook.runner.plan import Job, Plan, make_plan
from playbook.runner.run import LOCK_NAME, foreign_entries, run_plan


def exit_status(outcomes: list[Outcome], plan: Plan) -> int:
    """0 when nothing failed; 2 when every report failed before running (bad params or data); else 1."""
    return _exit_status(outcomes, nothing_ran=not plan.jobs)


__all__ = ["LOCK_NAME", "Job", "Outcome", "Plan", "Status", "execute_job", "exit_status", "foreign_entries", "make_plan", "run_plan"]
