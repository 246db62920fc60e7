"""The one exception type for mistakes a user can fix; CLIs print it as one line."""


class UserError(Exception):
    """Bad input or configuration. The message says what is wrong and how to fix it."""
