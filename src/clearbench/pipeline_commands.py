"""CLI commands of this package (filled in by the package's issue)."""


def register(subparsers) -> None:
    """Add this package's commands to the `clearbench` parser."""
