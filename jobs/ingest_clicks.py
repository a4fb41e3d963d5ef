"""spark-submit entry point for the `ingest_clicks` job (see advertisex.pipelines.runner.JOBS)."""

import sys

from advertisex.cli import job_main

if __name__ == "__main__":
    sys.exit(job_main("ingest_clicks"))
