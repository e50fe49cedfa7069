"""Errors that mean "the user's input is wrong" (exit code 2), as opposed to bugs."""


class UserError(Exception):
    """Bad input: a file, config, row, column, method or option the user can fix.

    The message must name the thing that is wrong; the CLI prints it on one line and exits 2.
    """

    exit_code = 2
