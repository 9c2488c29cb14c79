"""Rooms in the store: the truth about calls and their participants, readable by any node."""

from __future__ import annotations

from typing import Any, Protocol

from rooms.room import Room

__all__ = ["MemoryRoomStore", "RoomStore"]


class RoomStore(Protocol):
    """Open rooms by id, and which room a participant is in.

    Values are copies: a changed room counts only once it is put back (under the room's
    lock, see :mod:`rooms.locks`).
    """

    async def put(self, room: Room) -> None:
        """Create or replace `room`."""
        ...

    async def get(self, room_id: str) -> Room | None:
        """A copy of the room, or None if there is none (any more)."""
        ...

    async def delete(self, room_id: str) -> None:
        """Forget the room (it has ended; its call record remains)."""
        ...

    async def room_of(self, participant_id: str) -> str | None:
        """The id of the room a participant was put in, if it still exists."""
        ...

    async def all(self) -> list[Room]:
        """Every room in the store (copies)."""
        ...


class MemoryRoomStore:
    """In-process RoomStore holding each room as its JSON form (so values are copies)."""

    def __init__(self) -> None:
        self._rooms: dict[str, dict[str, Any]] = {}
        self._by_participant: dict[str, str] = {}

    async def put(self, room: Room) -> None:
        old = self._rooms.get(room.id)
        if old is not None:
            for item in old["participants"]:
                self._by_participant.pop(item["id"], None)
        self._rooms[room.id] = room.to_json()
        for participant_id in room.participants:
            self._by_participant[participant_id] = room.id

    async def get(self, room_id: str) -> Room | None:
        data = self._rooms.get(room_id)
        return None if data is None else Room.from_json(data)

    async def delete(self, room_id: str) -> None:
        data = self._rooms.pop(room_id, None)
        if data is not None:
            for item in data["participants"]:
                self._by_participant.pop(item["id"], None)

    async def room_of(self, participant_id: str) -> str | None:
        return self._by_participant.get(participant_id)

    async def all(self) -> list[Room]:
        return [Room.from_json(data) for data in self._rooms.values()]
