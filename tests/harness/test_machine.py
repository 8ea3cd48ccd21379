"""The Hypothesis state machine against the reference allocator: clean, and with a planted bug
found, shrunk, saved and replayable."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import mutants, replay
from harness.campaign import Campaign
from harness.engines import hypothesis_engine
from harness.targets import make_target


def reference():
    return make_target("reference")


def test_clean_reference_survives_a_derandomized_run(tmp_path: Path) -> None:
    campaign = Campaign("hypothesis", "reference", None, budget=4.0, out=tmp_path)
    hypothesis_engine.fuzz(campaign, reference, profile="ci")
    assert campaign.sequences > 0 and campaign.ops > 0
    assert campaign.findings == [], [f.description for f in campaign.findings]


@pytest.mark.timeout(120)
def test_planted_bug_is_found_minimized_saved_and_replayable(tmp_path: Path) -> None:
    campaign = Campaign("hypothesis", "reference", "skip-madvise-on-clear", budget=60.0, out=tmp_path)
    with mutants.activate("skip-madvise-on-clear"):
        hypothesis_engine.fuzz(campaign, reference, profile="ci")
        assert campaign.findings, "the planted bug was not found"
        finding = campaign.findings[0]
        assert finding.ops <= 12
        again = replay.replay_file(finding.path, reference)
        assert again.status == replay.FAILED
    clean = replay.replay_file(finding.path, reference)
    assert clean.status == replay.PASSED, clean.outcome.divergence.describe() if clean.outcome and clean.outcome.divergence else clean.error
