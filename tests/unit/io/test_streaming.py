"""The streaming runner's one-line failure messages."""

from __future__ import annotations

from advertisex.io.streaming import first_line


def test_first_line_finds_the_cause_under_py4j_and_python_tracebacks() -> None:
    python = ("An exception was raised by the Python Proxy. Return Message: Traceback (most recent call last):\n"
              '  File "/x.py", line 3, in call\n    raise RuntimeError("planned")\n'
              "advertisex.errors.ServiceUnavailableError: schema registry not reachable at http://r (refused)\n\n"
              "\tat py4j.Protocol.getReturnValue(Protocol.java:476)")
    assert first_line(RuntimeError(python)) == (
        "ServiceUnavailableError: schema registry not reachable at http://r (refused)")
    jvm = "An error occurred while calling o96.sql.\n: org.apache.spark.SparkException: [X] bad\n\tat foo"
    assert first_line(RuntimeError(jvm)) == "org.apache.spark.SparkException: [X] bad"
    assert first_line(RuntimeError("")) == "RuntimeError"
