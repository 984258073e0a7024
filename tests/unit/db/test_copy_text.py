from datetime import UTC, datetime
from decimal import Decimal

import pytest

from shared.db.copy_text import encode_copy_rows, encode_copy_value


def test_values_use_copy_text_format():
    assert encode_copy_value(None) == "\\N"
    assert encode_copy_value("a\tb\nc\\d\re") == "a\\tb\\nc\\\\d\\re"
    assert encode_copy_value(Decimal("0.4700")) == "0.4700"
    assert encode_copy_value(True) == "t"
    assert encode_copy_value(7) == "7"
    assert encode_copy_value(datetime(2026, 6, 11, tzinfo=UTC)) == "2026-06-11T00:00:00+00:00"
    assert encode_copy_value(b'{"a":"x\\ny"}') == '{"a":"x\\\\ny"}'


def test_rows_are_tab_separated_lines():
    assert encode_copy_rows([("a", None), ("b", 1)]) == b"a\t\\N\nb\t1\n"


def test_naive_datetimes_and_unknown_types_are_refused():
    with pytest.raises(ValueError):
        encode_copy_value(datetime(2026, 6, 11))
    with pytest.raises(TypeError):
        encode_copy_value(1.5)
