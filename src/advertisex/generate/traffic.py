"""A day's valid traffic: impressions, the clicks and conversions they cause, bid requests.

The fast path: columns are drawn with numpy and every record is formatted with one ``%``
template from pre-rendered tokens (no per-record ``json.dumps``). Each function draws
from ``day.rng``; :meth:`advertisex.generate.day.Day._generate` calls them in a fixed
order, which the bytes depend on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from advertisex.generate.bids import BID_DTYPE
from advertisex.generate.formats import (
    DAY_MS,
    HOUR_MS,
    MINUTE_MS,
    OFFSETS,
    T_Z_SECONDS,
    obj_array,
    render_times,
)
from advertisex.generate.params import Rates
from advertisex.generate.sampling import pick, time_codes, traffic_times
from advertisex.generate.vocab import (
    AD_SLOTS,
    CLICK_TYPES,
    CONV_TYPES_RAW,
    CONVERSION_KINDS,
    COUNTRY_CLEAN,
    COUNTRY_MESSY,
    DEVICE_CLEAN,
    DEVICE_MESSY,
    EXCHANGES,
)
from advertisex.generate.world import IdColumn, bid_pools

if TYPE_CHECKING:
    from advertisex.generate.day import Day


# --------------------------------------------------------------------------- impressions


def impressions(day: Day) -> dict[str, Any]:
    """The day's impressions, into the landing files and the Kafka payload.

    Returns:
        Their columns (``t``, ``user``, ``camp``, ``creative``, ``ids``, ``linked``,
        ``brid``, ``cost``, ``host``, ``site``) for :func:`clicks`, :func:`conversions`
        and :func:`bid_requests`.
    """
    rng, w, r, n = day.rng, day.world, day.r, day.p.impressions_per_day
    t = traffic_times(rng, day.day0, n)
    user = rng.choice(len(w.user_p), size=n, p=w.user_p)
    camp = rng.choice(len(w.camp_p), size=n, p=w.camp_p)
    creative = w.creatives[camp, rng.integers(0, 4, n)]
    codes = time_codes(rng, n, r)
    t = np.where(codes == T_Z_SECONDS, t // 1000 * 1000, t)
    times = render_times(t, codes, rng.integers(0, len(OFFSETS), n), quote=True)
    users_raw = w.user_json[user, w.user_variant(rng, n, r.messy_user_id)]
    host = rng.choice(len(w.hosts), size=n, p=w.host_p)
    url = rng.random(n) < r.full_url
    site = w.host_variants[host, np.where(url, rng.integers(2, 6, n), rng.integers(0, 2, n))]
    dev = _device_tokens(rng, r, n)
    cty = _country_tokens(rng, n)
    cost = np.maximum(1, rng.lognormal(np.log(1800), 0.6, n)).astype(np.int64)
    cost_kind = rng.choice(3, n, p=[0.92, 0.04, 0.04])  # value, null, absent
    linked = rng.random(n) < r.bid_link
    extra = np.full(n, "", dtype=object)
    extra[rng.random(n) < r.extra_field] = ',"sdk":{"name":"adx-sdk","version":"4.2.1"}'
    lines = _impression_lines(day.tag, (times, users_raw, w.camp_ids[camp], creative, site, dev, cty),
                              linked, cost_kind, cost, extra)
    ids = IdColumn(f"imp-{day.tag}-", n)
    brid = IdColumn(f"br-{day.tag}-", n)
    kafka = rng.random(n) < r.kafka_share
    fi, ki = np.nonzero(~kafka)[0], np.nonzero(kafka)[0]
    # injected drops and gaps: drawn for as usual, not written (None: nothing injected)
    gone = day.injected.dropped(t, camp, w.camp_ids) if day.injected is not None else None
    day.to_files(day.imp_files, t[fi], lines[fi], removed=_take(gone, fi))
    day.to_stream(day.imp_kafka, t[ki], lines[ki], users_raw[ki], removed=_take(gone, ki))
    cross = fi[rng.random(len(fi)) < r.cross_duplicate]
    if len(cross):
        day.to_stream(day.imp_kafka, t[cross] + 5000, lines[cross], users_raw[cross], dup=False,
                      removed=_take(gone, cross))
    paid = np.where(cost_kind == 0, cost, 0)
    return {"t": t, "user": user, "camp": camp, "creative": creative, "ids": ids,
            "linked": linked, "brid": brid, "cost": paid, "host": host, "site": site, "gone": gone}


def _take(mask: np.ndarray | None, idx: np.ndarray | slice) -> np.ndarray | None:
    """``mask[idx]``, or None for no mask (nothing injected)."""
    return None if mask is None else mask[idx]


def _joined(*masks: np.ndarray | None, tail: int, keep: np.ndarray) -> np.ndarray | None:
    """The removal masks of concatenated parts (``tail`` more records never removed), then ``[keep]``."""
    if masks[0] is None:
        return None
    return np.concatenate([*masks, np.zeros(tail, dtype=bool)])[keep]


def _device_tokens(rng: np.random.Generator, r: Rates, n: int) -> np.ndarray:
    """``n`` optional ``device_type`` fields (leading comma; empty = absent) from a small pool."""
    dev_pool = [f',"device_type":"{v}"' for v, _ in DEVICE_CLEAN] + \
               [f',"device_type":"{v}"' for v in DEVICE_MESSY] + ["", ',"device_type":null']
    dw = [pw * (1 - r.messy_device) * 0.95 for _, pw in DEVICE_CLEAN] + \
         [r.messy_device * 0.95 / len(DEVICE_MESSY)] * len(DEVICE_MESSY) + [0.03, 0.02]
    return obj_array(dev_pool)[rng.choice(len(dev_pool), n, p=np.array(dw) / sum(dw))]


def _country_tokens(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` optional ``country`` fields (leading comma; empty = absent) from a small pool."""
    cty_pool = [f',"country":"{v}"' for v, _ in COUNTRY_CLEAN] + \
               [f',"country":"{v}"' for v in COUNTRY_MESSY] + ["", ',"country":null']
    cw = [pw * 0.85 for _, pw in COUNTRY_CLEAN] + [0.1 / len(COUNTRY_MESSY)] * len(COUNTRY_MESSY) \
        + [0.03, 0.02]
    return obj_array(cty_pool)[rng.choice(len(cty_pool), n, p=np.array(cw) / sum(cw))]


