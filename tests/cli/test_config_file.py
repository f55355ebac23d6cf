"""An optional config file for defaults: ./perpscope.toml, ~/.config/perpscope/config.toml or
$PERPSCOPE_CONFIG; command-line options and $PERPSCOPE_DATA always come first."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from perpscope.cli.main import app
from perpscope.core.config import ConfigFileError, load_user_config

runner = CliRunner()


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working folder with no config above it: XDG_CONFIG_HOME and the store env var cleared."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.delenv("PERPSCOPE_DATA", raising=False)
    monkeypatch.delenv("PERPSCOPE_CONFIG", raising=False)
    return tmp_path


def _bars(output: str) -> list[str]:
    return [line.split("│")[1].strip() for line in output.splitlines() if line.startswith("│ 20")]


def test_defaults_and_a_commands_table_apply_and_options_override_them(
    here: Path, demo_session: tuple[Path, str]
) -> None:
    store, _ = demo_session
    (here / "perpscope.toml").write_text(
        f'data_dir = "{store}"\n[defaults]\nevery = "1h"\n[metrics]\nrows = 3\n'
    )
    res = runner.invoke(app, ["metrics", "BTCUSDT"], env={"COLUMNS": "120"})
    assert res.exit_code == 0, res.output
    bars = _bars(res.output)
    assert len(bars) == 3 and bars[1].endswith(":00") and bars[1][-5:-3] != bars[0][-5:-3]  # hourly bars
    assert "metrics per 1h bar" in res.output
    explicit = runner.invoke(
        app, ["metrics", "BTCUSDT", "--every", "4h", "--rows", "2"], env={"COLUMNS": "120"}
    )
    assert "metrics per 4h bar" in explicit.output and len(_bars(explicit.output)) == 2


def test_data_dir_of_the_file_comes_after_the_option_and_the_environment(
    here: Path, demo_session: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, _ = demo_session
    (here / "empty").mkdir()
    (here / "perpscope.toml").write_text(f'data_dir = "{store}"\n')
    assert "BTC" in runner.invoke(app, ["store", "info"], env={"COLUMNS": "120"}).output
    named = runner.invoke(app, ["--data-dir", str(here / "empty"), "store", "info"], env={"COLUMNS": "120"})
    assert "is empty" in named.output
    monkeypatch.setenv("PERPSCOPE_DATA", str(here / "empty"))
    assert "is empty" in runner.invoke(app, ["store", "info"], env={"COLUMNS": "120"}).output


def test_a_group_subcommand_table_and_a_single_value_for_a_list_option(
    here: Path, demo_session: tuple[Path, str]
) -> None:
    store, _ = demo_session
    (here / "perpscope.toml").write_text(f'data_dir = "{store}"\n[store.info]\ncoin = "ETH"\n')
    res = runner.invoke(app, ["store", "info"], env={"COLUMNS": "120"})
    assert res.exit_code == 0, res.output
    assert "1 coin(s)" in res.output and "ETH" in res.output


def test_perpscope_config_names_another_file(here: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    other = here / "elsewhere.toml"
    other.write_text('[defaults]\nvenue = "all"\n')
    (here / "perpscope.toml").write_text('[defaults]\nvenue = "okx"\n')
    assert load_user_config().defaults == {"venue": "okx"}
    monkeypatch.setenv("PERPSCOPE_CONFIG", str(other))
    cfg = load_user_config()
    assert cfg.path == other and cfg.options("metrics") == {"venue": "all"}


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("[metrics\n", "not valid TOML"),
        ("venue = 'all'\n", "venue = 'all': options go in [defaults]"),
        ("[defaults]\nvenue = {a = 1}\n", "[defaults]: option 'venue' must be"),
        ("data_dir = 3\n", "data_dir must be a path"),
    ],
)
def test_a_bad_file_is_an_error_naming_the_file_and_the_key(here: Path, text: str, says: str) -> None:
    (here / "perpscope.toml").write_text(text)
    with pytest.raises(ConfigFileError, match=r"perpscope\.toml"):
        load_user_config()
    res = runner.invoke(app, ["store", "info"], env={"COLUMNS": "200"})
    assert res.exit_code == 2 and says in " ".join(res.output.split()), res.output
