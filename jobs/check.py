"""spark-submit entry point: environment check (Spark + Delta, broker, registry, connector)."""

import sys

from advertisex.cli import job_main

if __name__ == "__main__":
    sys.exit(job_main("check"))
