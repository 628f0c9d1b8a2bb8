"""Problems found in a request: a field path and what is wrong with it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with a request, e.g.
    ``Problem("ResourceConfig.InstanceCount", "must be >= 1")``."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class SpecError(Exception):
    """A request (or local option) that cannot run; carries every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def join_path(parent: str, child: str | int) -> str:
    """``join_path("A.B", "C") == "A.B.C"``; list indexes as ``A.B[0]``."""
    if isinstance(child, int):
        return f"{parent}[{child}]"
    return f"{parent}.{child}" if parent else child
