import itertools
import json

import pytest

from shared.messaging import topics
from shared.messaging.envelope import Envelope, encode
from shared.messaging.pubsub import MessageTooLarge, chunk_by_size


def test_topic_names_are_the_design_contract():
    assert topics.ALL_TOPICS == (
        "poll-trigger",
        "market-snapshots",
        "account-events",
        "backtest-events",
        "position-events",
    )
    assert topics.dead_letter_topic(topics.POLL_TRIGGER) == "poll-trigger-dead-letter"
    assert topics.topic_path("p", "t") == "projects/p/topics/t"


def _encoder(chunk):
    return encode(
        Envelope(
            type="market_snapshots.batch",
            version=1,
            idempotency_key="k",
            payload={"snapshots": list(chunk)},
        )
    )


ITEMS = [
    {"ticker": f"KX-{i:05d}", "yes_bid_dollars": "0.4700", "pad": "x" * (i % 50)}
    for i in range(3000)
]


@pytest.mark.parametrize("max_bytes", [400, 1_000, 20_000, 100_000, 512_000])
def test_chunks_fit_keep_order_and_lose_nothing(max_bytes):
    chunks = chunk_by_size(ITEMS, _encoder, max_bytes=max_bytes)
    assert [item for chunk in chunks for item in chunk] == ITEMS
    assert all(len(_encoder(chunk)) <= max_bytes for chunk in chunks)
    assert all(chunk for chunk in chunks)


def test_chunks_are_reasonably_full():
    # Greedy packing: every chunk but the last is followed by an item that did not fit.
    max_bytes = 20_000
    chunks = chunk_by_size(ITEMS, _encoder, max_bytes=max_bytes)
    for chunk, following in itertools.pairwise(chunks):
        assert len(_encoder([*chunk, following[0]])) > max_bytes


def test_exact_boundary_is_allowed():
    items = ["a" * 10] * 10
    one = len(json.dumps(items[:3], separators=(",", ":")).encode())
    chunks = chunk_by_size(
        items, lambda c: json.dumps(list(c), separators=(",", ":")).encode(), one
    )
    assert [len(c) for c in chunks] == [3, 3, 3, 1]


def test_an_item_too_large_alone_raises():
    with pytest.raises(MessageTooLarge):
        chunk_by_size([{"x": "y" * 2000}], _encoder, max_bytes=1000)


def test_empty_input_gives_no_chunks():
    assert chunk_by_size([], _encoder) == []


def test_underestimating_encoders_are_still_respected():
    # An encoder whose size grows faster than linearly (per-chunk overhead per item pair).
    def encode_quadratic(chunk):
        return b"x" * (len(chunk) ** 2)

    chunks = chunk_by_size(list(range(100)), encode_quadratic, max_bytes=100)
    assert all(len(encode_quadratic(c)) <= 100 for c in chunks)
    assert [i for c in chunks for i in c] == list(range(100))
