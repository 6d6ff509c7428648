"""Typed errors and the exit statuses every command shares.

An EcrwatchError carries what went wrong and a hint saying what to do about it; the CLI prints both and
exits with the error's status. Messages never contain credentials or tokens.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FINDINGS = 1  # exposures at or above --fail-on
EXIT_USAGE = 2  # bad options or configuration: nothing could run
EXIT_INCOMPLETE = 3  # something could not be read or applied; beats EXIT_FINDINGS


class EcrwatchError(Exception):
    """An error the user can act on."""

    exit_status = EXIT_INCOMPLETE

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


class UsageError(EcrwatchError):
    """Bad input the user must fix before anything can run (exit 2)."""

    exit_status = EXIT_USAGE


class CredentialsError(UsageError):
    """No usable AWS credentials (exit 2)."""

    code: str | None = None  # the AWS error code, where AWS refused them


class AwsCallError(EcrwatchError):
    """An AWS call failed after botocore's retries (exit 3)."""

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        *,
        service: str,
        operation: str,
        code: str | None,
        region: str | None = None,
    ) -> None:
        super().__init__(message, hint)
        self.service = service
        self.operation = operation
        self.code = code
        self.region = region


class TimeoutWaitingError(EcrwatchError):
    """A bounded wait ran out (exit 3)."""
