from __future__ import annotations

import socket

import pytest

from advertisex.errors import ServiceUnavailableError
from advertisex.io.registry import RegistryDownError, SchemaCache, registry_errors


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("ask", [
    lambda c: c.writer_schemas([5]),
    lambda c: c.subject_schemas("bids-value"),
    lambda c: c.latest("bids-value"),
])
def test_a_registry_that_is_down_gives_one_line_naming_its_address(ask) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    with pytest.raises(ServiceUnavailableError, match=f"^schema registry not reachable at {url} "):
        ask(SchemaCache(url, timeout_s=1))


@pytest.mark.parametrize(("status", "down"), [(503, True), (500, True), (404, False), (401, False)])
def test_a_server_error_counts_as_down_a_client_error_does_not(status, down) -> None:
    from confluent_kafka.schema_registry.error import SchemaRegistryError

    with pytest.raises(ServiceUnavailableError) as raised, registry_errors("http://r", "asking"):
        raise SchemaRegistryError(status, status * 100, "no")
    assert isinstance(raised.value, RegistryDownError) is down
