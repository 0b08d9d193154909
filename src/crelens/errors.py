"""One exception type for bad input, so every stage reports problems the same way."""

from __future__ import annotations


class InputError(ValueError):
    """Bad user input: names the file (and line, when there is one) and the problem."""

    def __init__(self, path, problem: str, line: int | None = None):
        self.path = str(path) if path is not None else None
        self.line = line
        self.problem = problem
        where = self.path or "configuration"
        if line is not None:
            where = f"{where}, line {line}"
        super().__init__(f"{where}: {problem}")