def _impression_lines(tag: str, cols: tuple[np.ndarray, ...], linked: np.ndarray,
                      cost_kind: np.ndarray, cost: np.ndarray, extra: np.ndarray) -> np.ndarray:
    """The JSON lines of the impressions; ``cols``: event_time, user_id, campaign_id,
    ad_creative_id and website tokens, then the optional device_type and country fields."""
    head = ('{"impression_id":"imp-' + tag + '-%07d","event_time":%s,"user_id":"%s",'
            '"campaign_id":"%s","ad_creative_id":"%s","website":"%s"%s%s')
    br = ',"bid_request_id":"br-' + tag + '-%07d"'
    tail = {0: ',"cost_micros":%d%s}', 1: ',"cost_micros":null%s}', 2: "%s}"}
    lines = np.empty(len(linked), dtype=object)
    # one template per (linked, cost kind): ints are formatted inside the one % per record
    for is_linked in (True, False):
        for ck in (0, 1, 2):
            idx = np.nonzero((linked == is_linked) & (cost_kind == ck))[0]
            if len(idx) == 0:
                continue
            tmpl = head + (br if is_linked else "") + tail[ck]
            parts = [idx.tolist()] + [c[idx].tolist() for c in cols]
            if is_linked:
                parts.append(idx.tolist())
            if ck == 0:
                parts.append(cost[idx].tolist())
            parts.append(extra[idx].tolist())
            lines[idx] = [tmpl % row for row in zip(*parts, strict=True)]  # noqa: UP031 (speed)
    return lines


