"""The simulated world: campaigns, creatives, users and websites, fixed for a seed.

Every generated day draws its traffic from the same :class:`World`; the reference CSVs
(:mod:`advertisex.generate.references`) describe it, minus the campaigns and users the
rates ``unknown_campaign`` / ``unknown_user`` leave out.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from advertisex.generate.formats import obj_array
from advertisex.generate.params import GenerateParams
from advertisex.generate.vocab import (
    AD_SLOTS,
    COUNTRY_CLEAN,
    EXCHANGES,
    HOST_SLDS,
    HOST_TLDS,
    HOST_WORDS,
    KEYWORDS,
    SEGMENTS,
)


class IdColumn:
    """Lazily formatted ids ``prefix + %07d``: only the rows someone takes get a string."""

    def __init__(self, prefix: str, n: int) -> None:
        self.prefix, self.n = prefix, n

    def take(self, idx: np.ndarray) -> list[str]:
        """The ids of rows ``idx``."""
        p = self.prefix
        return [f"{p}{i:07d}" for i in idx.tolist()]


class World:
    """Users, campaigns, sites: fixed for a seed, shared by all days.

    The constructor draws from its own generator (seeded by ``p.seed``) in a fixed order;
    each ``_init_*`` step keeps its place in that order.
    """

    def __init__(self, p: GenerateParams) -> None:
        rng = np.random.default_rng([p.seed, 1_000_003])
        self._init_campaigns(rng, p)
        self._init_users(rng, p)
        self._init_sites(rng)
        self._init_pools(rng)

    def _init_campaigns(self, rng: np.random.Generator, p: GenerateParams) -> None:
        r = p.rates
        C = p.campaigns
        self.camp_ids = obj_array([f"cmp-{c:04d}" for c in range(C)])
        w = rng.lognormal(0.0, 1.0, C)
        self.camp_p = w / w.sum()
        self.ctr = np.clip(rng.lognormal(np.log(max(r.ctr_median, 1e-9)), r.ctr_sigma, C), 0, 0.4)
        self.cvr = np.clip(rng.lognormal(np.log(max(r.cvr_median, 1e-9)), 0.5, C), 0, 0.6)
        self.n_creatives = rng.integers(1, 5, C)
        self.creatives = np.empty((C, 4), dtype=object)
        for c in range(C):
            for k in range(4):
                self.creatives[c, k] = f"cr-{c:04d}-{k % self.n_creatives[c]}"
        n_unknown_c = int(round(C * r.unknown_campaign))
        self.camp_in_ref = np.ones(C, dtype=bool)
        if n_unknown_c:
            self.camp_in_ref[rng.choice(C, n_unknown_c, replace=False)] = False

    def _init_users(self, rng: np.random.Generator, p: GenerateParams) -> None:
        U = p.users
        uw = rng.lognormal(0.0, 1.3, U)
        self.user_p = uw / uw.sum()
        n_unknown_u = int(round(U * p.rates.unknown_user))
        self.user_in_ref = np.ones(U, dtype=bool)
        if n_unknown_u:
            self.user_in_ref[rng.choice(U, n_unknown_u, replace=False)] = False
        canon = [f"u-{u:06d}" for u in range(U)]
        self.user_canon = obj_array(canon)
        # raw variants: JSON (no escaping needed) and CSV tokens (quoted where padded)
        self.user_json = np.empty((U, 4), dtype=object)
        self.user_csv = np.empty((U, 4), dtype=object)
        for u, cu in enumerate(canon):
            up = cu.upper()
            self.user_json[u] = (cu, up, f" {cu} ", f"  {up}")
            self.user_csv[u] = (cu, up, f'" {cu} "', f" {up}")

    def _init_sites(self, rng: np.random.Generator) -> None:
        hosts = sorted({f"{a}.{b}{t}" for a in HOST_WORDS for b in HOST_SLDS for t in HOST_TLDS})
        pick = rng.choice(len(hosts), min(120, len(hosts)), replace=False)
        self.hosts = [hosts[i] for i in sorted(pick.tolist())]
        hw = rng.zipf(1.6, len(self.hosts)).astype(float)
        self.host_p = hw / hw.sum()
        self.host_variants = np.empty((len(self.hosts), 6), dtype=object)
        for i, h in enumerate(self.hosts):
            cap = h[0].upper() + h[1:]
            self.host_variants[i] = (
                h,
                f"www.{h}",
                f"https://www.{h}/article/{i * 37 % 1000}?utm_source=feed&utm_medium=cpc",
                f"http://{cap}:8080/index.html",
                f"https://{h}/p/{i}#top",
                f"https://www.{cap}:443/a?b=1",
            )

    def _init_pools(self, rng: np.random.Generator) -> None:
        self.segment_pool = []
        for _ in range(64):
            k = int(rng.integers(0, 4))
            self.segment_pool.append(sorted(rng.choice(len(SEGMENTS), k, replace=False).tolist()))
        self.keyword_pool = []
        for _ in range(64):
            k = int(rng.integers(0, 3))
            self.keyword_pool.append(sorted(rng.choice(len(KEYWORDS), k, replace=False).tolist()))
        self.segment_json = obj_array([json.dumps([SEGMENTS[i] for i in s]) for s in self.segment_pool])
        self.keyword_json = obj_array([json.dumps([KEYWORDS[i] for i in s]) for s in self.keyword_pool])
        self.camp_json = obj_array([f'"{c}"' for c in self.camp_ids.tolist()])

    def user_variant(self, rng: np.random.Generator, n: int, rate: float) -> np.ndarray:
        """``n`` indexes into the user variants (0 = canonical) drawn with the messy-id ``rate``."""
        messy = rng.random(n) < rate
        return np.where(messy, rng.integers(1, 4, n), 0)


def bid_pools(p: GenerateParams, w: World) -> dict[str, Any]:
    """The value pools stored bid rows index into (written to ``kafka/bid_pools.json``)."""
    return {
        "seed": p.seed,
        "segments": [[SEGMENTS[i] for i in s] for s in w.segment_pool],
        "keywords": [[KEYWORDS[i] for i in s] for s in w.keyword_pool],
        "countries": [None] + [c for c, _ in COUNTRY_CLEAN] + ["us", "USA"],
        "devices": [None, "mobile", "desktop", "tablet", "ctv", "Phone", "smart_tv"],
        "consents": [None, True, False],
        "deals": [None] * 40 + [f"deal-{i:03d}" for i in range(10)],
        "exchanges": [e for e, _ in EXCHANGES],
        "slots": list(AD_SLOTS),
        "host_variants": w.host_variants.tolist(),
    }
