"""Each client's settings for ``kafka.security`` and ``schema_registry.username``; secrets only
from the environment, a missing one named in one line."""

from __future__ import annotations

import pytest

from advertisex.config import load_config
from advertisex.io.security import MissingSecretError, client_settings, registry_settings, spark_options

SASL = ("kafka.bootstrap_servers=b:9094", "kafka.security.protocol=SASL_SSL", "kafka.security.username=ax",
        "kafka.security.password_env=AX_PW", "kafka.security.ssl_ca_location=/etc/ca.pem")


def _cfg(*overrides: str):
    return load_config(None, list(overrides), environ={})


def test_plaintext_is_the_bootstrap_servers_alone():
    cfg = _cfg("kafka.bootstrap_servers=b:9092")
    assert client_settings(cfg.kafka, environ={}) == {"bootstrap.servers": "b:9092"}
    assert spark_options(cfg.kafka, environ={}) == {"kafka.bootstrap.servers": "b:9092"}
    assert registry_settings(cfg.schema_registry, environ={}) == {}


def test_sasl_ssl_in_each_clients_terms_with_the_password_from_the_environment():
    kafka = _cfg(*SASL).kafka
    env = {"AX_PW": 'p"w\\1'}
    assert client_settings(kafka, environ=env) == {
        "bootstrap.servers": "b:9094", "security.protocol": "SASL_SSL", "sasl.mechanism": "PLAIN",
        "sasl.username": "ax", "sasl.password": 'p"w\\1', "ssl.ca.location": "/etc/ca.pem"}
    assert spark_options(kafka, environ=env) == {
        "kafka.bootstrap.servers": "b:9094", "kafka.security.protocol": "SASL_SSL", "kafka.sasl.mechanism": "PLAIN",
        "kafka.sasl.jaas.config": 'org.apache.kafka.common.security.plain.PlainLoginModule required '
                                  'username="ax" password="p\\"w\\\\1";',
        "kafka.ssl.truststore.type": "PEM", "kafka.ssl.truststore.location": "/etc/ca.pem"}
    scram = _cfg(*SASL, "kafka.security.sasl_mechanism=SCRAM-SHA-512").kafka
    assert "ScramLoginModule" in spark_options(scram, environ=env)["kafka.sasl.jaas.config"]


def test_a_missing_secret_or_user_is_one_line_naming_it():
    with pytest.raises(MissingSecretError, match=r"^kafka.security.username is 'ax', but the environment variable "
                                                 r"AX_PW holding its password is not set"):
        client_settings(_cfg(*SASL).kafka, environ={})
    with pytest.raises(MissingSecretError, match=r"^kafka.security.protocol is SASL_PLAINTEXT, but "
                                                 r"kafka.security.username is not set$"):
        spark_options(_cfg("kafka.security.protocol=SASL_PLAINTEXT").kafka, environ={})
    reg = _cfg("schema_registry.username=u").schema_registry
    with pytest.raises(MissingSecretError, match="ADVERTISEX_REGISTRY_PASSWORD"):
        registry_settings(reg, environ={})
    assert registry_settings(reg, environ={"ADVERTISEX_REGISTRY_PASSWORD": "s"}) == {
        "basic.auth.credentials.source": "USER_INFO", "basic.auth.user.info": "u:s"}


def test_config_show_names_the_variable_never_the_secret(capsys, monkeypatch):
    from advertisex import cli

    monkeypatch.setenv("AX_PW", "topsecret-123")
    assert cli.main(["config", "show", *(f"--set={o}" for o in SASL)]) == 0
    shown = capsys.readouterr().out
    assert "password_env: AX_PW" in shown and "topsecret-123" not in shown
