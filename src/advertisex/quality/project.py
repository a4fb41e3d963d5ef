"""The Great Expectations project: a GX 1.x *file* Data Context under ``gx/`` (``quality.gx_dir``).

It sits at the repository root, where ``gx init`` puts it, beside ``conf/``: the suites
(``expectations/*.json``), validation definitions and checkpoints are GX's own files,
reviewed and committed with the code, and open in any GX tool. They are generated from
:mod:`advertisex.quality.checks` by ``python -m advertisex.quality.project`` (existing ids
are kept, so a regeneration changes only what changed); a test keeps them current.

One pandas data source, ``advertisex_profiles``, has a dataframe asset per suite: a
checkpoint is run with the partition profile as its batch (``batch_parameters={"dataframe":
frame}``). Each checkpoint validates one suite, then runs
:class:`~advertisex.quality.action.QualityAction` and GX's ``UpdateDataDocsAction``.

What grows at run time stays out of the repository: ``great_expectations.yml`` names the
validation results store and the Data Docs site by the runtime values
``advertisex_validations_dir`` and ``advertisex_data_docs_dir`` (``quality.validations_dir``,
``quality.data_docs_dir``). ``dist/advertisex.zip`` (``make package``) carries a copy of
``gx/`` as ``advertisex/_gx``: a spark-submit driver without the repository extracts it
into a temporary folder and uses that.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import tempfile
import threading
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from advertisex.config import Config, project_root
from advertisex.quality import checks as K
from advertisex.quality.profile import PARTITION

if TYPE_CHECKING:
    from great_expectations.data_context import FileDataContext

log = logging.getLogger(__name__)

DATASOURCE = "advertisex_profiles"
BATCH_DEFINITION = "partitions"
DATA_DOCS_SITE = "local_site"
RESULT_FORMAT = {"result_format": "COMPLETE", "unexpected_index_column_names": [PARTITION]}
_IDS = uuid.UUID("5b0f7e64-2f5c-4d8a-9a43-6f1c3f0e9a21")  # namespace of the expectations' stable ids

CONFIG_YML = """\
# The AdvertiseX Great Expectations project (GX 1.x file Data Context), docs/CONTRACT.md §6.
# Suites (expectations/), validation definitions and checkpoints are generated from
# src/advertisex/quality/checks.py: `python -m advertisex.quality.project`.
# What grows at run time lives outside the repository: the pipeline passes
# advertisex_validations_dir and advertisex_data_docs_dir (quality.validations_dir and
# quality.data_docs_dir) as runtime values.
config_version: 4.0
analytics_enabled: false
progress_bars:
  globally: false
  metric_calculations: false
stores:
  expectations_store:
    class_name: ExpectationsStore
    store_backend:
      class_name: TupleFilesystemStoreBackend
      base_directory: expectations/
  validation_results_store:
    class_name: ValidationResultsStore
    store_backend:
      class_name: TupleFilesystemStoreBackend
      base_directory: ${advertisex_validations_dir}
  checkpoint_store:
    class_name: CheckpointStore
    store_backend:
      class_name: TupleFilesystemStoreBackend
      suppress_store_backend_id: true
      base_directory: checkpoints/
  validation_definition_store:
    class_name: ValidationDefinitionStore
    store_backend:
      class_name: TupleFilesystemStoreBackend
      base_directory: validation_definitions/
expectations_store_name: expectations_store
validation_results_store_name: validation_results_store
checkpoint_store_name: checkpoint_store
data_docs_sites:
  local_site:
    class_name: SiteBuilder
    show_how_to_buttons: false
    store_backend:
      class_name: TupleFilesystemStoreBackend
      base_directory: ${advertisex_data_docs_dir}
    site_index_builder:
      class_name: DefaultSiteIndexBuilder
      view:
        module_name: advertisex.quality.docs
        class_name: IndexPageView
    site_section_builders:
      expectations:
        view:
          module_name: advertisex.quality.docs
          class_name: PageView
      validations:
        view:
          module_name: advertisex.quality.docs
          class_name: PageView
