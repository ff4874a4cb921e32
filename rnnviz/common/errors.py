"""User-facing errors: one line that names the problem and the fix.

The CLI prints ``UsageError`` messages without a traceback (unless ``--debug``);
anything else is a bug and keeps its traceback.
"""


class UsageError(Exception):
    """A problem with the user's input or environment, with the fix in the message."""
