"""spark-submit entry point for the `quality` job (silver suites, reconciliation; exit 3 if a critical finding)."""

import sys

from advertisex.cli import job_main

if __name__ == "__main__":
    sys.exit(job_main("quality"))
