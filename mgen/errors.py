"""The one exception type for mistakes a user can fix; CLIs print it as one line."""


class UserError(Exception):
    """Bad input or configuration. The message says what is wrong and how to fix it."""


def run_cli(prog: str, fn, *args) -> int:
    """Run a command's body; a UserError becomes one line on stderr and exit code 2."""
    import sys

    try:
        fn(*args)
    except UserError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    return 0
