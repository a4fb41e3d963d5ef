"""How every client of the project reaches Kafka and the schema registry: the settings of
``kafka.security`` and ``schema_registry.username`` in each client's own terms.

Secrets come only from the environment (the variables ``kafka.security.password_env`` and
``schema_registry.password_env`` name), when a client is made: the configuration never holds
them, so ``config show`` cannot print them. Spark's Kafka options carry the password in
``kafka.sasl.jaas.config``; session.py has Spark redact that option (with every option named
like a secret) wherever it shows a plan or an option.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from advertisex.config import KafkaConfig, SchemaRegistryConfig
from advertisex.errors import AdvertisexError

LOGIN_MODULES = {
    "PLAIN": "org.apache.kafka.common.security.plain.PlainLoginModule",
    "SCRAM-SHA-256": "org.apache.kafka.common.security.scram.ScramLoginModule",
    "SCRAM-SHA-512": "org.apache.kafka.common.security.scram.ScramLoginModule",
}


class MissingSecretError(AdvertisexError):
    """A client needs a password and its environment variable is not set."""


def _password(env: str, why: str, environ: Mapping[str, str] | None) -> str:
    value = (os.environ if environ is None else environ).get(env, "")
    if not value:
        raise MissingSecretError(f"{why}, but the environment variable {env} holding its password is not set "
                                 "(secrets come only from the environment)")
    return value


def _sasl(kafka: KafkaConfig, environ: Mapping[str, str] | None) -> tuple[str, str] | None:
    """(user, password) when the protocol is SASL, else None."""
    sec = kafka.security
    if not sec.protocol.startswith("SASL"):
        return None
    if not sec.username:
        raise MissingSecretError(f"kafka.security.protocol is {sec.protocol}, but kafka.security.username is not set")
    return sec.username, _password(sec.password_env, f"kafka.security.username is {sec.username!r}", environ)


def client_settings(kafka: KafkaConfig, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """librdkafka's settings (confluent-kafka's admin client and producer) for ``kafka``.

    Raises:
        MissingSecretError: SASL without a user name, or without its password in the environment.
    """
    out = {"bootstrap.servers": kafka.bootstrap_servers}
    sec = kafka.security
    if sec.protocol != "PLAINTEXT":
        out["security.protocol"] = sec.protocol
    login = _sasl(kafka, environ)
    if login:
        out.update({"sasl.mechanism": sec.sasl_mechanism, "sasl.username": login[0], "sasl.password": login[1]})
    if sec.ssl_ca_location:
        out["ssl.ca.location"] = sec.ssl_ca_location
    return out


def spark_options(kafka: KafkaConfig, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Spark's Kafka source options (``kafka.``-prefixed consumer settings) for ``kafka``.

    Raises:
        MissingSecretError: as :func:`client_settings`.
    """
    out = {"kafka.bootstrap.servers": kafka.bootstrap_servers}
    sec = kafka.security
    if sec.protocol != "PLAINTEXT":
        out["kafka.security.protocol"] = sec.protocol
    login = _sasl(kafka, environ)
    if login:
        user, password = (v.replace("\\", "\\\\").replace('"', '\\"') for v in login)
        out["kafka.sasl.mechanism"] = sec.sasl_mechanism
        out["kafka.sasl.jaas.config"] = (f'{LOGIN_MODULES[sec.sasl_mechanism]} required username="{user}" '
                                         f'password="{password}";')
    if sec.ssl_ca_location:
        out.update({"kafka.ssl.truststore.type": "PEM", "kafka.ssl.truststore.location": sec.ssl_ca_location})
    return out


def registry_settings(registry: SchemaRegistryConfig, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The schema-registry client's authentication settings (none without ``schema_registry.username``).

    Raises:
        MissingSecretError: a user name without its password in the environment.
    """
    if not registry.username:
        return {}
    password = _password(registry.password_env, f"schema_registry.username is {registry.username!r}", environ)
    return {"basic.auth.credentials.source": "USER_INFO", "basic.auth.user.info": f"{registry.username}:{password}"}
