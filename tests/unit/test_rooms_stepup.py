"""Identification and video consent rules inside a room (rooms.stepup)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from rooms import stepup
from rooms.consent import ConsentAnswer, ConsentRuleError, VideoState
from rooms.participants import Participant, ParticipantRole, ParticipantState
from rooms.room import Room

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
IDENTITY = {"name": "Testi Henkilö", "code": "010190-***A", "level": "high", "provider": "Demo"}


def room() -> Room:
    r = Room(id="c-1", line_id="demo", queued_at=T0, answered_at=T0)
    for pid, role in (("res", ParticipantRole.RESIDENT), ("pro", ParticipantRole.PROFESSIONAL)):
        r.add(Participant(pid, role))
    r.add(Participant("int", ParticipantRole.INTERPRETER, language="ar"))
    return r


def code(exc: pytest.ExceptionInfo[ConsentRuleError]) -> str:
    return exc.value.code


def test_only_a_professional_asks_for_identification() -> None:
    r = room()
    for who in ("res", "int", "nobody"):
        with pytest.raises(ConsentRuleError) as refused:
            stepup.request_identification(r, who)
        assert code(refused) == "forbidden"
    assert stepup.request_identification(r, "pro").id == "res"
    assert r.identification_requested


def test_identity_binds_to_the_resident_only() -> None:
    r = room()
    with pytest.raises(ConsentRuleError):
        stepup.bind_identity(r, "pro", IDENTITY)
    with pytest.raises(ValueError):
        stepup.bind_identity(r, "res", {**IDENTITY, "sub": "abc"})  # nothing beyond the fields
    stepup.bind_identity(r, "res", IDENTITY)
    assert r.participants["res"].identity == IDENTITY
    assert r.identified_level() == "high"
    with pytest.raises(ConsentRuleError) as again:
        stepup.request_identification(r, "pro")
    assert code(again) == "invalid_state"


def test_video_needs_identification_then_the_residents_allow() -> None:
    r = room()
    with pytest.raises(ConsentRuleError) as refused:
        stepup.request_video(r, "pro", "see_document")
    assert code(refused) == "not_identified"
    assert r.video is VideoState.OFF
    stepup.bind_identity(r, "res", IDENTITY)
    with pytest.raises(ConsentRuleError) as bad_purpose:
        stepup.request_video(r, "pro", "anything I like")
    assert code(bad_purpose) == "invalid_message"
    with pytest.raises(ConsentRuleError):
        stepup.request_video(r, "res", "see_document")  # the resident does not ask
    stepup.request_video(r, "pro", "see_document")
    assert r.video.value == "requested"
    with pytest.raises(ConsentRuleError):
        stepup.answer_video(r, "pro", True, T0)  # only the resident answers
    entry = stepup.answer_video(r, "res", True, T0)
    assert (entry.answer, entry.purpose, entry.by) == (
        ConsentAnswer.ALLOWED,
        "see_document",
        "resident",
    )
    assert r.video.value == "on" and r.participants["res"].consents == {"video": True}
    assert "Testi" not in str(entry.to_json()) and "res" not in entry.to_json().values()


def test_decline_withdraw_and_stop() -> None:
    r = room()
    stepup.bind_identity(r, "res", IDENTITY)
    stepup.request_video(r, "pro", "assess_situation")
    declined = stepup.answer_video(r, "res", False, T0)
    assert declined.answer is ConsentAnswer.DECLINED and r.video is VideoState.OFF
    with pytest.raises(ConsentRuleError):
        stepup.answer_video(r, "res", True, T0)  # no request waiting any more
    stepup.request_video(r, "pro", "assess_situation")
    stepup.answer_video(r, "res", True, T0)
    withdrawn = stepup.stop_video(r, "res", T0)
    assert withdrawn.answer is ConsentAnswer.WITHDRAWN
    assert r.video is VideoState.OFF and r.participants["res"].consents["video"] is False
    stepup.request_video(r, "pro", "assess_situation")
    stepup.answer_video(r, "res", True, T0)
    stopped = stepup.stop_video(r, "int", T0)
    assert (stopped.answer, stopped.by) == (ConsentAnswer.STOPPED, "interpreter")
    with pytest.raises(ConsentRuleError) as off:
        stepup.stop_video(r, "pro", T0)
    assert code(off) == "invalid_state"


def test_a_resident_who_left_cannot_be_asked() -> None:
    r = room()
    r.set_state("res", ParticipantState.LEFT)
    with pytest.raises(ConsentRuleError) as gone:
        stepup.request_identification(r, "pro")
    assert code(gone) == "invalid_state"


def test_room_state_round_trips_through_json() -> None:
    r = room()
    stepup.bind_identity(r, "res", IDENTITY)
    stepup.request_video(r, "pro", "sign_language")
    again = Room.from_json(r.to_json())
    assert (again.video, again.video_purpose) == (VideoState.REQUESTED, "sign_language")
    assert again.participants["res"].identity == IDENTITY
