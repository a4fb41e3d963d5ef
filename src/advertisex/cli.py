"""The ``advertisex`` command line.

    advertisex config show [--set k=v ...]
    advertisex stack up|status|down   (status: exit 1 while a service is down)
    advertisex --version
    advertisex deps packages
    advertisex pipeline --once [--config FILE] [--set k=v ...] [--verbose | --quiet] [--output json]
    advertisex run JOB [--once]
    advertisex reset JOB
    advertisex report [--out PATH]
    advertisex generate ... / advertisex produce ...

Every subcommand takes ``--config FILE`` and repeated ``--set dotted.key=value``.
A predictable failure (bad config key, service down, missing path) prints one line
``advertisex: error: ...`` and exits non-zero (3 for a failed critical quality check).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from advertisex import __version__, console
from advertisex.config import Config, ConfigError, load_config
from advertisex.errors import AdvertisexError

Handler = Callable[[argparse.Namespace, Config], int | None]


def add_common_args(parser: argparse.ArgumentParser, *, console_args: bool = True) -> None:
    """``--config FILE`` and repeatable ``--set KEY=VALUE`` (every subcommand has them), and
    (unless the subcommand has its own) ``--verbose``/``--quiet`` and ``--output``."""
    parser.add_argument("--config", metavar="FILE", help="overlay YAML on conf/base.yaml (default conf/local.yaml)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one config key, e.g. --set lake.root=/data/lake (repeatable)",
    )
    if not console_args:
        return
    loud = parser.add_mutually_exclusive_group()
    loud.add_argument("--verbose", action="store_true", help="Spark's warnings and the project's info lines too")
    loud.add_argument("--quiet", action="store_true", help="only errors and the final summary")
    parser.add_argument("--output", choices=("text", "json"), default="text",
                        help="the summaries as text, or as one JSON document on stdout (for schedulers)")


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    add_common_args(common)
    return common


def _verbosity(args: argparse.Namespace) -> str:
    return console.VERBOSE if getattr(args, "verbose", False) else console.QUIET if getattr(args, "quiet", False) \
        else console.NORMAL


def _report(args: argparse.Namespace, results: dict[str, dict[str, Any]]) -> None:
    """The summaries, as text or (``--output json``) as one JSON document."""
    if getattr(args, "output", "text") == "json":
        console.print_json(args.command_line, args.started, results)
        return
    for name, summary in results.items():
        console.print_summary(name, summary)


def _close(spark: Any) -> None:
    """End a command's session: stop feeding the metrics from its queries, then stop Spark,
    so its listener bus delivers the events already queued (one may be in flight to the
    removed listener) while Python still answers; under load the queue runs behind, and a
    process that just exits logs a py4j stack trace for that call."""
    from advertisex.monitoring import export

    export.unwatch(spark)
    spark.stop()


# --------------------------------------------------------------------------- handlers


def cmd_config_show(args: argparse.Namespace, cfg: Config) -> int:
    sys.stdout.write(cfg.to_yaml())
    return 0


def cmd_stack(args: argparse.Namespace, cfg: Config) -> int:
    from advertisex import stack

    if args.action == "up":
        for warning in stack.up(cfg):
            print(f"advertisex: warning: {warning}", file=sys.stderr)
        stack.ensure_topics(cfg)
        stack.ensure_subject(cfg)
    elif args.action == "down":
        stack.down(cfg)
    status = stack.status(cfg)
    for name, info in status.items():
        print(f"{name:<16} {info}")
    # For scripts and health checks: `stack status` fails while a service is down (`up` has
    # warned about what it could not start, and goes on without it).
    return 1 if args.action == "status" and any(info["state"] != "up" for info in status.values()) else 0


def cmd_deps(args: argparse.Namespace, cfg: Config) -> int:
    from advertisex.session import maven_coordinates

    coords = maven_coordinates()
    print(f"--packages {','.join(coords)}")
    return 0


def cmd_run(args: argparse.Namespace, cfg: Config) -> int:
    from advertisex.monitoring import export
    from advertisex.pipelines.runner import get_job, run_job
    from advertisex.session import build_spark

    get_job(args.job)  # fail on an unknown name before starting a JVM
    spark = build_spark(f"advertisex-{args.job}", cfg, progress=console.progress_bar(_verbosity(args)))
    export.watch(spark, cfg)
    try:
        summary = run_job(args.job, spark, cfg, once=args.once)
    finally:
        _close(spark)
        export.push(cfg, args.job)  # a failed run pushes too: its last success stays old
    _report(args, {args.job: summary})
    return 0


def cmd_reset(args: argparse.Namespace, cfg: Config) -> int:
    from advertisex.pipelines import reset
    from advertisex.pipelines.runner import get_job
    from advertisex.session import build_spark

    job = get_job(args.job)
    reset.require_streams(job)  # fail on a job without a checkpoint before starting a JVM
    summary = reset.run(build_spark(f"advertisex-reset-{job.name}", cfg), cfg, job)
    _report(args, {f"reset {job.name}": summary})
    return 0


def cmd_pipeline(args: argparse.Namespace, cfg: Config) -> int:
    from advertisex.monitoring import export
    from advertisex.session import build_spark

    if not args.once:
        from advertisex.pipelines import always_on

        export.serve(cfg)  # a taken port fails before the JVM starts
        spark = build_spark("advertisex-pipeline", cfg)
        export.watch(spark, cfg)
        try:
            summary = always_on.run(spark, cfg)
        finally:
            _close(spark)
        _report(args, {"pipeline": summary})
        return 0
    spark = build_spark("advertisex-pipeline", cfg, progress=console.progress_bar(_verbosity(args)))
    export.watch(spark, cfg)
    from advertisex.pipelines.runner import run_pipeline

    try:
        results = run_pipeline(spark, cfg, on_job=console.JobLines(_verbosity(args)))
    finally:
        _close(spark)
        export.push(cfg, "pipeline")
    _report(args, results)
    return 0


def cmd_report(args: argparse.Namespace, cfg: Config) -> int:
    from advertisex import report
    from advertisex.session import build_spark

    spark = build_spark("advertisex-report", cfg)
    out = report.write(spark, cfg, args.out)
    if args.output == "text" and not args.quiet:
        print(report.console_summary(spark, cfg), end="\n\n")
    _report(args, {"report": {"path": str(out), "seconds": round(time.time() - args.started, 2)}})
    return 0


# --------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    common = _common()
    parser = argparse.ArgumentParser(
        prog="advertisex",
        description="AdvertiseX lakehouse: impressions, clicks/conversions and bid requests "
        "into bronze/silver/gold Delta tables.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("config", help="show the effective configuration")
    csub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    show = csub.add_parser("show", parents=[common], help="print the effective configuration as YAML")
    show.set_defaults(func=cmd_config_show)

    p = sub.add_parser("stack", parents=[common], help="the local Kafka broker and schema registry")
    p.add_argument("action", choices=("up", "status", "down"), help="start, report or stop the local stack")
    p.set_defaults(func=cmd_stack)

    p = sub.add_parser("deps", parents=[common], help="JVM dependencies for cluster use")
    p.add_argument("action", choices=("packages",), help="print the spark-submit --packages coordinates")
    p.set_defaults(func=cmd_deps)

    from advertisex.pipelines.runner import JOBS

    p = sub.add_parser(
        "run",
        parents=[common],
        help="run one job",
        description="Run one job. Jobs: " + "; ".join(f"{j.name}: {j.description}" for j in JOBS),
    )
    p.add_argument("job", metavar="JOB", help="one of: " + ", ".join(j.name for j in JOBS))
    p.add_argument("--once", action="store_true", help="process what is available now and exit (availableNow)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser(
        "reset", parents=[common], help="start a job's streaming queries anew after a lost checkpoint",
        description="Start JOB's streaming queries on new checkpoints (the old ones kept aside) after what "
        "the lake holds: Kafka from the offsets after bronze's last, files not in bronze yet (docs/RUNBOOK.md).")
    p.add_argument("job", metavar="JOB", help="one of: " + ", ".join(j.name for j in JOBS if j.streams))
    p.set_defaults(func=cmd_reset)

    p = sub.add_parser("pipeline", parents=[common],
                       help="every job: always on until SIGINT/SIGTERM, or --once in dependency order")
    p.add_argument("--once", action="store_true", help="all input available now, then quality checks, then exit")
    p.set_defaults(func=cmd_pipeline)

    p = sub.add_parser("report", parents=[common], help="write the data-health report: one self-contained HTML file",
                       description="Traffic, campaigns and spend, attribution, bidding, quarantine, quality checks, "
                       "anomalies and freshness of the lake as plotly charts in one HTML file that opens offline.")
    p.add_argument("--out", metavar="PATH", help="where to write it (default: report.path, .run/report/health.html)")
    p.set_defaults(func=cmd_report)

    _add_plugin_parsers(sub, common)
    return parser


def _add_plugin_parsers(sub: Any, common: argparse.ArgumentParser) -> None:
    """Subcommands defined next to their library code (generate, produce)."""
    from advertisex.generate import cli as generate_cli

    before = set(sub.choices)
    generate_cli.add_parsers(sub)
    for name in sorted(set(sub.choices) - before):
        add_common_args(sub.choices[name], console_args=False)  # generate/produce have a --quiet of their own


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``advertisex`` console command; returns the exit code."""
    args = build_parser().parse_args(argv)
    return _run("advertisex", args, args.func, argv)


