"""Hostile inputs and faults: each case is refused cleanly (exit 2, one line) or documented."""
