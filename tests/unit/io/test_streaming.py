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


def test_first_line_under_a_py4j_error_raised_in_a_batch_is_the_jvm_cause() -> None:
    text = ("An exception was raised by the Python Proxy. Return Message: Traceback (most recent call last):\n"
            '  File "/x.py", line 9, in save\n'
            "py4j.protocol.Py4JJavaError: An error occurred while calling o1908.save.\n"
            ": org.apache.spark.SparkException: Job aborted due to stage failure: disk full\n"
            "\tat org.apache.spark.scheduler.DAGScheduler.failJobAndIndependentStages(DAGScheduler.scala:2935)")
    assert first_line(RuntimeError(text)) == "org.apache.spark.SparkException: Job aborted due to stage failure: disk full"


def test_kafka_messages_deleted_before_they_were_read_are_said_in_words() -> None:
    reading = ("Some data may have been lost because they are not available in Kafka any more;\n"
               "Reason: Could not read records in offset [3, 8) for topic partition imp-3eced0c6-0\n"
               "with consumer group spark-kafka-source-a2-executor.")
    assert first_line(RuntimeError(reading)) == (
        "Kafka topic imp-3eced0c6 partition 0: messages from offset 3 were deleted before they were read (the batch "
        "needed offsets 3 to 7), by retention or a recreated topic; deliver them again if the producer can, or go "
        "on without them with --set kafka.fail_on_data_loss=false (docs/RUNBOOK.md)")
    planning = "Partition my-topic-2's offset was changed from 10 to 25, some data may have been missed."
    assert first_line(RuntimeError(planning)).startswith(
        "Kafka topic my-topic partition 2: offsets 10 to 24 were deleted before they were read, by retention")
