"""distrib's exception tree.

- DistribError: anything distrib reports to a person (one clear line each)
  - ReleaseError: a release file is invalid; carries every Problem found (exit 2)
  - UsageError: a command was asked for something that cannot be (unknown id, bad flag value; exit 2)
  - ConfigError: settings are missing or contradictory (exit 2)
  - StoreError: the database cannot be opened or upgraded (exit 1)
  - RenderError: a template failed; names the template file and line (exit 2)
  - SourceError: an import source is unreadable, not UTF-8, too large or unsupported (exit 2)
  - NetworkError: an import URL could not be fetched (exit 1)
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with an input file, located to the line."""

    file: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.field}: {self.message}"


class DistribError(Exception):
    """Base of every error distrib reports to a person."""

    exit_code = 1


class ReleaseError(DistribError):
    """A release file is invalid."""

    exit_code = 2

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class UsageError(DistribError):
    exit_code = 2


class ConfigError(DistribError):
    exit_code = 2


class StoreError(DistribError):
    exit_code = 1


class RenderError(DistribError):
    exit_code = 2


class SourceError(DistribError):
    """An import source cannot be used: unreadable, not UTF-8, too large, an unsupported URL or content."""

    exit_code = 2


class NetworkError(DistribError):
    """An import URL could not be fetched (connection, timeout, server error)."""

    exit_code = 1
