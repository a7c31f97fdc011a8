"""Full-copy progress lines shown by `status ADDR` and `wait`."""

from __future__ import annotations

from dtsctl.cli.progress import table_lines


def test_progress_lines_show_fraction_and_rows() -> None:
    lines = table_lines({
        "shop.orders": {"rows_copied": 500, "rows_estimated": 1000, "done": False},
        "shop.items": {"rows_copied": 30, "rows_estimated": 30, "done": True},
        "shop.new": {"rows_copied": 0, "rows_estimated": 0, "done": False},
    })
    assert lines[0].startswith("  shop.items ") and "100%" in lines[0] and "30 rows copied" in lines[0]
    assert "50%" in lines[2] and "500 rows of ~1000" in lines[2] and "#" * 15 in lines[2]
    assert "0%" in lines[1] and "0 rows copied so far" in lines[1]


def test_verify_draws_one_bar_redrawn_in_place(capsys) -> None:
    from dtsctl.cli.verify_commands import VerifyBar

    bar = VerifyBar()
    bar.object_started("shop.orders", 4000)
    bar.advanced(2000)
    out = capsys.readouterr().out
    last = out.rsplit("\x1b[2K", 1)[-1]
    assert last == f"  verifying shop.orders  [{'#' * 15}{' ' * 15}]  50%  2000 of ~4000\n"
    assert out.count("\x1b[1A") == 1  # the second drawing replaced the first
