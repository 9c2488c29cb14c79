"""Command line: ``python -m gateway`` serves; ``staff-token`` prints a sign-in link.

Both subcommands read the configuration the same way (``--config``, then ``TUKILINJA_*``
variables, then ``--host``/``--port``), so a link ``staff-token`` prints is for the base URL
the server checks. ``staff-token --base-url`` names that URL outright. ``oidc-key`` adds an
identification client key (rotation).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shlex
import shutil
import signal
import sys
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from aiohttp import web

from gateway import keys
from gateway.app import create_app
from gateway.config import ENV_PREFIX, Config, check, load_config
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

# Settings from the environment that a separate staff-token process must share with the
# server for its links to be accepted (the key) and for its --line ids to exist.
SHARED_ENV = ("SECRET_KEY", "SECRET_KEY_FILE", "DEMO_LINE")


def python_command() -> str:
    """How to start this interpreter from the current directory, as a person would type it.

    ``.venv/bin/python`` in a checkout (a bare ``python`` there has not got the gateway's
    packages), ``python`` when that is this interpreter (a container), else its full path.
    """
    executable = os.path.abspath(sys.executable)
    try:
        return str(Path(executable).relative_to(Path.cwd()))
    except ValueError:
        pass
    on_path = shutil.which("python")
    if on_path and os.path.abspath(on_path) == executable:
        return "python"
    return executable


def port_number(value: str) -> int:
    """argparse type: a TCP port, 0-65535."""
    try:
        port = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port number (0-65535)")
    return port


def base_url(value: str) -> str:
    """argparse type: ``http(s)://host[:port]`` with at most a trailing ``/``; returned without it.

    It becomes the links' address and the issuer the server must check, so anything a server's
    base URL cannot hold (a path, query, fragment or user name) is refused rather than dropped.
    """
    usage = "give http://HOST[:PORT] or https://HOST[:PORT]"
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 (raises ValueError for a port that is not a number 0-65535)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{value!r} is not a URL ({exc}); {usage}") from None
    if parts.scheme not in ("http", "https"):
        raise argparse.ArgumentTypeError(f"{value!r} must start with http:// or https://")
    if not parts.hostname:
        raise argparse.ArgumentTypeError(f"{value!r} has no host; {usage}")
    if "@" in parts.netloc:
        raise argparse.ArgumentTypeError(f"{value!r} must not hold a user name or password")
    if parts.path not in ("", "/") or "?" in value or "#" in value:
        raise argparse.ArgumentTypeError(
            f"{value!r} must not have a path, query or fragment; {usage}"
        )
    return value.rstrip("/")


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog or "tukilinja",
        description="Tukilinja WebRTC call gateway.",
        epilog=(
            "Settings come from --config, then TUKILINJA_* environment variables, then "
            "--host/--port. staff-token reads them the same way as serve: give it the same "
            "options and environment as the server (or --base-url) so its link is accepted."
        ),
    )
    parser.add_argument("--config", metavar="FILE", help="TOML configuration file")
    # Subcommands accept --config too, so it may come before or after the subcommand.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config", metavar="FILE", default=argparse.SUPPRESS, help="TOML configuration file"
    )
    # The listen address: serve listens on it, staff-token makes links for it.
    listen = argparse.ArgumentParser(add_help=False)
    listen.add_argument(
        "--host",
        metavar="ADDR",
        help="listen address (default: the file's or TUKILINJA_HOST, else 127.0.0.1)",
    )
    listen.add_argument(
        "--port",
        metavar="N",
        type=port_number,
        help="listen port (default: the file's or TUKILINJA_PORT, else 8080)",
    )
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("serve", parents=[common, listen], help="run the gateway (the default)")
    token = sub.add_parser(
        "staff-token",
        parents=[common, listen],
        help="print a one-time sign-in link for a professional",
        description=(
            "Print a one-time sign-in link for a professional. The link is for the server's "
            "base URL: public_url (file or TUKILINJA_PUBLIC_URL), else http://HOST:PORT from "
            "the same settings as serve; --base-url overrides both."
        ),
    )
    token.add_argument(
        "--base-url",
        type=base_url,
        metavar="URL",
        help="the server's address, e.g. https://tukilinja.example.fi (overrides public_url, "
        "--host and --port)",
    )
    token.add_argument("--name", required=True, help="the professional's display name")
    token.add_argument(
        "--line",
        action="append",
        default=[],
        dest="lines",
        metavar="ID",
        help="a service line id (repeat; none = all lines)",
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


def effective_config(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> Config:
    """The file, then the environment, then --host/--port (and staff-token's --base-url)."""
    config = load_config(args.config, env)
    if getattr(args, "host", None):
        config = replace(config, host=args.host)
    if getattr(args, "port", None) is not None:
        config = replace(config, port=args.port)
    if getattr(args, "base_url", None):
        config = replace(config, public_url=args.base_url)
    return config


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    try:
        config = effective_config(args)
        if args.command == "staff-token":
            return staff_token(config, args)
        if args.command == "oidc-key":
            print(new_client_key(config, args.use, args.start, args.dir))
            return 0
        check(config)
    except ConfigError as exc:
        print(f"tukilinja: configuration error: {exc}", file=sys.stderr)
        return 2
    configure_logging(config.log_level)
    banner_command = staff_token_command(config, args.config, os.environ)
    try:
        run(serve(config, banner_command), config.event_loop)
    except ConfigError as exc:  # found at start-up, e.g. an unreadable client key
        print(f"tukilinja: configuration error: {exc}", file=sys.stderr)
        return 2
    except CompatError as exc:
        print(f"tukilinja: cannot start: {exc}", file=sys.stderr)
        return 3
    return 0


def staff_token(config: Config, args: argparse.Namespace) -> int:
    """Print the link alone on stdout (for scripts); say which server it is for on stderr."""
    if not config.public_url and config.port == 0:
        raise ConfigError("a link needs the server's port: give --port N or --base-url URL")
    lines = tuple(args.lines)
    known = config.all_lines()
    unknown = [line for line in lines if line not in known]
    if unknown:
        hint = "" if args.config else "; the lines of a configuration file need --config FILE"
        raise ConfigError(
            f"unknown line(s): {', '.join(unknown)} (this configuration has:"
            f" {', '.join(known) or 'none'}){hint}"
        )
    link = signin_link(config, args.name, lines)
    print(link)
    print(
        f"tukilinja: a one-time sign-in link for {config.base_url}"
        f" (valid {config.signin_token_minutes} min)",
        file=sys.stderr,
    )
    return 0


def staff_token_command(
    config: Config, config_path: str | None, env: Mapping[str, str]
) -> list[str]:
    """The ``staff-token`` command (and what it needs) for links this server accepts.

    Options are added for what differs from the configuration file alone: the listen address
    or ``public_url`` set by the environment or by ``serve --host/--port``. The printout holds
    no secret: environment variables that must be the same are named, not shown.
    """
    words = [python_command(), "-m", "gateway", "staff-token"]
    if config_path is not None:
        words += ["--config", config_path]
    file_only = load_config(config_path, env={})
    shared = [name for name in SHARED_ENV if env.get(ENV_PREFIX + name)]
    if config.public_url:
        if config.public_url != file_only.public_url:
            try:
                words += ["--base-url", base_url(config.base_url)]
            except argparse.ArgumentTypeError:  # a public_url with a path: only as it came
                shared.insert(0, "PUBLIC_URL")
    else:
        if config.host != file_only.host:
            words += ["--host", config.host]
        if config.port != file_only.port:
            words += ["--port", str(config.port)]
    command = [f"{shlex.join(words)} --name NAME --line ID"]
    if shared:
        names = ", ".join(ENV_PREFIX + name for name in shared)
        command.append(f"(with the same {names} as this server)")
    return command


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


async def serve(config: Config, staff_command: Sequence[str] = ()) -> None:
    """Run until SIGINT/SIGTERM; then drain: refuse new sessions, let calls finish.

    ``staff_command``: the lines of the printed ``staff-token`` command
    (:func:`staff_token_command`).
    """
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
        if config.demo_identification:
            print(
                "  Demo identification is ON: made-up test persons, for trying out only"
                f" (provider {base}/demo-idp)",
                flush=True,
            )
        if config.demo_line and config.host in ("127.0.0.1", "localhost", "::1"):
            # A local try-out only: a server's output (and so its logs) never holds a link.
            print(
                f"  Sign in as a demo professional (valid {config.signin_token_minutes} min,"
                f" once):\n    {signin_link(config, 'Demo professional', tuple(lines))}",
                flush=True,
            )
        if staff_command:
            print("  More sign-in links (run where the gateway was started):", flush=True)
            for line in staff_command:
                print(f"    {line}", flush=True)
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
