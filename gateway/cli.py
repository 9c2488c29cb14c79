"""Command line: ``python -m gateway`` serves; ``staff-token`` prints a sign-in link;
``oidc-key`` adds an identification client key (rotation)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Coroutine, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web

from gateway import keys
from gateway.app import create_app
from gateway.config import Config, load_config
from gateway.logs import configure_logging
from gateway.oidc.client_keys import write_new_key
from gateway.oidc.config import DEFAULT_KEYS_DIR
from gateway.server import serve_app
from media.compat import CompatError
from rooms.clock import SystemClock
from rooms.errors import ConfigError
from signaling.tokens import TokenService

logger = logging.getLogger("gateway")
T = TypeVar("T")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tukilinja", description="Tukilinja WebRTC call gateway.")
    parser.add_argument("--config", help="TOML configuration file")
    # Subcommands accept --config too, so it may come before or after the subcommand.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", default=argparse.SUPPRESS, help="TOML configuration file")
    sub = parser.add_subparsers(dest="command")
    serve = sub.add_parser("serve", parents=[common], help="run the gateway (the default)")
    serve.add_argument("--host", help="listen address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="listen port (default 8080)")
    token = sub.add_parser(
        "staff-token", parents=[common], help="print a one-time sign-in link for a professional"
    )
    token.add_argument("--name", required=True, help="the professional's display name")
    token.add_argument(
        "--line", action="append", default=[], dest="lines", help="a service line id (repeat)"
    )
    key = sub.add_parser(
        "oidc-key",
        parents=[common],
        help="add a new identification client key to the key directory (key rotation)",
    )
    key.add_argument("--use", choices=("sig", "enc"), required=True, help="signing or decryption")
    key.add_argument(
        "--start",
        default="now",
        help="when the gateway starts using it: an ISO 8601 time with offset, or now (default)",
    )
    key.add_argument("--dir", help="the key directory (default: identification.keys_dir)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
        if args.command == "staff-token":
            print(signin_link(config, args.name, tuple(args.lines)))
            return 0
        if args.command == "oidc-key":
            print(new_client_key(config, args.use, args.start, args.dir))
            return 0
        if getattr(args, "host", None):
            config = replace(config, host=args.host)
        if getattr(args, "port", None) is not None:
            config = replace(config, port=args.port)
    except ConfigError as exc:
        print(f"tukilinja: configuration error: {exc}", file=sys.stderr)
        return 2
    configure_logging(config.log_level)
    try:
        run(serve(config), config.event_loop)
    except CompatError as exc:
        print(f"tukilinja: cannot start: {exc}", file=sys.stderr)
        return 3
    except ConfigError as exc:  # found at start-up, e.g. an unreadable client key
        print(f"tukilinja: configuration error: {exc}", file=sys.stderr)
        return 2
    return 0


def run(main: Coroutine[Any, Any, T], event_loop: str) -> T:
    """Run on uvloop (libuv, much less overhead per datagram) unless asked for asyncio's own."""
    if event_loop == "uvloop":
        try:
            import uvloop
        except ImportError:
            logger.warning("uvloop is not installed; using asyncio's event loop")
        else:
            return uvloop.run(main)
    return asyncio.run(main)


def signin_link(
    config: Config, name: str, lines: tuple[str, ...], now: datetime | None = None
) -> str:
    """A one-time sign-in link; the token rides in the fragment, never sent to servers."""
    if not name.strip():
        raise ConfigError("--name must not be empty")
    known = config.all_lines()
    unknown = [line for line in lines if line not in known]
    if unknown:
        raise ConfigError(f"unknown line(s): {', '.join(unknown)}")
    if not lines:
        lines = tuple(known)
    tokens = TokenService(
        config.signing_key(),
        issuer=config.base_url,
        signin_ttl=config.signin_ttl,
        session_ttl=config.session_ttl,
    )
    token = tokens.issue_signin(name.strip(), lines, now or SystemClock().now())
    return f"{config.base_url}/pro/signin#token={token}"


def new_client_key(config: Config, use: str, start: str, directory: str | None) -> str:
    """Write a new client key; the line to print (its file and when it starts)."""
    if start == "now":
        starts = SystemClock().now()
    else:
        try:
            starts = datetime.fromisoformat(start)
        except ValueError:
            raise ConfigError("--start must be an ISO 8601 time, e.g. 2026-06-01T00:00Z") from None
        if starts.tzinfo is None:
            raise ConfigError("--start needs a time zone offset, e.g. 2026-06-01T00:00+03:00")
    default = config.identification.keys_dir if config.identification else DEFAULT_KEYS_DIR
    try:
        path = write_new_key(Path(directory or default), use, starts.replace(microsecond=0))
    except FileExistsError:
        raise ConfigError("a key with that use and start time exists already") from None
    return f"{path} (used from {starts.astimezone(UTC).isoformat()})"


async def serve(config: Config) -> None:
    """Run until SIGINT/SIGTERM; then drain: refuse new sessions, let calls finish."""
    app = await create_app(config)
    async with serve_app(app, config):
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        base = config.base_url
        lines = list(config.all_lines())
        print(f"Tukilinja gateway listening on {base}", flush=True)
        print(f"  Resident page:        {base}/lines/{lines[0]}" if lines else "", flush=True)
        print(f"  Service lines:        {base}/", flush=True)
        print(f"  Professional console: {base}/pro", flush=True)
        if config.demo_line and config.host in ("127.0.0.1", "localhost", "::1"):
            # A local try-out only: a server's output (and so its logs) never holds a link.
            print(
                f"  Sign in as a demo professional (valid {config.signin_token_minutes} min,"
                f" once):\n    {signin_link(config, 'Demo professional', tuple(lines))}",
                flush=True,
            )
        print(
            "  More sign-in links: python -m gateway staff-token --name NAME --line ID",
            flush=True,
        )
        await stop.wait()
        await drain(app, config.drain_seconds)


async def drain(app: web.Application, seconds: float) -> None:
    """Stop taking new sessions and wait (up to ``seconds``) for calls in progress to end."""
    app[keys.LIFECYCLE].draining = True
    center = app[keys.CENTER]
    center.draining = True
    logger.info("draining: %d call(s) in progress", center.active_calls)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while center.active_calls and loop.time() < deadline:
        await asyncio.sleep(0.5)
