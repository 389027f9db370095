"""The face detector is a setting (BWV_FACE_DETECTOR), checked when the settings are read, not when the first
redaction fails; the names it accepts are the detectors there are."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from service.config import FACE_DETECTORS, Settings
from service.media import detectors


def test_the_setting_knows_exactly_the_detectors_there_are() -> None:
    assert set(FACE_DETECTORS) == set(detectors.FACTORIES)
    assert Settings().face_detector == detectors.DEFAULT


@pytest.mark.parametrize("value", ["centerface", "opencv-haar", "centerface:64", "centerface:960", "centerface:4096"])
def test_a_known_detector_and_size_is_taken(value: str, monkeypatch) -> None:
    monkeypatch.setenv("BWV_FACE_DETECTOR", value)
    assert Settings().face_detector == value
    assert detectors.make(value) is not None


@pytest.mark.parametrize("value,words", [
    ("yolo", "unknown face detector 'yolo'"),
    ("CenterFace", "unknown face detector"),
    ("centerface:63", "64..4096"),
    ("centerface:4097", "64..4096"),
    ("centerface:abc", "64..4096"),
    ("centerface:", "64..4096"),
])
def test_a_bad_detector_stops_the_settings(value: str, words: str) -> None:
    with pytest.raises(ValidationError) as e:
        Settings(face_detector=value)
    assert words in str(e.value)
