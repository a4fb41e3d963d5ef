"""Realistic AdvertiseX test traffic with ground truth (issue 3).

- :func:`generate` writes a deterministic data set (landing files, references, the
  Kafka payloads) — :mod:`advertisex.generate.generator`;
- :func:`compute_truth` / :func:`write_truth` derive the expected gold tables,
  quarantine counts and distinct counts from those files alone —
  :mod:`advertisex.generate.truth`;
- :func:`produce` publishes the Kafka part — :mod:`advertisex.generate.producer`;
- :func:`add_parsers` wires ``advertisex generate`` / ``advertisex produce``.
"""

from __future__ import annotations

from advertisex.generate.generator import GenerateResult, generate, load_manifest
from advertisex.generate.params import GenerateParams, Rates
from advertisex.generate.truth import Truth, TruthBuilder, Windows, compute_truth, truth_from_events, write_truth

__all__ = [
    "GenerateParams", "GenerateResult", "Rates", "Truth", "TruthBuilder", "Windows",
    "compute_truth", "generate", "load_manifest", "truth_from_events", "write_truth",
]
