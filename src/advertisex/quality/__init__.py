"""Data quality below the jobs (docs/CONTRACT.md §6): the checks, how a partition is profiled
for them in one Spark pass, the Great Expectations project that validates the profiles,
its checkpoint action, reconciliation and the ``quality/results`` table.

The ``gold`` job validates its staged partitions before publishing them (write-audit-
publish); the ``quality`` job validates the silver partitions that changed and reconciles
bronze with silver and quarantine. Both go through :func:`advertisex.quality.validation.validate`.
"""
