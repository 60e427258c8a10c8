"""The suite's own scheduling: under ``--dist loadgroup`` (scripts/test.sh), the tests that read one
module-scoped fit run on one worker, so the fit is compiled and sampled once per run, not once per
worker. pytest-xdist does it by suffixing each grouped test's node id with ``@<group>``; where that
silently stops working (pytest 9.2 with xdist 3.8: pytest-dev/pytest-xdist#1386) every worker pays
for its own copy of each shared fit, minutes on a cold cache."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="module")
def shared_resource() -> object:
    return object()


def test_a_test_reading_its_modules_fixture_is_marked_with_the_modules_group(shared_resource, request):
    marker = request.node.get_closest_marker("xdist_group")
    assert marker is not None and marker.args == ("tests/test_xdist_groups.py",)


def test_under_loadgroup_the_group_reaches_the_scheduler(shared_resource, request):
    if not os.environ.get("PYTEST_XDIST_WORKER") or not getattr(request.config.option, "loadgroup", False):
        pytest.skip("only under pytest-xdist with --dist loadgroup (as scripts/test.sh runs the suite)")
    assert request.node.nodeid.endswith("@tests/test_xdist_groups.py"), (
        f"{request.node.nodeid}: the xdist group did not reach the node id, so --dist loadgroup "
        "spreads the tests of one shared fit over every worker (pytest-dev/pytest-xdist#1386)"
    )
