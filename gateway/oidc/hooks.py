"""Where a completed identification goes: hooks the call layer sets on the application."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from gateway.oidc.identity import VerifiedIdentity

__all__ = ["IdentificationHooks", "OnFailed", "OnIdentified"]

OnIdentified = Callable[[str, VerifiedIdentity], Awaitable[None]]
"""``on_identified(binding, identity)``: the flow begun for ``binding`` succeeded."""

OnFailed = Callable[[str, str], Awaitable[None]]
"""``on_failed(binding, error_code)``: the flow begun for ``binding`` failed (the codes are
those of :data:`gateway.oidc.errors.ERROR_MESSAGES`)."""


@dataclass
class IdentificationHooks:
    """Set by the call layer (``app[keys.IDENTIFICATION_HOOKS]``); unset hooks are skipped.

    The callback route awaits the hook before it answers the browser; a hook that raises
    is logged (its type only) and the browser is told the identification failed.
    """

    on_identified: OnIdentified | None = None
    on_failed: OnFailed | None = None
