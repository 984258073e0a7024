from datetime import UTC, datetime
from decimal import Decimal

import pytest

from shared.marketdata.copy_text import encode_copy_rows, encode_copy_value


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


def test_specialised_poll_payloads_match_the_generic_encoder():
    from dataclasses import replace
    from decimal import Decimal as D

    from shared.marketdata import ingest
    from tests.integration.marketdata.synthetic import synthetic_poll

    observations = synthetic_poll(5)
    observations[1] = replace(observations[1], ticker="ODD\tTICKER", raw=b'{"a":"q\\"\\\\"}')
    observations[2] = replace(observations[2], yes_bid_dollars=None, raw=None, volume_fp=D("1.50"))
    ts = datetime(2026, 6, 11, 5, tzinfo=UTC)
    generic = encode_copy_rows(
        (
            o.ticker,
            ts,
            "poll",
            7,
            o.yes_bid_dollars,
            o.yes_ask_dollars,
            o.no_bid_dollars,
            o.no_ask_dollars,
            o.last_price_dollars,
            o.volume_fp,
            o.open_interest_fp,
            o.raw,
        )
        for o in observations
    )
    assert ingest._snapshot_payload(observations, ts, 7) == generic
    staging = encode_copy_rows(
        (
            o.ticker,
            o.yes_bid_dollars,
            o.yes_ask_dollars,
            o.no_bid_dollars,
            o.no_ask_dollars,
            o.last_price_dollars,
            o.previous_price_dollars,
            o.volume_fp,
            o.volume_24h_fp,
            o.open_interest_fp,
            ingest.metadata_hash(o),
            o.status,
        )
        for o in observations
    )
    assert ingest._staging_payload(observations) == staging
