"""The deployment files parse and agree with the code: compose, Dockerfile, sample config."""

from __future__ import annotations

import json
import re
import tomllib
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml  # type: ignore[import-untyped, unused-ignore]

from gateway.cli import build_parser
from gateway.config import Config, load_config

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "gateway" / "sample-config.toml"
CONFIG_IN_IMAGE = "/etc/tukilinja/config.toml"
HELSINKI = ZoneInfo("Europe/Helsinki")
LINES = ("sosiaalineuvonta", "nuoret-aikuiset", "terveyssosiaalityo")


# -- docker-compose.yml ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


def _ports(service: dict[str, Any]) -> list[str]:
    ports = service.get("ports", [])
    assert isinstance(ports, list)
    return [str(port) for port in ports]


def _seconds(duration: str) -> float:
    match = re.fullmatch(r"(\d+)(s|m)", duration)
    assert match, duration
    return int(match[1]) * (60 if match[2] == "m" else 1)


def test_compose_has_the_three_services(compose: dict[str, Any]) -> None:
    assert {"gateway", "redis", "coturn"} <= set(compose["services"])


def test_compose_gateway_is_built_from_the_dockerfile(compose: dict[str, Any]) -> None:
    gateway = compose["services"]["gateway"]
    build = gateway["build"]
    context = build if isinstance(build, str) else build["context"]
    dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
    assert (ROOT / context / dockerfile).is_file()


def test_compose_gateway_ports_env_and_config(compose: dict[str, Any]) -> None:
    gateway = compose["services"]["gateway"]
    assert "8080:8080" in _ports(gateway)
    env = gateway["environment"]
    assert isinstance(env, dict)
    assert {"TUKILINJA_PUBLIC_URL", "TUKILINJA_SECRET_KEY"} <= set(env)
    mounts = [str(volume) for volume in gateway["volumes"]]
    assert f"./gateway/sample-config.toml:{CONFIG_IN_IMAGE}:ro" in mounts


def test_compose_gateway_healthcheck(compose: dict[str, Any]) -> None:
    check = compose["services"]["gateway"]["healthcheck"]
    test = check["test"]
    assert isinstance(test, list)
    assert test[0] == "CMD"
    assert "/healthz" in " ".join(str(part) for part in test)
    for key in ("interval", "timeout", "retries"):
        assert key in check


def test_compose_stop_grace_covers_the_drain(compose: dict[str, Any]) -> None:
    grace = _seconds(str(compose["services"]["gateway"]["stop_grace_period"]))
    drain = load_config(SAMPLE, env={}).drain_seconds
    assert grace > drain


def test_compose_redis_and_coturn(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert str(services["redis"]["image"]).startswith("redis:7")
    coturn = services["coturn"]
    assert str(coturn["image"]).startswith("coturn/coturn")
    assert "network_mode" not in coturn
    ports = _ports(coturn)
    assert "3478:3478/udp" in ports
    assert any(re.fullmatch(r"(\d+)-(\d+):\1-\2/udp", port) for port in ports), ports
    args = coturn["command"]
    assert isinstance(args, list)
    assert any(str(arg).startswith("--min-port=") for arg in args)
    assert any(str(arg).startswith("--max-port=") for arg in args)


# -- Dockerfile -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in (ROOT / "Dockerfile").read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        pending += line
        keyword, _, args = pending.partition(" ")
        out.append((keyword.upper(), args.strip()))
        pending = ""
    assert not pending, "the Dockerfile ends inside a continuation"
    return out


def _args(instructions: list[tuple[str, str]], keyword: str) -> list[str]:
    return [args for key, args in instructions if key == keyword]


def test_dockerfile_starts_from_python_slim(instructions: list[tuple[str, str]]) -> None:
    keyword, args = instructions[0]
    assert keyword == "FROM"
    assert args.split()[0] == "python:3.11-slim-bookworm"


def test_dockerfile_installs_the_package(instructions: list[tuple[str, str]]) -> None:
    assert any("pip install --no-cache-dir ." in args for args in _args(instructions, "RUN"))
    copied = {args.split()[0] for args in _args(instructions, "COPY")}
    for source in copied:
        assert (ROOT / source).exists(), source
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "packages"
    ]
    # Sub-packages (web.css, ...) come with their top-level folder.
    assert {"pyproject.toml", *(package.split(".")[0] for package in packages)} <= copied


