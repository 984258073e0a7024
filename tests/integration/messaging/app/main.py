"""A @cloud_event function for the messaging integration tests.

It appends one JSON line per delivery to the file named by RECORD_FILE (message id,
envelope, attributes, CloudEvent source) so the test can see what arrived and how often;
an envelope whose payload says ``"fail": true`` makes it raise, so functions-framework
answers 500 and the push subscription redelivers.
"""

import json
import os

import functions_framework

from shared.messaging.pubsub import cloud_event_message


@functions_framework.cloud_event
def record(cloud_event):
    envelope, attributes, message_id = cloud_event_message(cloud_event)
    line = {
        "message_id": message_id,
        "event_id": cloud_event["id"],
        "source": cloud_event["source"],
        "type": envelope.type,
        "idempotency_key": envelope.idempotency_key,
        "payload": dict(envelope.payload),
        "attributes": attributes,
    }
    with open(os.environ["RECORD_FILE"], "a") as handle:
        handle.write(json.dumps(line) + "\n")
    if envelope.payload.get("fail"):
        raise RuntimeError("told to fail")
