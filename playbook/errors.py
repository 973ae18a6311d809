"""One error hierarchy for everything the playbook reports to a user.

Every message says what went wrong, where (file, key or column, line or rows), what was
expected and what was found, so that the person reading a scheduled run's log can fix the
input without reading code.
"""

from __future__ import annotations


class PlaybookError(Exception):
    """Raised when the playbook cannot continue; the message is meant for the user."""


class UsageError(PlaybookError):
    """Raised when the command line asks for something that does not exist (a team, an area)."""


class ParamsError(PlaybookError):
    """Raised when a parameters file is malformed, has an unknown key or a value of the wrong type."""


class WorkspaceError(PlaybookError):
    """Raised when a workspace folder or file cannot be opened at all."""


class SchemaError(WorkspaceError):
    """Raised when a table is missing, lacks a column, or holds values that do not parse as their type."""


class RunError(PlaybookError):
    """Raised when the runner itself cannot proceed (output folder, kernel missing)."""


class ImportDataError(PlaybookError):
    """Raised when an export cannot be imported: names the file, the column and what was expected."""


class OutputWriteError(RunError):
    """Raised when a run's index or manifest cannot be written (a full disk); the previous ones stay.

    ``outcomes`` holds what the run did before it stopped, for the summary.
    """

    def __init__(self, message: str, outcomes: list | None = None):
        super().__init__(message)
        self.outcomes = outcomes or []


class RunInterrupted(PlaybookError):
    """Raised when a run is stopped with Ctrl-C (SIGINT), after it has recorded what finished.

    ``outcomes`` holds every report's outcome, those cut short marked as interrupted.
    """

    def __init__(self, message: str, outcomes: list | None = None):
        super().__init__(message)
        self.outcomes = outcomes or []
