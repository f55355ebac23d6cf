"""The option checks the commands share (cli/options.check_choice, one_symbol): each command names the
option, the accepted values and what it was given, exits 2 and reads nothing first."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from perpscope.cli.main import app

runner = CliRunner()


def run(data_dir: Path, *args: str) -> tuple[int, str]:
    res = runner.invoke(app, ["--data-dir", str(data_dir), *args], env={"COLUMNS": "400"})
    return res.exit_code, " ".join(res.output.split())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("metrics", "BTCUSDT", "--format", "xml"),
            "--format must be one of table, json, csv, parquet, got 'xml'",
        ),
        (
            ("regimes", "BTCUSDT", "--format", "xml"),
            "--format must be one of table, json, csv, parquet, got 'xml'",
        ),
        (
            ("regimes", "BTCUSDT", "--what", "all"),
            "--what must be one of episodes, bars, treadmill, breakers, reading, got 'all'",
        ),
        (("flows", "BTC", "--format", "xml"), "--format must be one of table, json, csv, parquet, got 'xml'"),
        (("heatmap", "BTCUSDT", "--format", "csv"), "--format must be table or json, got 'csv'"),
        (("cascade", "BTCUSDT", "--format", "csv"), "--format must be table or json, got 'csv'"),
        (("metrics",), "name a SYMBOL, or --symbols for a batch (--cluster runs a batch on Dask)"),
        (("regimes", "BTCUSDT", "--cluster", "local[2]"), "name a SYMBOL, or --symbols for a batch"),
    ],
)
def test_a_bad_option_names_itself_and_the_accepted_values(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    code, out = run(tmp_path / "no-store", *args)
    assert code == 2, out
    assert message in out
    assert not (tmp_path / "no-store").exists()  # refused before any store is opened or created
