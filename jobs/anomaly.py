"""spark-submit entry point for the `anomaly` job (see advertisex.pipelines.runner.JOBS)."""

import sys

from advertisex.cli import job_main

if __name__ == "__main__":
    sys.exit(job_main("anomaly"))