def test_dockerfile_runs_as_a_non_root_user(instructions: list[tuple[str, str]]) -> None:
    users = _args(instructions, "USER")
    assert users, "no USER instruction"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    last_user = max(i for i, (key, _) in enumerate(instructions) if key == "USER")
    cmd = max(i for i, (key, _) in enumerate(instructions) if key == "CMD")
    assert last_user < cmd


def test_dockerfile_exposes_and_checks_health(instructions: list[tuple[str, str]]) -> None:
    assert "8080" in " ".join(_args(instructions, "EXPOSE")).split()
    (check,) = _args(instructions, "HEALTHCHECK")
    assert "CMD" in check
    assert "urllib" in check
    assert "/healthz" in check


def test_dockerfile_cmd_is_accepted_by_the_cli(instructions: list[tuple[str, str]]) -> None:
    (cmd,) = _args(instructions, "CMD")
    argv = json.loads(cmd)
    assert isinstance(argv, list)
    assert all(isinstance(arg, str) for arg in argv)
    assert argv[:3] == ["python", "-m", "gateway"]
    args = build_parser().parse_args(argv[3:])
    assert args.command == "serve"
    assert args.config == CONFIG_IN_IMAGE
    assert args.host == "0.0.0.0"


def test_dockerignore_keeps_what_the_build_needs() -> None:
    ignored = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    for needed in ("pyproject.toml", "gateway", "signaling", "media", "rooms", "web"):
        assert needed not in ignored


# -- gateway/sample-config.toml -------------------------------------------------------------


@pytest.fixture(scope="module")
def sample() -> Config:
    return load_config(SAMPLE, env={})


def _at(day: date, hour: int, minute: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=HELSINKI)


def test_sample_config_has_the_lines_and_the_demo_line(sample: Config) -> None:
    lines = sample.all_lines()
    assert set(LINES) <= set(lines)
    assert "demo" in lines
    assert sample.ice.servers == ()  # no public STUN by default


@pytest.mark.parametrize("line_id", LINES)
def test_sample_lines_follow_the_week(sample: Config, line_id: str) -> None:
    hours = sample.all_lines()[line_id].hours
    assert not hours.is_open(_at(date(2026, 11, 22), 12, 30))  # Sunday
    assert hours.is_open(_at(date(2026, 11, 24), 12, 30))  # Tuesday, no holiday
    assert not hours.is_open(_at(date(2026, 12, 24), 12, 30))  # jouluaatto


def test_sample_exception_shortens_the_day(sample: Config) -> None:
    hours = sample.all_lines()["sosiaalineuvonta"].hours
    assert hours.is_open(_at(date(2026, 12, 23), 11, 30))
    assert not hours.is_open(_at(date(2026, 12, 23), 12, 30))


def _easter(year: int) -> date:
    """Gregorian Easter Sunday (anonymous Gregorian algorithm)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    g = (8 * b + 13) // 25
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    m = (32 + 2 * e + 2 * i - h - k) % 7
    n = (a + 11 * h + 22 * m) // 451
    month, day = divmod(h + m - 7 * n + 114, 31)
    return date(year, month, day + 1)


def _first_weekday(start: date, weekday: int) -> date:
    return start + timedelta(days=(weekday - start.weekday()) % 7)


def _finnish_holidays(year: int) -> set[date]:
    easter = _easter(year)
    midsummer_eve = _first_weekday(date(year, 6, 19), 4)  # Friday 19-25 June
    return {
        date(year, 1, 1),
        date(year, 1, 6),
        easter - timedelta(days=2),
        easter + timedelta(days=1),
        date(year, 5, 1),
        easter + timedelta(days=39),
        midsummer_eve,
        midsummer_eve + timedelta(days=1),
        _first_weekday(date(year, 10, 31), 5),  # Saturday 31 Oct - 6 Nov
        date(year, 12, 6),
        date(year, 12, 24),
        date(year, 12, 25),
        date(year, 12, 26),
    }


def test_easter_algorithm() -> None:
    assert _easter(2024) == date(2024, 3, 31)
    assert _easter(2025) == date(2025, 4, 20)


def test_sample_holidays_are_the_finnish_ones() -> None:
    listed = tomllib.loads(SAMPLE.read_text())["holidays"]
    days = {date.fromisoformat(day) for day in listed}
    assert len(days) == len(listed)
    assert days == _finnish_holidays(2026) | _finnish_holidays(2027)
