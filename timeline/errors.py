"""What the core refuses to do, typed; the API answers each kind with its own status."""

from __future__ import annotations


class Refused(Exception):
    """The core will not do what was asked; `message` says why, for people to read."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(Refused):
    """No such object in the actor's workspace (another workspace's objects are not found)."""

    def __init__(self, what: str) -> None:
        super().__init__(f"{what} not found")


class Forbidden(Refused):
    """The actor's role may not do this; `code` names the rule that refuses it."""

    def __init__(self, message: str, code: str = "forbidden") -> None:
        super().__init__(message)
        self.code = code


class Conflict(Refused):
    """The object's state does not allow this; `code` names what stands in the way."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class Invalid(Refused):
    """Input the core cannot use; `fields` says what is wrong with each offending one."""

    def __init__(self, fields: dict[str, str], message: str = "invalid input") -> None:
        super().__init__(message)
        self.fields = fields
