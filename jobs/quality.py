"""spark-submit entry point for the `quality` job (Great Expectations on gold; exit 3 on critical failure)."""

import sys

from advertisex.cli import job_main

if __name__ == "__main__":
    sys.exit(job_main("quality"))
