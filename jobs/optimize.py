"""spark-submit entry point for the `optimize` job (compaction + Z-order; schedule it)."""

import sys

from advertisex.cli import job_main

if __name__ == "__main__":
    sys.exit(job_main("optimize"))