def _run(prog: str, args: argparse.Namespace, handler: Handler, argv: Sequence[str] | None = None) -> int:
    """Load the config and call ``handler``; a predictable failure becomes one line on stderr
    (and, with ``--output json``, a JSON document saying so on stdout)."""
    verbosity = _verbosity(args)
    console.configure_logging(verbosity)
    args.started = time.time()
    args.command_line = " ".join([prog, *(sys.argv[1:] if argv is None else argv)])
    # --verbose / --quiet set the JVM's console level; a --set of it still wins.
    overrides = ([f"spark.log_level={console.SPARK_LEVEL[verbosity]}"] if verbosity != console.NORMAL else []) \
        + list(args.overrides)
    try:
        cfg = load_config(args.config, overrides)
        code = handler(args, cfg)
    except ConfigError as exc:
        return _fail(prog, args, f"config error: {exc}", 2)
    except AdvertisexError as exc:
        return _fail(prog, args, f"error: {exc}", exc.exit_code)
    except KeyboardInterrupt:
        return _fail(prog, args, "interrupted", 130)
    return int(code or 0)


def _fail(prog: str, args: argparse.Namespace, message: str, code: int) -> int:
    print(f"{prog}: {message}", file=sys.stderr)
    if getattr(args, "output", "text") == "json":
        console.print_json(args.command_line, args.started, {}, code=code, error=message)
    return code


def job_main(job: str, argv: Sequence[str] | None = None) -> int:
    """Body of ``jobs/<job>.py`` for spark-submit: parse options, load config, run the job."""
    parser = argparse.ArgumentParser(prog=f"{job}.py", parents=[_common()], description=f"AdvertiseX job {job!r}")
    parser.add_argument("--once", action="store_true", help="process what is available now and exit")
    args = parser.parse_args(argv)
    args.job = job
    return _run(job, args, cmd_run, argv)

if __name__ == "__main__":
    sys.exit(main())
