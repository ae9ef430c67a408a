"""A window the user types (`--window CENTER,WIDTH`) is two finite numbers, or a one-line usage error."""

from __future__ import annotations

import pytest
from conftest import assert_one_line_error, run_cli

NOT_FINITE = [("nan,400", "nan"), ("40,nan", "nan"), ("nan,nan", "nan"), ("inf,400", "inf"), ("40,inf", "inf"),
              ("-inf,400", "-inf"), ("40,-inf", "-inf"), ("1e400,400", "1e400"), ("40,1e999", "1e999"),
              ("NaN,400", "NaN"), ("40,Infinity", "Infinity")]


@pytest.mark.parametrize(("window", "bad"), NOT_FINITE)
def test_a_window_that_is_not_a_finite_number_is_a_usage_error(window, bad, tmp_path, capsys):
    out = tmp_path / "x.png"
    code, _, err = run_cli(capsys, "view", "--demo", "--out", out, f"--window={window}")
    assert_one_line_error(code, err)
    assert f"must be a finite number, not {bad}" in err
    assert not out.exists()


def test_a_negative_centre_given_with_equals_is_a_window(tmp_path, capsys):
    # Lung windows have negative centres; argparse takes '-600,1500' after a space for an option.
    assert run_cli(capsys, "view", "--demo", "--out", tmp_path / "x.png", "--window=-600,1500")[0] == 0
