"""Schema registry access: the one client factory of the project, and the decoder's cache.

:func:`registry_client` makes the Confluent client every caller uses (the decoder's cache,
``check_registry``, the local stack's readiness check, the producer);
:func:`registry_errors` turns what it raises into one line naming the registry's URL.

Schema ids are immutable in a Confluent-compatible registry, so an id, once fetched,
never needs fetching again; only the subject's list of versions and its newest version
are asked each batch. An id the registry did not know (404) is asked again once its answer
is older than ``recheck_s``: registries hand out ids in sequence, so an id a message
claimed before it existed can be registered later. While the registry is down (restarting,
say), the batches go on with the schemas already known; only an id never seen needs it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from functools import lru_cache
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from advertisex.config import SchemaRegistryConfig
from advertisex.errors import ServiceUnavailableError
from advertisex.io.security import registry_settings

if TYPE_CHECKING:
    from confluent_kafka.schema_registry import SchemaRegistryClient

log = logging.getLogger(__name__)
T = TypeVar("T")


def registry_client(url: str, timeout_s: float = 10.0, *, retries: int | None = None,
                    auth: Mapping[str, str] | None = None) -> SchemaRegistryClient:
    """A Confluent schema-registry client for the registry at ``url``.

    Args:
        url: the registry's base URL (``schema_registry.url``).
        timeout_s: seconds each HTTP request may take.
        retries: attempts after a failed one (refused connection, timeout, HTTP 5xx);
            None keeps the client's default, 0 asks once (a probe that must answer now).
        auth: authentication settings (:func:`advertisex.io.security.registry_settings`).

    Returns:
        The client; it caches schemas by id itself.

    Raises:
        ValueError: ``url`` is not an ``http(s)://`` URL.
    """
    from confluent_kafka.schema_registry import SchemaRegistryClient

    conf: dict[str, Any] = {"url": url, "timeout": timeout_s, **(auth or {})}
    if retries is not None:
        conf["max.retries"] = retries
    return SchemaRegistryClient(conf)


def transport_errors() -> tuple[type[Exception], ...]:
    """What the client raises when no answer came.

    Returns:
        ``OSError`` and the transport errors of the client's HTTP library ``httpx2``
        (refused connection, timeout), which are not ``OSError``s.
    """
    from httpx2 import TransportError

    return (OSError, TransportError)


@contextmanager
def registry_errors(url: str, problem: str) -> Iterator[None]:
    """Registry errors inside → one readable :class:`ServiceUnavailableError` naming ``url``.

    Args:
        url: the registry, for the message.
        problem: what failed, for the message when the registry answered with an error.

    Raises:
        ServiceUnavailableError: the registry answered with an error, or not at all.
    """
    from confluent_kafka.schema_registry.error import SchemaRegistryError

    try:
        yield
    except SchemaRegistryError as exc:
        error = RegistryDownError if (exc.http_status_code or 0) >= 500 else ServiceUnavailableError
        raise error(f"schema registry at {url}: {problem} ({exc})") from None
    except transport_errors() as exc:
        raise RegistryDownError(f"schema registry not reachable at {url} ({exc})") from None


class RegistryDownError(ServiceUnavailableError):
    """The registry did not answer, or answered with a server error: it may be restarting."""


class SchemaCache:
    """Writer schemas by id and the newest schema of a subject, from the registry at ``url``."""

    def __init__(self, url: str, timeout_s: float = 10.0, recheck_s: float = 300.0,
                 clock: Callable[[], float] = time.monotonic, auth: Mapping[str, str] | None = None) -> None:
        self.url = url
        self.recheck_s = recheck_s
        self._clock = clock
        self._client = registry_client(url, timeout_s, auth=auth)
        self._by_id: dict[int, str] = {}
        self._missing: dict[int, float] = {}  # id → when the registry answered 404 for it
        self._version_ids: dict[tuple[str, int], int] = {}
        self._latest: dict[str, Registered] = {}
        self._down_since: float | None = None  # when the registry stopped answering

    @property
    def missing(self) -> frozenset[int]:
        """Ids the registry answered 404 for, less than ``recheck_s`` ago."""
        now = self._clock()
        return frozenset(i for i, at in self._missing.items() if now - at < self.recheck_s)

    def recheck_missing(self) -> dict[int, str]:
        """Ask again for the ids whose 404 is ``recheck_s`` old or older; returns the
        schemas of those the registry knows now (the others count as missing again)."""
        now = self._clock()
        due = [i for i, at in self._missing.items() if now - at >= self.recheck_s]
        return self.writer_schemas(due) if due else {}

    def writer_schemas(self, ids: Iterable[int]) -> dict[int, str]:
        """Schema JSON for each id the registry knows; ids it does not know are left out."""
        from confluent_kafka.schema_registry.error import SchemaRegistryError

        out = {}
        missing = self.missing
        for schema_id in ids:
            if schema_id is None:
                continue
            if schema_id not in self._by_id and schema_id not in missing:
                with registry_errors(self.url, f"failed for schema id {schema_id}"):
                    try:
                        self._by_id[schema_id] = self._client.get_schema(schema_id).schema_str
                        self._missing.pop(schema_id, None)
                    except SchemaRegistryError as exc:
                        if exc.http_status_code != 404:
                            raise  # → ServiceUnavailableError, by registry_errors
                        self._missing[schema_id] = self._clock()
            if schema_id in self._by_id:
                out[schema_id] = self._by_id[schema_id]
        return out

    def subject_schemas(self, subject: str) -> dict[int, str]:
        """Schema id → JSON of every version registered under ``subject``.

        One request lists the versions; a version not seen before costs one more, once.
        While the registry is down, the versions this process knows (see :meth:`_or_known`).
        """

        def ask() -> list[int]:
            with registry_errors(self.url, f"cannot list subject {subject!r}"):
                versions = self._client.get_versions(subject)
                for version in versions:
                    if (subject, version) not in self._version_ids:
                        registered = self._client.get_version(subject, version)
                        self._by_id[registered.schema_id] = registered.schema.schema_str
                        self._version_ids[(subject, version)] = registered.schema_id
            return versions

        known = [v for (s, v) in self._version_ids if s == subject]
        ids = (self._version_ids[(subject, version)] for version in self._or_known(ask, known or None))
        return {schema_id: self._by_id[schema_id] for schema_id in ids}

    def latest(self, subject: str) -> Registered:
        """The newest version registered under ``subject``, asked anew each time (the client's
        own ``get_latest_version`` keeps its first answer for the life of the process, which
        would hide a version registered while a stream runs). While the registry is down, the
        newest this process was told (see :meth:`_or_known`)."""

        def ask() -> Registered:
            with registry_errors(self.url, f"no schema under subject {subject!r}"):
                registered = self._client.get_version(subject, max(self._client.get_versions(subject)))
            self._by_id[registered.schema_id] = registered.schema.schema_str
            return Registered(subject, registered.version, registered.schema_id, registered.schema.schema_str)

        self._latest[subject] = self._or_known(ask, self._latest.get(subject))
        return self._latest[subject]

    def _or_known(self, ask: Callable[[], T], known: T | None) -> T:
        """``ask()``; while the registry is down (no answer, or a server error: restarting,
        say), ``known`` instead, the answer this process had before: no version can be
        registered meanwhile, so the batches go on with the schemas known. Without one, or for
        an id never seen (:meth:`writer_schemas`), the error is raised. The outage and its end
        are logged once each."""
        try:
            answer = ask()
        except RegistryDownError as exc:
            if known is None:
                raise
            if self._down_since is None:
                self._down_since = self._clock()
                log.warning("%s; going on with the schemas known until it answers", exc)
            return known
        if self._down_since is not None:
            log.warning("schema registry at %s answers again, after %.0f s", self.url, self._clock() - self._down_since)
            self._down_since = None
        return answer


class Registered(NamedTuple):
    """One version of a subject: its number, the schema's id and its JSON."""

    subject: str
    version: int
    schema_id: int
    schema: str


@lru_cache(maxsize=8)
def schema_cache(registry: SchemaRegistryConfig) -> SchemaCache:
    """One cache per ``schema_registry`` section for the life of the driver process."""
    return SchemaCache(registry.url, registry.timeout_seconds, registry.unknown_id_recheck_seconds,
                       auth=registry_settings(registry))
