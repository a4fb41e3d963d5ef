"""The GX project under gx/ is what quality/checks.py declares: regenerating it changes
nothing but ids, every suite has its checkpoint with the two actions, and GX loads it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from advertisex.quality import checks as K
from advertisex.quality import project
from support import ROOT

GX = ROOT / "gx"


def _without_ids(node):
    if isinstance(node, dict):
        return {k: _without_ids(v) for k, v in node.items() if k not in ("id", "great_expectations_version")}
    if isinstance(node, list):
        return [_without_ids(v) for v in node]
    return node


def _json_files(root: Path) -> dict[str, object]:
    return {str(p.relative_to(root)): _without_ids(json.loads(p.read_text())) for p in sorted(root.rglob("*.json"))}


def test_the_committed_project_is_current(tmp_path):
    project.write_project(tmp_path / "gx")
    assert _json_files(tmp_path / "gx") == _json_files(GX), (
        "gx/ is stale: run `python -m advertisex.quality.project`")
    assert (tmp_path / "gx" / "great_expectations.yml").read_text().split("fluent_datasources:")[0] == (
        GX / "great_expectations.yml").read_text().split("fluent_datasources:")[0]


def test_every_suite_has_a_checkpoint_storing_then_building_data_docs():
    for suite in K.ALL_SUITES:
        checkpoint = json.loads((GX / "checkpoints" / f"{suite.name}.json").read_text())
        assert [a["type"] for a in checkpoint["actions"]] == ["advertisex_quality", "update_data_docs"]
        assert [v["name"] for v in checkpoint["validation_definitions"]] == [suite.name]
        expectations = json.loads((GX / "expectations" / f"{suite.name}.json").read_text())["expectations"]
        assert [(e["kwargs"]["column"], e["severity"]) for e in expectations] == [
            (c.name, c.severity) for c in suite.checks]


def test_gx_loads_the_project_without_progress_bars(lake_cfg):
    ctx = project.context(lake_cfg)
    assert ctx.variables.progress_bars == {"globally": False, "metric_calculations": False}
    assert sorted(s.name for s in ctx.suites.all()) == sorted(s.name for s in K.ALL_SUITES)
    assert ctx.checkpoints.get("gold_campaign_daily").actions[0].type == "advertisex_quality"


def test_warm_up_opens_the_context_the_validations_then_use(lake_cfg):
    before = set(project._contexts)
    project.warm_up(lake_cfg).join(timeout=120)
    opened = set(project._contexts) - before
    assert len(opened) == 1
    assert project.context(lake_cfg) is project._contexts[opened.pop()]
    from advertisex.quality import docs

    assert len(docs.COMPILED._code) == len(docs.PageView().env.list_templates())  # the Data Docs templates too


def test_a_failed_warm_up_leaves_the_error_to_the_validation(lake_cfg, tmp_path):
    cfg = lake_cfg.model_copy(update={"quality": lake_cfg.quality.model_copy(
        update={"gx_dir": str(tmp_path / "no-gx")})})
    thread = project.warm_up(cfg)
    thread.join(timeout=120)
    assert not thread.is_alive()
    with pytest.raises(FileNotFoundError):
        project.context(cfg)