"""

_lock = threading.Lock()
_contexts: dict[tuple[str, str, str], FileDataContext] = {}
_extracted: dict[str, Path] = {}


def gx_dir(cfg: Config) -> Path:
    """The GX project folder: ``quality.gx_dir``, else the copy packaged in ``advertisex/_gx``
    (extracted once per process into a temporary folder).

    Raises:
        FileNotFoundError: neither exists.
    """
    configured = Path(cfg.quality.gx_dir)
    if (configured / "great_expectations.yml").is_file():
        return configured
    from importlib import resources

    packaged = resources.files("advertisex") / "_gx"
    if not packaged.joinpath("great_expectations.yml").is_file():
        raise FileNotFoundError(f"no Great Expectations project at {configured} (quality.gx_dir), none packaged")
    with _lock:
        if "packaged" not in _extracted:
            dest = Path(tempfile.mkdtemp(prefix="advertisex-gx-"))
            _copy_tree(packaged, dest)
            _extracted["packaged"] = dest
    return _extracted["packaged"]


def _copy_tree(src: Any, dest: Path) -> None:
    """Copy a (possibly zipped) package resource folder to ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    for item in src.iterdir():
        if item.is_dir():
            _copy_tree(item, dest / item.name)
        else:
            (dest / item.name).write_bytes(item.read_bytes())


def runtime_environment(cfg: Config) -> dict[str, str]:
    """The runtime values ``great_expectations.yml`` names (trailing ``/``: GX joins onto them)."""
    return {"advertisex_validations_dir": str(Path(cfg.quality.validations_dir)) + "/",
            "advertisex_data_docs_dir": str(Path(cfg.quality.data_docs_dir)) + "/"}


def context(cfg: Config) -> FileDataContext:
    """The project's file Data Context for ``cfg`` (opened once per process and folders).

    Raises:
        FileNotFoundError: no GX project (see :func:`gx_dir`).
    """
    import great_expectations as gx
    from great_expectations.data_context.data_context.context_factory import set_context

    from advertisex.quality import action  # noqa: F401 - its action type, known before the checkpoints load

    root = gx_dir(cfg)
    env = runtime_environment(cfg)
    key = (str(root), env["advertisex_validations_dir"], env["advertisex_data_docs_dir"])
    with _lock:
        if key not in _contexts:
            _contexts[key] = gx.get_context(mode="file", context_root_dir=str(root), runtime_environment=env)
            _suite_pages(_contexts[key], cfg)
        else:
            # GX resolves some stores through its "current" context: make it this one again.
            set_context(_contexts[key])
        return _contexts[key]


def warm_up(cfg: Config) -> threading.Thread:
    """Open the Data Context (importing Great Expectations, seconds of one core) and compile
    the Data Docs templates in a background thread, while the jobs before the first
    validation wait on Spark; the first validation then finds both ready. A failure is only
    logged here: the validation that needs the context meets it again and raises."""

    def load() -> None:
        try:
            context(cfg)
            from advertisex.quality import docs  # imports GX's views: only once GX is loaded

            docs.compile_templates()
        except Exception as e:  # noqa: BLE001 - reported where the context is used
            log.debug("Great Expectations not warmed up: %s", e)

    thread = threading.Thread(target=load, name="gx-warm-up", daemon=True)
    thread.start()
    return thread


def _suite_pages(ctx: FileDataContext, cfg: Config) -> None:
    """Render the Data Docs page of every suite that has none yet, so the site's index names
    every suite from the start (a checkpoint's ``UpdateDataDocsAction`` renders its own)."""
    from great_expectations.data_context.types.resource_identifiers import ExpectationSuiteIdentifier

    pages = Path(cfg.quality.data_docs_dir) / "expectations"
    missing = [s.name for s in K.ALL_SUITES if not (pages / f"{s.name}.html").is_file()]
    if missing:
        ctx.build_data_docs(site_names=[DATA_DOCS_SITE],
                            resource_identifiers=[ExpectationSuiteIdentifier(name=n) for n in missing])


def prune(cfg: Config, suite: str) -> None:
    """Keep the newest ``quality.validations_kept`` GX validation results of ``suite`` (and
    their Data Docs pages); ``quality/results`` keeps the history. Run names start with
    their time, so they sort by age."""
    keep = cfg.quality.validations_kept
    for folder in (Path(cfg.quality.validations_dir) / suite, Path(cfg.quality.data_docs_dir) / "validations" / suite):
        if folder.is_dir():
            runs = sorted(p for p in folder.iterdir() if p.is_dir())
            for old in runs[: max(0, len(runs) - keep)]:
                shutil.rmtree(old, ignore_errors=True)


# --------------------------------------------------------------------------- generation


