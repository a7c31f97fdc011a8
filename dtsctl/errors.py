"""User-facing errors.

Every error a user can cause is a `DtsError`: the CLI prints its message as one
line on stderr (no traceback unless --debug) and exits 1.
"""


class DtsError(Exception):
    """An error whose message says what is wrong and what to do, in one line."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ValidationFailed(DtsError):
    """The declaration has problems; each is `file:line: message`."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(problems[0] if len(problems) == 1 else f"{len(problems)} problems in the declaration")
