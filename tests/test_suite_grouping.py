"""The README's test command keeps each file's tests on one xdist worker."""

import pytest


def test_each_file_is_one_xdist_group(request):
    """Under `--dist loadgroup` xdist groups tests by a suffix it writes into their ids; pytest 9.2
    drops it silently (pyproject pins below), and a file's module fixtures are then built on every
    worker while the multi-process tests no longer run one at a time."""
    if not getattr(request.config.option, "loadgroup", False):
        pytest.skip("not run under pytest-xdist --dist loadgroup")
    assert request.node.nodeid.endswith("@tests/test_suite_grouping.py")
