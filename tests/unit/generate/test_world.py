"""advertisex.generate.world: the simulated world is fixed by the seed."""

from __future__ import annotations

import numpy as np

from advertisex.generate.params import GenerateParams, Rates
from advertisex.generate.world import IdColumn, World, bid_pools

P = GenerateParams(seed=3, users=200, campaigns=40, rates=Rates(unknown_campaign=0.1, unknown_user=0.05))


def test_same_seed_same_world() -> None:
    a, b = World(P), World(P)
    assert a.hosts == b.hosts and a.segment_pool == b.segment_pool
    assert (a.camp_p == b.camp_p).all() and (a.user_in_ref == b.user_in_ref).all()
    assert a.hosts != World(GenerateParams(seed=4, users=200, campaigns=40)).hosts


def test_unknown_campaigns_and_users_are_left_out_of_the_reference() -> None:
    w = World(P)
    assert (~w.camp_in_ref).sum() == 4 and (~w.user_in_ref).sum() == 10
    assert w.creatives.shape == (40, 4) and w.creatives[0, 0].startswith("cr-0000-")
    assert list(w.user_json[7]) == ["u-000007", "U-000007", " u-000007 ", "  U-000007"]


def test_bid_pools_index_the_world() -> None:
    w = World(P)
    pools = bid_pools(P, w)
    assert pools["seed"] == 3
    assert len(pools["segments"]) == len(w.segment_pool) == 64
    assert pools["host_variants"][0][0] == w.hosts[0]


def test_id_column_formats_only_the_rows_taken() -> None:
    assert IdColumn("imp-7-0-", 10).take(np.array([0, 42])) == ["imp-7-0-0000000", "imp-7-0-0000042"]
