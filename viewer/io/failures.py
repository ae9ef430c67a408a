"""Exceptions from libraries, described in one line for a user."""


def describe(exc: BaseException) -> str:
    """The exception's type (the message alone is often unclear) and its message, on one line."""
    message = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__
