"""One dispatch path: decode, look up the handler in one table, run, map errors to codes."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, Final, TypeVar, cast

from media.ice import IceServer
from rooms.participants import ParticipantRole
from signaling import protocol as p
from signaling.calls import CallCenter
from signaling.errors import ErrorCode, ProtocolError, StaffSessionEnded
from signaling.session import Role, Session

logger = logging.getLogger(__name__)

SLOW_REQUEST_SECONDS: Final = 2.0
Result = dict[str, Any]
R = TypeVar("R", bound=p.Request)
Handler = Callable[["Dispatcher", Session, Any], Awaitable[Result]]


class Dispatcher:
    """Runs client requests against the call centre and produces the reply bytes."""

    def __init__(
        self,
        center: CallCenter,
        ice_servers: Sequence[IceServer],
        *,
        demo_identification: bool = False,
    ) -> None:
        self._center = center
        self._ice_servers = [server.to_json() for server in ice_servers]
        self._demo_identification = demo_identification

    async def handle(self, session: Session, raw: str | bytes) -> bytes:
        """Handle one raw message; always returns exactly one reply.

        When a staff session's sign-in has ended, the reply (``unauthorized``) is queued
        on the session before it is ended, so the caller's own send of it is a no-op.
        """
        try:
            request = p.decode_request(raw)
        except p.DecodeError as exc:
            return p.encode_error(exc.request_id, exc.code, exc.message)
        if session.closed:
            return p.encode_error(
                request.id, ErrorCode.INVALID_STATE, "This connection has been replaced."
            )
        handler = HANDLERS[type(request)]
        started = time.monotonic()
        try:
            # A staff session's sign-in is checked again on every request it makes.
            await self._center.check_staff(session)
            result = await handler(self, session, request)
        except StaffSessionEnded as exc:
            # The reply goes out first, then the socket is closed with the reason.
            reply = p.encode_error(request.id, exc.code, exc.message)
            session.send(reply)
            session.end(exc.reason)
            logger.info("%s: the staff sign-in ended (%s)", session.label, exc.reason)
            return reply
        except ProtocolError as exc:
            return p.encode_error(request.id, exc.code, exc.message)
        except Exception:
            logger.exception("%s: %s failed", session.label, type(request).__name__)
            return p.encode_error(
                request.id, ErrorCode.INTERNAL_ERROR, "The gateway failed to handle the request."
            )
        finally:
            took = time.monotonic() - started
            if took > SLOW_REQUEST_SECONDS:
                logger.warning("%s: %s took %.1f s", session.label, type(request).__name__, took)
        return p.encode_result(request.id, result)

    async def hello(self, session: Session, request: p.Hello) -> Result:
        if request.protocol != p.PROTOCOL_VERSION:
            raise ProtocolError(
                ErrorCode.UNSUPPORTED_PROTOCOL,
                f"This gateway speaks protocol {p.PROTOCOL_VERSION}.",
            )
        staff = None
        if session.staff is not None:
            staff = {
                "name": session.staff.name,
                "lines": list(session.staff.lines),
                "calls": await self._center.rejoinable(session),
                "available": session.available,
                "wrapupSeconds": self._center.wrapup_seconds,
            }
        return {
            "protocol": p.PROTOCOL_VERSION,
            "role": session.role.value,
            "staff": staff,
            "iceServers": self._ice_servers,
            "demoIdentification": self._demo_identification,
        }

    async def line_watch(self, session: Session, request: p.LineWatch) -> Result:
        status, queue = await self._center.watch(session, request.line)
        result: Result = {"status": status.to_json()}
        if queue is not None:
            result["queue"] = queue
        return result

    async def line_unwatch(self, session: Session, request: p.LineUnwatch) -> Result:
        self._center.unwatch(session, request.line)
        return {}

    async def queue_join(self, session: Session, request: p.QueueJoin) -> Result:
        return await self._center.join_queue(session, request.line)

    async def queue_leave(self, session: Session, request: p.QueueLeave) -> Result:
        await self._center.leave_queue(session)
        return {}

    async def offer(self, session: Session, request: p.Offer) -> Result:
        return {"sdp": await self._center.offer(session, request.sdp)}

    async def answer(self, session: Session, request: p.Answer) -> Result:
        await self._center.answer(session, request.sdp)
        return {}

    async def hangup(self, session: Session, request: p.Hangup) -> Result:
        await self._center.hangup(session)
        return {}

    async def staff_answer_next(self, session: Session, request: p.StaffAnswerNext) -> Result:
        if session.role is not Role.STAFF:
            raise ProtocolError(ErrorCode.UNAUTHORIZED)
        return await self._center.answer_next(session, request.line)

    async def staff_status(self, session: Session, request: p.StaffStatus) -> Result:
        if session.role is not Role.STAFF:
            raise ProtocolError(ErrorCode.UNAUTHORIZED)
        await self._center.set_available(session, request.available)
        return {"available": session.available}

    async def resume(self, session: Session, request: p.Resume) -> Result:
        return await self._center.resume(session, request.token, request.keepMedia)

    async def call_rejoin(self, session: Session, request: p.CallRejoin) -> Result:
        return await self._center.rejoin(session, request.callId)

    async def interpreter_invite(self, session: Session, request: p.InterpreterInvite) -> Result:
        return await self._center.invite_interpreter(session, request.language)

    async def interpreter_check(self, session: Session, request: p.InterpreterCheck) -> Result:
        return await self._center.check_invite(request.token)

    async def interpreter_join(self, session: Session, request: p.InterpreterJoin) -> Result:
        return await self._center.join_as_interpreter(session, request.token)

    async def participant_remove(self, session: Session, request: p.ParticipantRemove) -> Result:
        await self._center.remove_participant(session, request.participantId)
        return {}

    async def identify_request(self, session: Session, request: p.IdentifyRequest) -> Result:
        me = self._center.in_call(session, ParticipantRole.PROFESSIONAL)
        await self._center.stepup.request_identification(me)
        return {}

    async def identify_start(self, session: Session, request: p.IdentifyStart) -> Result:
        me = self._center.in_call(session, ParticipantRole.RESIDENT)
        return {"url": await self._center.stepup.start_identification(me)}

    async def video_request(self, session: Session, request: p.VideoRequest) -> Result:
        me = self._center.in_call(session, ParticipantRole.PROFESSIONAL)
        await self._center.stepup.request_video(me, request.purpose)
        return {}

    async def video_consent(self, session: Session, request: p.VideoConsent) -> Result:
        me = self._center.in_call(session, ParticipantRole.RESIDENT)
        await self._center.stepup.consent(me, request.allow)
        return {}

    async def video_stop(self, session: Session, request: p.VideoStop) -> Result:
        await self._center.stepup.stop_video(self._center.in_call(session))
        return {}


def _handler(method: Callable[[Dispatcher, Session, R], Awaitable[Result]]) -> Handler:
    return cast(Handler, method)


HANDLERS: Final[Mapping[type[p.Request], Handler]] = MappingProxyType(
    {
        p.Hello: _handler(Dispatcher.hello),
        p.LineWatch: _handler(Dispatcher.line_watch),
        p.LineUnwatch: _handler(Dispatcher.line_unwatch),
        p.QueueJoin: _handler(Dispatcher.queue_join),
        p.QueueLeave: _handler(Dispatcher.queue_leave),
        p.Offer: _handler(Dispatcher.offer),
        p.Answer: _handler(Dispatcher.answer),
        p.Hangup: _handler(Dispatcher.hangup),
        p.StaffAnswerNext: _handler(Dispatcher.staff_answer_next),
        p.StaffStatus: _handler(Dispatcher.staff_status),
        p.Resume: _handler(Dispatcher.resume),
        p.CallRejoin: _handler(Dispatcher.call_rejoin),
        p.InterpreterInvite: _handler(Dispatcher.interpreter_invite),
        p.InterpreterCheck: _handler(Dispatcher.interpreter_check),
        p.InterpreterJoin: _handler(Dispatcher.interpreter_join),
        p.ParticipantRemove: _handler(Dispatcher.participant_remove),
        p.IdentifyRequest: _handler(Dispatcher.identify_request),
        p.IdentifyStart: _handler(Dispatcher.identify_start),
        p.VideoRequest: _handler(Dispatcher.video_request),
        p.VideoConsent: _handler(Dispatcher.video_consent),
        p.VideoStop: _handler(Dispatcher.video_stop),
    }
)
