"""The reference CSVs (campaigns, users) describing the simulated world.

Campaigns and users the rates ``unknown_campaign`` / ``unknown_user`` chose are left
out, so the pipeline meets events whose campaign or user it cannot enrich.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np

from advertisex import contract
from advertisex.generate.formats import csv_line
from advertisex.generate.params import GenerateParams
from advertisex.generate.vocab import COUNTRY_CLEAN
from advertisex.generate.world import World


def write_references(p: GenerateParams, world: World, campaigns_csv: Path, users_csv: Path) -> None:
    """Write ``campaigns_csv`` and ``users_csv`` (contract headers), creating their folders.

    Args:
        p: what was generated (seed, start date, sizes).
        world: the world the traffic came from.
        campaigns_csv: campaigns reference file to write.
        users_csv: users reference file to write.
    """
    # one generator for both files, campaigns first: the users' draws follow the campaigns'
    rng = np.random.default_rng([p.seed, 2_000_003])
    lines = _campaign_lines(p, world, rng)
    campaigns_csv.parent.mkdir(parents=True, exist_ok=True)
    campaigns_csv.write_text("\n".join(lines) + "\n", encoding="utf-8")
    ulines = _user_lines(p, world, rng)
    users_csv.parent.mkdir(parents=True, exist_ok=True)
    users_csv.write_text("\n".join(ulines) + "\n", encoding="utf-8")


def _campaign_lines(p: GenerateParams, world: World, rng: np.random.Generator) -> list[str]:
    """Header and one RFC 4180 row per referenced campaign (names with commas and quotes)."""
    channels = ("display", "video", "native", "social", "search")
    names = ("Summer Sale", "Black Friday", "Brand Lift", "App Install", "Retargeting",
             'Holiday "Gift" Guide', "Back to School, EU", "Always On")
    lines = [",".join(contract.CAMPAIGN_CSV_COLUMNS)]
    for c in range(p.campaigns):
        if not world.camp_in_ref[c]:
            continue
        start = p.start_date - timedelta(days=int(rng.integers(0, 60)))
        end = "" if rng.random() < 0.3 else (p.start_date + timedelta(days=int(rng.integers(10, 90)))).isoformat()
        lines.append(csv_line([
            world.camp_ids[c], f"adv-{c % max(1, p.campaigns // 3):03d}",
            f"{names[c % len(names)]} {c}", channels[int(rng.integers(0, len(channels)))],
            str(int(rng.integers(50, 5000)) * 1_000_000), start.isoformat(), end]))
    return lines


def _user_lines(p: GenerateParams, world: World, rng: np.random.Generator) -> list[str]:
    """Header and one row per referenced user; user ids in messy variants (pre-quoted CSV tokens)."""
    bands = ("18-24", "25-34", "35-44", "45-54", "55+")
    genders = ("f", "m", "x", "")
    segs = ("value", "premium", "new", "churn_risk")
    ctys = [c for c, _ in COUNTRY_CLEAN]
    ulines = [",".join(contract.USER_CSV_COLUMNS)]
    variant = world.user_variant(rng, p.users, p.rates.messy_user_id)
    for u in range(p.users):
        if not world.user_in_ref[u]:
            continue
        signup = p.start_date - timedelta(days=int(rng.integers(1, 900)))
        ulines.append(",".join([
            world.user_csv[u, variant[u]], bands[int(rng.integers(0, 5))],
            genders[int(rng.integers(0, 4))], ctys[int(rng.integers(0, len(ctys)))],
            signup.isoformat(), segs[int(rng.integers(0, 4))]]))
    return ulines
