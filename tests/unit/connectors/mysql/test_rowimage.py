"""The compiled row-image decoder refuses what is not a well-formed row instead of reading past it."""

from __future__ import annotations

import pytest

from dtsctl.connectors.mysql import _rowimage

INT_AND_TEXT = (("id", "name"), ((_rowimage.INT, 4, 0, None), (_rowimage.TEXT, 1, 1, None)))


def test_a_row_image_is_decoded_to_its_column_names_and_values():
    plan = _rowimage.Plan(*INT_AND_TEXT)
    row = b"\x00" + (7).to_bytes(4, "little") + b"\x02hi"
    names = INT_AND_TEXT[0]
    assert plan.decode(row + row, 0, 2 * len(row), _rowimage.UPDATE) == [((names, (7, "hi")),) * 2]
    assert plan.decode(b"\x02" + (7).to_bytes(4, "little"), 0, 5, _rowimage.DELETE) == [((names, (7, None)), None)]


@pytest.mark.parametrize("cut", [1, 3, 6, 7])
def test_an_event_that_ends_inside_a_row_is_an_error(cut):
    plan = _rowimage.Plan(*INT_AND_TEXT)
    row = b"\x00" + (7).to_bytes(4, "little") + b"\x02hi"
    with pytest.raises(ValueError, match="ends inside a row"):
        plan.decode(row + b"\xff" * 8, 0, cut, _rowimage.INSERT)


def test_a_text_length_past_the_event_is_an_error():
    plan = _rowimage.Plan(*INT_AND_TEXT)
    with pytest.raises(ValueError, match="ends inside a row"):
        plan.decode(b"\x00" + (7).to_bytes(4, "little") + b"\xfehi", 0, 8, _rowimage.INSERT)


@pytest.mark.parametrize("column", [(99, 0, 0, None), (_rowimage.INT, 5, 0, None), (_rowimage.DATETIME2, 7, 0, None),
                                    (_rowimage.PYTHON, 0, 0, None), (_rowimage.DECIMAL, 2, 3, None)])
def test_a_column_it_cannot_decode_is_refused_when_the_plan_is_built(column):
    with pytest.raises(ValueError, match="not a column this module decodes"):
        _rowimage.Plan(("c",), (column,))