# --------------------------------------------------------------------------- clicks and conversions


def clicks(day: Day, imp: dict[str, Any]) -> dict[str, Any]:
    """Clicks on the day's impressions (some out of the click window) plus stray clicks.

    Returns:
        Their columns (``t``, ``user``, ``camp``, ``creative``) and ``clicked``, a mask over
        the impressions, for :func:`conversions`.
    """
    rng, w, r = day.rng, day.world, day.r
    win = day.p_click_window_ms
    n = len(imp["t"])
    p_click = w.ctr[imp["camp"]]
    if day.injected is not None:
        p_click = day.injected.click_probability(imp["t"], imp["camp"], w.camp_ids, p_click)
    clicked = rng.random(n) < p_click
    ci = np.nonzero(clicked)[0]
    k = len(ci)
    delay = np.minimum(rng.exponential(40_000, k).astype(np.int64) + 300, win)
    oow = rng.random(k) < r.click_out_of_window
    delay[oow] = rng.integers(win + 1, 4 * HOUR_MS, int(oow.sum()))
    t = imp["t"][ci] + delay
    user, camp, creative = imp["user"][ci], imp["camp"][ci], imp["creative"][ci]
    has = rng.random(k) < r.click_with_impression_id
    unknown = has & (rng.random(k) < r.click_unknown_impression_id)
    impid = np.full(k, "", dtype=object)
    hi = np.nonzero(has)[0]
    impid[hi] = imp["ids"].take(ci[hi])
    uidx = np.nonzero(unknown)[0]
    impid[uidx] = [f"imp-{day.tag}-x{j:06d}" for j in range(len(uidx))]
    # stray clicks: no impression behind them
    ks = int(rng.binomial(max(k, 1), min(r.stray_click, 1.0))) if r.stray_click > 0 else 0
    st = traffic_times(rng, day.day0, ks)
    su = rng.choice(len(w.user_p), size=ks, p=w.user_p)
    sc = rng.choice(len(w.camp_p), size=ks, p=w.camp_p)
    scr = w.creatives[sc, rng.integers(0, 4, ks)]
    simp = np.full(ks, "", dtype=object)
    sx = np.nonzero(rng.random(ks) < 0.2)[0]
    simp[sx] = [f"imp-{day.tag}-y{j:06d}" for j in range(len(sx))]
    t = np.concatenate([t, st])
    user = np.concatenate([user, su])
    camp = np.concatenate([camp, sc])
    creative = np.concatenate([creative, scr])
    impid = np.concatenate([impid, simp])
    keep = t < day.end_ms
    t, user, camp, creative, impid = t[keep], user[keep], camp[keep], creative[keep], impid[keep]
    gone = _joined(_take(imp["gone"], ci), tail=ks, keep=keep)  # the clicks of removed impressions
    m = len(t)
    ids = obj_array([f"clk-{day.tag}-{i:06d}" for i in range(m)])
    etype = obj_array([v for v, _ in CLICK_TYPES])[pick(rng, CLICK_TYPES, m)]
    _write_click_rows(day, ids, etype, t, user, camp, creative, impid,
                      np.full(m, "", dtype=object), np.full(m, "", dtype=object), removed=gone)
    return {"t": t, "user": user, "camp": camp, "creative": creative, "clicked": clicked, "gone": gone}


