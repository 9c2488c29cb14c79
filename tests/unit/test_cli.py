"""The command line: serve and staff-token share their settings; --base-url is checked."""

from __future__ import annotations

import concurrent.futures
import os
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway import cli
from gateway.cli import base_url, build_parser, effective_config, main, staff_token_command
from gateway.config import Config
from signaling.tokens import TokenService
from tests.support.gateway import TEST_KEY

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = "gateway/sample-config.toml"


@pytest.fixture(autouse=True)
def no_settings_from_outside(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No TUKILINJA_* from the shell running the tests, and a key file of the test's own."""
    for name in list(os.environ):
        if name.startswith("TUKILINJA_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("TUKILINJA_SECRET_KEY_FILE", str(tmp_path / "signing.key"))


@pytest.mark.parametrize(
    "argv",
    [
        ["staff-token", "--config", SAMPLE, "--host", "::1", "--port", "8123", "--name", "M"],
        ["--config", SAMPLE, "staff-token", "--host", "::1", "--port", "8123", "--name", "M"],
    ],
)
def test_staff_token_takes_the_options_of_serve(argv: list[str]) -> None:
    args = build_parser().parse_args(argv)
    assert (args.command, args.config, args.host, args.port) == ("staff-token", SAMPLE, "::1", 8123)


def test_serve_and_staff_token_share_the_listen_options() -> None:
    parser = build_parser()
    serve = parser.parse_args(["serve", "--host", "0.0.0.0", "--port", "9000"])
    token = parser.parse_args(["staff-token", "--host", "0.0.0.0", "--port", "9000", "--name", "M"])
    assert (serve.host, serve.port) == (token.host, token.port) == ("0.0.0.0", 9000)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("http://127.0.0.1:8123", "http://127.0.0.1:8123"),
        ("https://tukilinja.example.fi/", "https://tukilinja.example.fi"),
        ("http://[::1]:8080", "http://[::1]:8080"),
        ("HTTP://Example.fi", "HTTP://Example.fi"),  # kept as given: the issuer is compared as is
    ],
)
def test_base_url_accepts_an_origin(given: str, expected: str) -> None:
    assert base_url(given) == expected
    args = build_parser().parse_args(["staff-token", "--base-url", given, "--name", "M"])
    assert args.base_url == expected


