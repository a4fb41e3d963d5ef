from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from advertisex.generate import GenerateParams, generate, load_manifest

SMALL = GenerateParams(seed=7, start_date=date(2026, 11, 2), days=9, impressions_per_day=1500,
                       users=400, campaigns=12)


def run_small(root: Path, workers: int = 1, params: GenerateParams = SMALL) -> dict[str, Any]:
    generate(params, landing_impressions=root / "landing/impressions",
             landing_clicks=root / "landing/clicks", campaigns_csv=root / "reference/campaigns.csv",
             users_csv=root / "reference/users.csv", out_dir=root / "generated", workers=workers)
    return load_manifest(root / "generated")


@pytest.fixture(scope="session")
def small_set(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    root = tmp_path_factory.mktemp("gen")
    return root, run_small(root)