def conversions(day: Day, imp: dict[str, Any], clk: dict[str, Any]) -> None:
    """Conversions after clicks (some out of the window), after unclicked impressions, and stray ones."""
    rng, w, r = day.rng, day.world, day.r
    cwin = day.p_conversion_window_ms
    vwin = day.p_view_window_ms
    # post-click candidates
    conv = rng.random(len(clk["t"])) < w.cvr[clk["camp"]]
    ci = np.nonzero(conv)[0]
    k = len(ci)
    delay = np.minimum(rng.exponential(DAY_MS, k).astype(np.int64) + MINUTE_MS, cwin)
    oow = rng.random(k) < r.conversion_out_of_window
    delay[oow] = rng.integers(cwin + 1, cwin + 2 * DAY_MS, int(oow.sum()))
    t1, u1, c1, cr1 = clk["t"][ci] + delay, clk["user"][ci], clk["camp"][ci], clk["creative"][ci]
    # post-view candidates: unclicked impressions
    pv = np.nonzero((rng.random(len(imp["t"])) < r.post_view_conversion) & ~clk["clicked"])[0]
    t2 = imp["t"][pv] + rng.integers(MINUTE_MS, vwin + 6 * HOUR_MS, len(pv))
    u2, c2, cr2 = imp["user"][pv], imp["camp"][pv], imp["creative"][pv]
    # stray
    ks = int(rng.binomial(max(k, 1), min(r.stray_conversion, 1.0))) if r.stray_conversion > 0 else 0
    t3 = traffic_times(rng, day.day0, ks)
    u3 = rng.choice(len(w.user_p), size=ks, p=w.user_p)
    c3 = rng.choice(len(w.camp_p), size=ks, p=w.camp_p)
    cr3 = w.creatives[c3, 0]
    t = np.concatenate([t1, t2, t3])
    user = np.concatenate([u1, u2, u3])
    camp = np.concatenate([c1, c2, c3])
    creative = np.concatenate([cr1, cr2, cr3])
    keep = t < day.end_ms
    t, user, camp, creative = t[keep], user[keep], camp[keep], creative[keep]
    gone = _joined(_take(clk["gone"], ci), _take(imp["gone"], pv), tail=ks, keep=keep)
    m = len(t)
    creative = np.where(rng.random(m) < 0.5, creative, "").astype(object)
    ids = obj_array([f"cnv-{day.tag}-{i:06d}" for i in range(m)])
    etype = obj_array([v for v, _ in CONV_TYPES_RAW])[pick(rng, CONV_TYPES_RAW, m)]
    kind = pick(rng, CONVERSION_KINDS, m)
    ctype = obj_array([v for v, _ in CONVERSION_KINDS])[kind]
    amount = np.round(rng.lognormal(3.5, 1.0, m), 2)
    value = obj_array([f"{a:.2f}" for a in amount.tolist()])
    value[kind == 1] = np.where(rng.random(int((kind == 1).sum())) < 0.5, "", "0")
    value[kind == 2] = "1.5"
    _write_click_rows(day, ids, etype, t, user, camp, creative, np.full(m, "", dtype=object),
                      ctype, value, removed=gone)


