"""The SDK's one error type, in a module of its own so that every other
module can raise it without importing the app module (which imports them)."""


class KerujError(Exception):
    """A failure with a message for the host's log (Keruj gets 500, never the
    message). Any exception works the same; this one says it was expected, so
    no traceback is logged."""
