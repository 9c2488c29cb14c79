"""Demo identification without a server: its setting, test persons, catalogs and banners."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import pytest

from gateway.cli import main
from gateway.config import Config, check, from_mapping, load_config
from gateway.demoidp import TEST_PERSONS, identity_code
from gateway.demoidp.page import KEYS
from gateway.demoidp.persons import check_character
from rooms.errors import ConfigError

WEB = Path(__file__).resolve().parents[2] / "web"
SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def test_check_character_of_the_published_example() -> None:
    # The Digital and Population Data Services Agency's example code 131052-308T.
    assert check_character(date(1952, 10, 13), 308) == "T"


def test_test_persons_have_valid_testing_codes() -> None:
    assert 3 <= len(TEST_PERSONS) <= 4
    alphabet = "0123456789ABCDEFHJKLMNPRSTUVWXY"
    for person in TEST_PERSONS:
        code = person.personal_identity_code
        match = re.fullmatch(r"(\d{2})(\d{2})(\d{2})([-A])(\d{3})(.)", code)
        assert match, code
        day, month, year, century, number, check = match.groups()
        assert 900 <= int(number) <= 999  # never given to a real person
        born = person.birthdate
        assert (int(day), int(month), int(year)) == (born.day, born.month, born.year % 100)
        assert century == {1900: "-", 2000: "A"}[born.year // 100 * 100]
        assert check == alphabet[int(day + month + year + number) % 31]
        assert person.claims()["birthdate"] == born.isoformat()
    assert len({p.subject for p in TEST_PERSONS}) == len(TEST_PERSONS)
    assert len({p.id for p in TEST_PERSONS}) == len(TEST_PERSONS)


def test_only_testing_numbers() -> None:
    with pytest.raises(ValueError):
        identity_code(date(1985, 3, 14), 123)
    assert identity_code(date(2001, 7, 21), 904) == "210701A904L"


def test_off_by_default() -> None:
    assert Config().demo_identification is False
    assert load_config(None, env={}).demo_identification is False


def test_on_from_the_file_or_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text("[identification]\ndemo = true\n")
    assert load_config(path, env={}).demo_identification is True
    env = {"TUKILINJA_DEMO_IDENTIFICATION": "true"}
    assert load_config(None, env=env).demo_identification is True
    env = {"TUKILINJA_DEMO_IDENTIFICATION": "false"}
    assert load_config(path, env=env).demo_identification is False
    with pytest.raises(ConfigError, match="TUKILINJA_DEMO_IDENTIFICATION"):
        load_config(None, env={"TUKILINJA_DEMO_IDENTIFICATION": "perhaps"})
    with pytest.raises(ConfigError, match=r"identification\.demo"):
        from_mapping({"identification": {"demo": "yes"}})


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost", "127.0.0.2"])
def test_allowed_on_loopback(host: str) -> None:
    env = {"TUKILINJA_DEMO_IDENTIFICATION": "true", "TUKILINJA_HOST": host}
    assert load_config(None, env=env).host == host


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.0.0.5", "tukilinja.example.fi"])
def test_refused_off_loopback(host: str) -> None:
    env = {"TUKILINJA_DEMO_IDENTIFICATION": "true", "TUKILINJA_HOST": host}
    with pytest.raises(ConfigError, match=r"only for trying out.*loopback"):
        load_config(None, env=env)
    # Off, the same host is fine.
    assert load_config(None, env={"TUKILINJA_HOST": host}).host == host


def test_refused_behind_a_public_url() -> None:
    env = {
        "TUKILINJA_DEMO_IDENTIFICATION": "true",
        "TUKILINJA_PUBLIC_URL": "https://tukilinja.example.fi",
    }
    with pytest.raises(ConfigError, match="public_url"):
        load_config(None, env=env)
    config = from_mapping(
        {"server": {"public_url": "http://localhost:8080"}, "identification": {"demo": True}}
    )
    assert check(config) is config


def test_serve_exits_non_zero_off_loopback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TUKILINJA_DEMO_IDENTIFICATION", "true")
    # serve --host is applied after the file and the environment: checked all the same.
    assert main(["serve", "--host", "0.0.0.0"]) == 2
    error = capsys.readouterr().err
    assert "configuration error" in error
    assert "demo identification" in error and "loopback" in error


def test_scripts_run_turns_it_on_unless_set() -> None:
    script = (SCRIPTS / "run").read_text()
    assert 'TUKILINJA_DEMO_IDENTIFICATION="${TUKILINJA_DEMO_IDENTIFICATION:-true}"' in script
    assert script.index("DEMO_IDENTIFICATION") < script.index("exec ")


@pytest.mark.parametrize("lang", ["fi", "en"])
def test_catalogs_have_the_provider_pages_text(lang: str) -> None:
    catalog = json.loads((WEB / "i18n" / f"{lang}.json").read_text(encoding="utf-8"))
    assert [key for key in KEYS if key not in catalog] == []
    assert catalog["demo.mark"] == "DEMO"
    assert "DEMO" in catalog["demoIdp.title"]


def test_button_labels() -> None:
    en = json.loads((WEB / "i18n" / "en.json").read_text(encoding="utf-8"))
    assert en["demoIdp.identify"] == "Identify as test person"
    assert en["demoIdp.cancel"] == "Cancel"
    assert "made-up test persons" in en["demoIdp.madeUp"]


@pytest.mark.parametrize(
    "page", ["index.html", "line.html", "pro.html", "join.html", "signin.html"]
)
def test_every_page_has_the_hidden_demo_banner(page: str) -> None:
    html = (WEB / page).read_text(encoding="utf-8")
    assert re.search(r'<div id="demo-banner" class="demo-banner" hidden>', html)
    assert 'data-i18n="demo.mark"' in html and 'data-i18n="demo.banner"' in html
    assert re.search(r'id="demo-announce"[^>]*aria-live="polite"', html)
    # Before the page's own content, so it is met first.
    assert html.index('id="demo-banner"') < html.index("<main ")


@pytest.mark.parametrize("script", ["index.js", "line.js", "pro.js", "join.js", "signin.js"])
def test_every_page_script_shows_the_banner(script: str) -> None:
    source = (WEB / "js" / script).read_text(encoding="utf-8")
    assert "from './demo.js'" in source
    assert re.search(r"\b(showDemo\([a-z]+\.demoIdentification\)|checkDemo\(\))", source)
