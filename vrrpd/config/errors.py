"""Configuration errors: one ConfigIssue per problem, ConfigError shown to the operator as one line.

Also the two exceptions the value parsers and cross-field rules raise inside validation
(InvalidValue, RuleBroken); the validation walk (vrrpd.config.load) turns them into issues.
"""

from __future__ import annotations

from dataclasses import dataclass

# Keeps the one error line readable when several problems are reported together.
_MAX_ISSUES = 5


@dataclass(frozen=True)
class ConfigIssue:
    """One problem: where it came from, which key, the offending value (rendered), what is allowed."""

    source: str
    problem: str
    key: str | None = None
    value: str | None = None

    def __str__(self) -> str:
        parts = [self.source]
        if self.key is not None:
            parts.append(self.key if self.value is None else f"{self.key} = {self.value}")
        parts.append(self.problem)
        return one_line(": ".join(parts))


class ConfigError(Exception):
    """A configuration mistake; ``str()`` is exactly one line meant to be shown to the operator."""

    def __init__(self, *issues: ConfigIssue) -> None:
        if not issues:
            raise ValueError("ConfigError needs at least one issue")
        self.issues = issues
        super().__init__(str(self))

    def __str__(self) -> str:
        shown = "; ".join(str(issue) for issue in self.issues[:_MAX_ISSUES])
        hidden = len(self.issues) - _MAX_ISSUES
        return shown if hidden <= 0 else f"{shown}; (and {hidden} more)"


def one_line(text: str) -> str:
    return " ".join(text.split())


class InvalidValue(ValueError):
    """Raised by a value parser; the message is already the "what is allowed" text."""


class RuleBroken(ValueError):
    """A cross-field rule broken in ``__post_init__``: the key path (relative to the table) and value."""

    def __init__(self, key: tuple[str | int, ...], value: object, message: str) -> None:
        super().__init__(message)
        self.key = key
        self.value = value
