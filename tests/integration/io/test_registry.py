"""The schema cache against the real registry: an id unknown today is asked again later."""

from __future__ import annotations

import json
import uuid

import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient

from advertisex.io.registry import SchemaCache

pytestmark = pytest.mark.stack


def test_an_unknown_schema_id_is_asked_again_once_its_404_is_old(stack_cfg):
    """The registry hands out ids in sequence: an id a message claimed before it existed
    can be registered later, and is then found after ``recheck_s``, not before."""
    client = SchemaRegistryClient({"url": stack_cfg.schema_registry.url})

    def unique_schema() -> str:
        return json.dumps({"type": "record", "name": f"R{uuid.uuid4().hex}", "fields": [{"name": "a", "type": "int"}]})

    subject = f"recheck-{uuid.uuid4().hex[:8]}"
    last = client.register_schema(subject, Schema(unique_schema(), "AVRO"))
    now = [1000.0]
    cache = SchemaCache(stack_cfg.schema_registry.url, recheck_s=60, clock=lambda: now[0])
    ahead = [last + 1, last + 2, last + 3]
    assert cache.writer_schemas(ahead) == {}
    assert cache.missing == frozenset(ahead)

    later = unique_schema()
    new_id = client.register_schema(subject, Schema(later, "AVRO"))
    assert new_id == last + 1  # nothing else registers while the tests run
    now[0] += 59
    assert cache.recheck_missing() == {}
    assert cache.writer_schemas([new_id]) == {}  # the 404 still stands
    now[0] += 1
    found = cache.recheck_missing()
    assert set(found) == {new_id} and json.loads(found[new_id])["name"] == json.loads(later)["name"]
    assert cache.missing == frozenset(ahead[1:])  # asked again: still unknown, counted from now
    now[0] += 59
    assert cache.missing == frozenset(ahead[1:])
    assert cache.writer_schemas([new_id]) == found