@pytest.mark.parametrize(
    ("given", "says"),
    [
        ("ftp://example.fi", "must start with http:// or https://"),
        ("example.fi:8080", "must start with http:// or https://"),
        ("http://", "has no host"),
        ("http://:8080", "has no host"),
        ("https://example.fi/tukilinja", "must not have a path, query or fragment"),
        ("https://example.fi/pro/signin", "must not have a path, query or fragment"),
        ("https://example.fi?x=1", "must not have a path, query or fragment"),
        ("https://example.fi/?", "must not have a path, query or fragment"),
        ("https://example.fi#token=x", "must not have a path, query or fragment"),
        ("https://user:pw@example.fi", "must not hold a user name or password"),
        ("http://example.fi:99999", "is not a URL"),
        ("http://example.fi:port", "is not a URL"),
    ],
)
def test_base_url_refuses_anything_else_with_a_reason(
    given: str, says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["staff-token", "--base-url", given, "--name", "M"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "argument --base-url:" in err
    assert says in err


@pytest.mark.parametrize("port", ["-1", "65536", "eighty"])
def test_port_must_be_a_port(port: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["staff-token", "--port", port, "--name", "M"])
    assert "argument --port:" in capsys.readouterr().err


def test_staff_token_config_follows_file_env_and_options(tmp_path: Path) -> None:
    parse = build_parser().parse_args
    args = parse(["staff-token", "--config", SAMPLE, "--name", "M"])
    assert effective_config(args, env={}).base_url == "http://127.0.0.1:8080"
    env = {"TUKILINJA_PORT": "8123"}
    assert effective_config(args, env=env).base_url == "http://127.0.0.1:8123"
    args = parse(["staff-token", "--config", SAMPLE, "--port", "8124", "--name", "M"])
    assert effective_config(args, env=env).base_url == "http://127.0.0.1:8124"
    args = parse(["staff-token", "--host", "::1", "--port", "8124", "--name", "M"])
    assert effective_config(args, env={}).base_url == "http://[::1]:8124"
    public = {"TUKILINJA_PUBLIC_URL": "https://tukilinja.example.fi/"}
    assert effective_config(args, env=public).base_url == "https://tukilinja.example.fi"
    args = parse(["staff-token", "--port", "1", "--base-url", "http://localhost:9", "--name", "M"])
    assert effective_config(args, env=public).base_url == "http://localhost:9"


def test_staff_token_prints_a_link_for_the_servers_port(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TUKILINJA_SECRET_KEY", TEST_KEY)
    code = main(["staff-token", "--port", "8123", "--name", "Maija", "--line", "demo"])
    assert code == 0
    out, err = capsys.readouterr()
    link = out.strip()
    assert link.startswith("http://127.0.0.1:8123/pro/signin#token=")
    token = link.split("#token=", 1)[1]
    assert token not in err
    assert "http://127.0.0.1:8123" in err
    server = TokenService(TEST_KEY.encode(), issuer="http://127.0.0.1:8123")
    claims = server.verify_signin(token, datetime.now(UTC))
    assert (claims.name, claims.lines) == ("Maija", ("demo",))


def test_staff_token_says_where_lines_come_from(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["staff-token", "--name", "Maija", "--line", "sosiaalineuvonta"]) == 2
    err = capsys.readouterr().err
    assert "unknown line(s): sosiaalineuvonta (this configuration has: demo)" in err
    assert "need --config FILE" in err
    argv = ["staff-token", "--config", SAMPLE, "--name", "Maija", "--line", "sosiaalineuvonta"]
    assert main(argv) == 0
    assert capsys.readouterr().out.startswith("http://127.0.0.1:8080/pro/signin#token=")


def test_staff_token_needs_a_real_port(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["staff-token", "--port", "0", "--name", "Maija"]) == 2
    assert "give --port N or --base-url URL" in capsys.readouterr().err


def test_the_printed_command_repeats_what_differs_from_the_file(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(cli, "python_command", lambda: ".venv/bin/python")
    parse = build_parser().parse_args

    def printed(argv: list[str], env: dict[str, str]) -> list[str]:
        args = parse(argv)
        return staff_token_command(effective_config(args, env=env), args.config, env)

    tail = "--name NAME --line ID"
    assert printed(["serve"], {}) == [f".venv/bin/python -m gateway staff-token {tail}"]
    assert printed(["--config", SAMPLE, "serve", "--port", "8123"], {}) == [
        f".venv/bin/python -m gateway staff-token --config {SAMPLE} --port 8123 {tail}"
    ]
    assert printed(["serve"], {"TUKILINJA_PORT": "8123", "TUKILINJA_HOST": "::1"}) == [
        f".venv/bin/python -m gateway staff-token --host ::1 --port 8123 {tail}"
    ]
    key_env = {"TUKILINJA_PUBLIC_URL": "https://t.example", "TUKILINJA_SECRET_KEY": TEST_KEY}
    lines = printed(["serve", "--host", "0.0.0.0"], key_env)
    assert lines == [
        f".venv/bin/python -m gateway staff-token --base-url https://t.example {tail}",
        "(with the same TUKILINJA_SECRET_KEY as this server)",
    ]
    assert TEST_KEY not in "\n".join(lines)
    # A public_url with a path is no --base-url: the variable is named instead.
    assert printed(["serve"], {"TUKILINJA_PUBLIC_URL": "https://t.example/tuki/"}) == [
        f".venv/bin/python -m gateway staff-token {tail}",
        "(with the same TUKILINJA_PUBLIC_URL as this server)",
    ]


def test_the_printed_command_quotes_what_needs_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(cli, "python_command", lambda: "/opt/my python/bin/python")
    config = tmp_path / "my config.toml"
    config.write_text("[server]\nport = 8123\n")
    args = build_parser().parse_args(["--config", str(config), "serve"])
    assert staff_token_command(effective_config(args, env={}), args.config, {}) == [
        f"'/opt/my python/bin/python' -m gateway staff-token --config '{config}'"
        " --name NAME --line ID"
    ]


def test_python_command_is_the_one_that_works_here(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    venv_python = tmp_path / ".venv" / "bin" / "python"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "executable", str(venv_python))
    assert cli.python_command() == ".venv/bin/python"
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(shutil, "which", lambda name: str(venv_python))
    assert cli.python_command() == "python"
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert cli.python_command() == str(venv_python)


def test_key_file_made_once_when_processes_race(tmp_path: Path) -> None:
    """Many first uses at once agree on one complete key (the file appears atomically)."""
    config = Config(secret_key_file=str(tmp_path / "state" / "signing.key"))
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        keys = set(pool.map(lambda _: config.signing_key(), range(32)))
    assert len(keys) == 1 and len(next(iter(keys))) >= 32
    assert [p.name for p in (tmp_path / "state").iterdir()] == ["signing.key"]
    assert (tmp_path / "state" / "signing.key").stat().st_mode & 0o777 == 0o600
