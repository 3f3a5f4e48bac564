"""Plate matching that forgives OCR: confusable characters, the province, one edit."""

from __future__ import annotations

import pytest

from analytics.plates.fuzzy import fold, plate_keys, plates_match, within_one_edit


@pytest.mark.parametrize(
    "stored",
    [
        "皖S12345",  # the plate itself
        "苏S12345",  # another province read
        "皖5I2345",  # S/5 and 1/I confused
        "皖S1Z345",  # 2/Z
        "皖SIZ345",  # two confusions (1/I, 2/Z): both fold away
        "皖S1234",  # a character missing
        "皖S123456",  # one extra
        "皖S12845",  # one misread that is no confusion
    ],
)
def test_what_a_misreading_camera_stored_is_found(stored: str) -> None:
    assert plates_match("皖S12345", stored)
    assert plate_keys("皖S12345") & plate_keys(stored)  # the index finds the candidate


@pytest.mark.parametrize("stored", ["皖A99999", "皖S12", "皖S99345", "皖S1234567"])
def test_other_plates_are_not_found(stored: str) -> None:
    assert not plates_match("皖S12345", stored)


def test_the_index_keys_are_a_superset_of_matches_and_verification_trims_them() -> None:
    # One deletion each meets at 'ABC' → 'AC' from 'ACD' too: distance 2, left out after.
    assert plate_keys("皖ABC") & plate_keys("皖ACD")
    assert not plates_match("皖ABC", "皖ACD")


def test_fold_and_edits() -> None:
    assert fold("皖SB12345") == "5812345"
    assert within_one_edit("abc", "abc") and within_one_edit("abc", "abd")
    assert within_one_edit("abc", "ab") and within_one_edit("ab", "xab")
    assert not within_one_edit("abc", "cab") and not within_one_edit("a", "abc")