def _write_click_rows(day: Day, ids: np.ndarray, etype: np.ndarray, t: np.ndarray,
                      user: np.ndarray, camp: np.ndarray, creative: np.ndarray,
                      impid: np.ndarray, ctype: np.ndarray, value: np.ndarray,
                      removed: np.ndarray | None = None) -> None:
    """Format click/conversion CSV rows (times and user ids in random §1.5 formats) into the files
    (``removed``: rows of injected drops, drawn for but not written)."""
    rng, w, r = day.rng, day.world, day.r
    m = len(t)
    codes = time_codes(rng, m, r)
    t = np.where(codes == T_Z_SECONDS, t // 1000 * 1000, t)
    times = render_times(t, codes, rng.integers(0, len(OFFSETS), m), quote=False)
    users_raw = w.user_csv[user, w.user_variant(rng, m, r.messy_user_id)]
    lines = obj_array(["%s,%s,%s,%s,%s,%s,%s,%s,%s" % row for row in zip(  # noqa: UP031 (speed)
        ids.tolist(), etype.tolist(), times.tolist(), users_raw.tolist(),
        w.camp_ids[camp].tolist(), creative.tolist(), impid.tolist(), ctype.tolist(),
        value.tolist(), strict=True)])
    day.to_files(day.click_files, t, lines, removed=removed)


# --------------------------------------------------------------------------- bid requests


def bid_requests(day: Day, imp: dict[str, Any]) -> None:
    """The day's bid requests as stored rows (see :mod:`advertisex.generate.bids`): one won
    auction per impression carrying a ``bid_request_id``, plus lost and no-bid auctions."""
    rng, w, r = day.rng, day.world, day.r
    li = np.nonzero(imp["linked"])[0]
    k1 = len(li)
    n_imp = len(imp["t"])
    if r.extra_bids > 1:
        k2 = int(n_imp * r.extra_bids)
    else:
        k2 = int(rng.binomial(n_imp, r.extra_bids)) if r.extra_bids > 0 else 0
    n = k1 + k2
    t = np.concatenate([imp["t"][li] - rng.integers(20, 400, k1),
                        traffic_times(rng, day.day0, k2)])
    # id numbers: linked bids share the impression's number, the others get "e" + number
    num = np.concatenate([li, np.arange(k2)])
    is_extra = np.concatenate([np.zeros(k1, dtype=bool), np.ones(k2, dtype=bool)])
    user = np.concatenate([imp["user"][li], rng.choice(len(w.user_p), size=k2, p=w.user_p)])
    camp = np.concatenate([imp["camp"][li], rng.choice(len(w.camp_p), size=k2, p=w.camp_p)])
    host = np.concatenate([imp["host"][li], rng.choice(len(w.hosts), size=k2, p=w.host_p)])
    cost = np.concatenate([imp["cost"][li], np.zeros(k2, dtype=np.int64)])
    cost = np.where(cost > 0, cost,
                    np.maximum(1, rng.lognormal(np.log(1800), 0.6, n)).astype(np.int64))
    won = np.concatenate([np.ones(k1, dtype=bool), rng.random(k2) < 0.03])
    nobid = np.concatenate([np.zeros(k1, dtype=bool), rng.random(k2) < 0.4]) & ~won
    status = np.where(won, 0, np.where(nobid, 2, 1))     # won, lost, no bid
    floor = (cost * rng.uniform(0.3, 0.8, n)).astype(np.int64)
    bid = (cost * rng.uniform(1.0, 1.6, n)).astype(np.int64)
    v2 = rng.random(n) < r.bid_v2_share
    rows = np.zeros(n, dtype=BID_DTYPE)
    rows["t"], rows["day"], rows["num"], rows["extra"], rows["v2"] = t, day.d, num, is_extra, v2
    rows["user"], rows["user_variant"] = user, w.user_variant(rng, n, r.messy_user_id)
    pools = bid_pools(day.p, w)
    rows["seg"] = rng.integers(0, len(pools["segments"]), n)
    rows["kw"] = rng.integers(0, len(pools["keywords"]), n)
    rows["cty"] = rng.integers(0, len(pools["countries"]), n)
    rows["dev"] = rng.integers(0, len(pools["devices"]), n)
    rows["consent"] = rng.integers(0, len(pools["consents"]), n)
    rows["exch"] = pick(rng, EXCHANGES, n)
    rows["floor"], rows["bid"], rows["status"], rows["clearing"] = floor, bid, status, cost
    rows["deal"] = rng.integers(0, len(pools["deals"]), n)
    rows["camp"], rows["host"] = camp, host
    rows["site_variant"] = rng.integers(0, 6, n)
    rows["slot"] = rng.integers(0, len(AD_SLOTS), n)
    dup = np.nonzero(rng.random(n) < r.duplicate)[0]     # producer retries: same record again
    rows = np.concatenate([rows, rows[dup]])
    day.bid_rows = rows[np.argsort(rows["t"], kind="stable")]
