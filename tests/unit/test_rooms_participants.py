"""Participant and room state machines: allowed moves only, changes reported once."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from itertools import product

import pytest

from rooms.participants import (
    ALLOWED_TRANSITIONS,
    InvalidTransitionError,
    Participant,
    ParticipantRole,
    ParticipantState,
)
from rooms.room import EndReason, Room, RoomEndedError, RoomState

T0 = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
S = ParticipantState
EXPECTED = {
    (S.JOINING, S.CONNECTED),
    (S.JOINING, S.RECONNECTING),
    (S.JOINING, S.LEFT),
    (S.CONNECTED, S.RECONNECTING),
    (S.CONNECTED, S.LEFT),
    (S.RECONNECTING, S.CONNECTED),
    (S.RECONNECTING, S.LEFT),
}


def _in_state(state: ParticipantState) -> Participant:
    participant = Participant("p-1", ParticipantRole.RESIDENT)
    path = {
        S.JOINING: [],
        S.CONNECTED: [S.CONNECTED],
        S.RECONNECTING: [S.CONNECTED, S.RECONNECTING],
        S.LEFT: [S.LEFT],
    }[state]
    for step in path:
        participant.set_state(step)
    return participant


def test_transition_table_is_exactly_the_designed_one() -> None:
    table = {(old, new) for old, news in ALLOWED_TRANSITIONS.items() for new in news}
    assert table == EXPECTED


@pytest.mark.parametrize(("old", "new"), list(product(S, S)))
def test_every_transition(old: ParticipantState, new: ParticipantState) -> None:
    participant = _in_state(old)
    if old is new:
        assert participant.set_state(new) is None  # no change, nothing emitted
    elif (old, new) in EXPECTED:
        change = participant.set_state(new)
        assert change is not None and (change.old, change.new) == (old, new)
        assert participant.state is new
    else:
        with pytest.raises(InvalidTransitionError):
            participant.set_state(new)
        assert participant.state is old


def test_state_changes_are_logged_old_to_new(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="rooms.participants")
    participant = Participant("p-1", ParticipantRole.INTERPRETER, language="ar")
    participant.set_state(S.CONNECTED)
    participant.set_state(S.CONNECTED)
    messages = [r.getMessage() for r in caplog.records]
    assert messages == ["participant interpreter joining -> connected"]


def test_public_view_has_role_state_and_language_only() -> None:
    participant = Participant("p-9", ParticipantRole.PROFESSIONAL, staff_ref="secret-ref")
    participant.identity = {"name": "Someone"}
    assert participant.public() == {"id": "p-9", "role": "professional", "state": "joining"}
    interpreter = Participant("p-8", ParticipantRole.INTERPRETER, language="so")
    assert interpreter.public()["language"] == "so"
    again = Participant.from_json(participant.to_json())
    assert again == participant


def _room() -> Room:
    room = Room(id="c-1", line_id="demo", queued_at=T0, answered_at=T0 + timedelta(seconds=30))
    room.add(Participant("p-r", ParticipantRole.RESIDENT))
    room.add(Participant("p-p", ParticipantRole.PROFESSIONAL))
    return room


def test_room_ends_once_with_its_reason_and_then_refuses_changes() -> None:
    room = _room()
    assert room.state is RoomState.OPEN and not room.should_end()
    room.add(Participant("p-i", ParticipantRole.INTERPRETER, language="ru"))
    room.set_state("p-i", S.LEFT)
    assert not room.should_end()
    room.set_state("p-r", S.LEFT)
    assert room.should_end()
    assert room.end(EndReason.PEER_LEFT, T0 + timedelta(minutes=5))
    assert not room.end(EndReason.HANGUP, T0 + timedelta(minutes=6))
    assert room.end_reason is EndReason.PEER_LEFT and room.ended_at == T0 + timedelta(minutes=5)
    with pytest.raises(RoomEndedError):
        room.set_state("p-p", S.LEFT)
    with pytest.raises(RoomEndedError):
        room.add(Participant("p-x", ParticipantRole.INTERPRETER))
    assert room.counts_by_role() == {"resident": 1, "professional": 1, "interpreter": 1}
    assert Room.from_json(room.to_json()).to_json() == room.to_json()


def test_a_participant_is_added_once() -> None:
    room = _room()
    with pytest.raises(ValueError):
        room.add(Participant("p-r", ParticipantRole.RESIDENT))
