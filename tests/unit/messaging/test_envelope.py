import base64
import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from shared.messaging.envelope import Envelope, InvalidMessage, decode, encode
from shared.messaging.pubsub import cloud_event_message


def test_round_trip_keeps_every_field_and_decimal_as_string():
    sent = Envelope(
        type="market_snapshots.batch",
        version=2,
        idempotency_key="poll-2026-11-21T05:00Z",
        payload={"ticker": "KXBTC", "yes_bid_dollars": Decimal("0.4700"), "n": [1, 2]},
        emitted_at=datetime(2026, 11, 21, 5, 0, 0, 123456, tzinfo=UTC),
    )
    received = decode(encode(sent))
    assert received.type == sent.type
    assert received.version == 2
    assert received.idempotency_key == sent.idempotency_key
    assert received.emitted_at == sent.emitted_at
    # Money stays exact: written as the fixed-point string, never a float.
    assert received.payload == {"ticker": "KXBTC", "yes_bid_dollars": "0.4700", "n": [1, 2]}


def test_emitted_at_is_normalised_to_utc():
    moment = datetime(2026, 1, 1, 12, 0, tzinfo=timezone(timedelta(hours=-5)))
    data = json.loads(encode(Envelope(type="t", version=1, emitted_at=moment)))
    assert data["emitted_at"] == "2026-01-01T17:00:00.000000Z"
    assert decode(encode(Envelope(type="t", version=1, emitted_at=moment))).emitted_at == moment


def test_defaults_give_unique_keys_and_aware_time():
    first, second = Envelope(type="t", version=1), Envelope(type="t", version=1)
    assert first.idempotency_key != second.idempotency_key
    assert first.emitted_at.tzinfo is not None


def test_unknown_top_level_fields_are_tolerated():
    data = json.loads(encode(Envelope(type="t", version=1, idempotency_key="k")))
    data["added_in_a_later_release"] = True
    assert decode(json.dumps(data).encode()).idempotency_key == "k"


def _valid() -> dict:
    return json.loads(encode(Envelope(type="t.x", version=1, idempotency_key="k", payload={})))


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.pop("type"),
        lambda d: d.update(type=""),
        lambda d: d.update(type="Has Spaces"),
        lambda d: d.pop("version"),
        lambda d: d.update(version=0),
        lambda d: d.update(version="1"),
        lambda d: d.update(version=True),
        lambda d: d.pop("idempotency_key"),
        lambda d: d.update(idempotency_key="  "),
        lambda d: d.update(idempotency_key="x" * 257),
        lambda d: d.update(payload=[1, 2]),
        lambda d: d.pop("payload"),
        lambda d: d.update(emitted_at="yesterday"),
        lambda d: d.update(emitted_at="2026-01-01T00:00:00"),
        lambda d: d.pop("emitted_at"),
    ],
)
def test_invalid_documents_raise_invalid_message(mutate):
    document = _valid()
    mutate(document)
    with pytest.raises(InvalidMessage):
        decode(json.dumps(document).encode())


@pytest.mark.parametrize("data", [b"", b"\xff\xfe", b"not json", b"[1,2]", b"null"])
def test_non_json_object_data_is_invalid(data):
    with pytest.raises(InvalidMessage):
        decode(data)


def test_invalid_message_is_a_value_error_consumers_can_catch():
    assert issubclass(InvalidMessage, ValueError)


def _cloud_event_data(data: bytes, **message_fields):
    message = {"data": base64.b64encode(data).decode(), "attributes": {"a": "1"}}
    message.update(message_fields)
    return {"message": message, "subscription": "projects/p/subscriptions/s"}


class FakeCloudEvent:
    def __init__(self, data, event_id="ce-1"):
        self.data = data
        self._attributes = {"id": event_id}

    def __getitem__(self, key):
        return self._attributes[key]


def test_cloud_event_message_decodes_envelope_attributes_and_message_id():
    sent = Envelope(type="t", version=1, idempotency_key="k", payload={"x": 1})
    event = FakeCloudEvent(_cloud_event_data(encode(sent), messageId="42"))
    envelope, attributes, message_id = cloud_event_message(event)
    assert envelope == decode(encode(sent))
    assert attributes == {"a": "1"}
    assert message_id == "42"


def test_cloud_event_message_falls_back_to_the_event_id():
    event = FakeCloudEvent(_cloud_event_data(encode(Envelope(type="t", version=1))), "ce-9")
    assert cloud_event_message(event)[2] == "ce-9"


@pytest.mark.parametrize(
    "data",
    [
        None,
        {},
        {"message": "x"},
        {"message": {"data": ""}},
        {"message": {"data": "***not base64***"}},
        _cloud_event_data(b"not json", messageId="1"),
    ],
)
def test_cloud_event_message_rejects_malformed_events(data):
    with pytest.raises(InvalidMessage):
        cloud_event_message(FakeCloudEvent(data))
