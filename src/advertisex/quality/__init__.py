"""Data quality below the jobs (docs/CONTRACT.md §6): the checks, how a partition is profiled
for them in one Spark pass, the Great Expectations project that validates the profiles,
its checkpoint action, reconciliation and the ``quality/results`` table.

The ``gold`` job validates its staged partitions before publishing them (write-audit-
publish); the ``quality`` job validates the silver partitions that changed and reconciles
bronze with silver and quarantine. Both go through :func:`advertisex.quality.validation.validate`.
"""

import sys

# Great Expectations imports altair, which imports jsonschema, which checks the "iri" string
# formats with rfc3987-syntax when it is installed (Jupyter's jsonschema[format-nongpl] brings
# it). That package builds its grammars as it is imported, a large part of GX's import time,
# for a format no schema in this process checks; without it jsonschema leaves it unchecked.
sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]
