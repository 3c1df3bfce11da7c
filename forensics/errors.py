"""One exception tree for the whole toolkit.

The library raises; only the CLI and notebooks turn errors into messages for people.
Every error carries structured fields and, where there is one, the next step for the user
(`hint`), so a notebook cell or a cron mail says what to do, not just what broke.
"""

from __future__ import annotations


class ForensicsError(Exception):
    """Base of every error the toolkit raises on purpose."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class UsageError(ForensicsError):
    """The caller asked for something that does not exist or cannot be combined."""

    exit_code = 2


class UnknownNameError(UsageError):
    """A format, table or query name that is not registered; lists the valid ones."""

    def __init__(self, kind: str, name: str, valid: list[str]) -> None:
        super().__init__(
            f"unknown {kind} {name!r}",
            hint=f"valid {_plural(kind)}: {', '.join(sorted(valid)) or '(none)'}",
        )
        self.kind = kind
        self.name = name
        self.valid = sorted(valid)


def _plural(kind: str) -> str:
    """'query' -> 'queries', 'format' -> 'formats', 'parameter of q' -> 'parameters of q'."""
    head, sep, tail = kind.partition(" ")
    head = head[:-1] + "ies" if head.endswith("y") else head + "s"
    return head + sep + tail


class ConfigError(UsageError):
    """A case config file (TOML) that cannot be read or says something invalid."""

    def __init__(self, message: str, *, path: str | None = None, hint: str | None = None):
        super().__init__(f"{path}: {message}" if path else message, hint=hint)
        self.path = path


class LoadError(ForensicsError):
    """A file could not be loaded at all; the case is left exactly as it was."""

    exit_code = 3

    def __init__(self, message: str, *, path: str, hint: str | None = None) -> None:
        super().__init__(f"{path}: {message}", hint=hint)
        self.path = path


class IntegrityError(LoadError):
    """A loader's own bookkeeping did not add up (lines read != loaded + rejected + other).

    This is a bug in a loader, never a property of the input: the load is rolled back.
    """


class CaseLockedError(ForensicsError):
    """Another process holds the case file for writing."""

    exit_code = 4
