"""A short soak in every test run (`make soak` runs 8 x 5,000)."""

import pytest

from tests.support.soak import Soak

pytestmark = pytest.mark.system  # a real agent, killed and started again


def test_short_soak_with_kills():
    report = Soak(clients=8, requests=300, kills=4, seed=7, agent_kills=2).run()
    assert report["problems"] == []
    assert report["answered"] == 8 * 300 and report["kills"] >= 1 and report["agent_kills"] == 2
    assert report["documents_at_server"] == 8  # one per live client, none of the killed ones
    warm, end = report["memory"]["after warm-up"], report["memory"]["at the end"]
    assert end["agent_kb"] - warm["agent_kb"] < 2048, report["memory"]