def expectation(suite: K.Suite, check: K.Check) -> Any:
    """``check`` as a GX expectation on its profile column (severity, meaning, bounds)."""
    import great_expectations as gx
    from great_expectations.expectations.metadata_types import FailureSeverity

    bounds: dict[str, Any] = {}
    if check.min_value is not None:
        bounds["min_value"] = check.min_value
    if check.max_param is not None:
        bounds["max_value"] = {"$PARAMETER": check.max_param}
    elif check.max_value is not None:
        bounds["max_value"] = check.max_value
    return gx.expectations.ExpectColumnValuesToBeBetween(
        column=check.name, **bounds,
        severity=FailureSeverity(check.severity), description=check.description,
        meta={"measure": check.measure.describe(), "table": suite.table, "partition": suite.partition},
    )


def write_project(root: Path) -> None:
    """(Re)generate the GX project at ``root`` from :data:`~advertisex.quality.checks.ALL_SUITES`,
    keeping the ids of what exists."""
    import great_expectations as gx
    from great_expectations.checkpoint import UpdateDataDocsAction

    from advertisex.quality.action import QualityAction

    root.mkdir(parents=True, exist_ok=True)
    (root / "great_expectations.yml").write_text(_keep_datasources(root / "great_expectations.yml"))
    (root / ".gitignore").write_text("uncommitted/\n")
    scratch = Path(tempfile.mkdtemp(prefix="advertisex-gx-gen-"))
    env = {"advertisex_validations_dir": f"{scratch}/v/", "advertisex_data_docs_dir": f"{scratch}/d/"}
    ctx = gx.get_context(mode="file", context_root_dir=str(root), runtime_environment=env)
    source = _get(lambda: ctx.data_sources.get(DATASOURCE)) or ctx.data_sources.add_pandas(name=DATASOURCE)
    for suite in K.ALL_SUITES:
        asset = _get(lambda s=suite: source.get_asset(s.name)) or source.add_dataframe_asset(name=suite.name)
        batch = _get(lambda a=asset: a.get_batch_definition(BATCH_DEFINITION)) or \
            asset.add_batch_definition_whole_dataframe(BATCH_DEFINITION)
        old = _get(lambda s=suite: ctx.suites.get(s.name))
        gx_suite = gx.ExpectationSuite(name=suite.name, id=old.id if old else None,
                                       expectations=[expectation(suite, c) for c in suite.checks],
                                       meta={"table": suite.table})
        for exp, check in zip(gx_suite.expectations, suite.checks, strict=True):
            exp.id = str(uuid.uuid5(_IDS, f"{suite.name}.{check.name}"))  # stable: regenerating changes no id
        gx_suite = ctx.suites.add_or_update(gx_suite)
        definition = _get(lambda s=suite: ctx.validation_definitions.get(s.name)) or ctx.validation_definitions.add(
            gx.ValidationDefinition(name=suite.name, data=batch, suite=gx_suite))
        old_cp = _get(lambda s=suite: ctx.checkpoints.get(s.name))
        ctx.checkpoints.add_or_update(gx.Checkpoint(
            name=suite.name, id=old_cp.id if old_cp else None, validation_definitions=[definition],
            actions=[QualityAction(), UpdateDataDocsAction(name="update_data_docs", site_names=[DATA_DOCS_SITE])],
            result_format=RESULT_FORMAT))
    shutil.rmtree(scratch, ignore_errors=True)
    shutil.rmtree(root / "uncommitted", ignore_errors=True)


def _get(fn: Any) -> Any:
    """``fn()``, or None when GX says it does not exist."""
    try:
        return fn()
    except Exception:  # noqa: BLE001 - GX raises a different class per store for "not found"
        return None


def _keep_datasources(path: Path) -> str:
    """:data:`CONFIG_YML` plus the ``fluent_datasources`` section GX wrote to ``path`` before
    (it keeps the data source's ids)."""
    if not path.is_file():
        return CONFIG_YML
    text = path.read_text()
    at = text.find("fluent_datasources:")
    return CONFIG_YML + (text[at:] if at >= 0 else "")


def main(argv: list[str] | None = None) -> int:
    """``python -m advertisex.quality.project [--gx-dir DIR]``: regenerate the GX project."""
    ap = argparse.ArgumentParser(description="Regenerate the Great Expectations project from quality/checks.py")
    ap.add_argument("--gx-dir", default=str(project_root() / "gx"))
    args = ap.parse_args(argv)
    write_project(Path(args.gx_dir))
    print(f"wrote {args.gx_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
