"""Where one generated day's records go: landing part files and Kafka payload files.

A day's generator adds records in any order with a sort key (their event time); the
sinks order them and write each file once, at the end of the day.
"""

from __future__ import annotations

import gzip
from datetime import timedelta
from pathlib import Path

import numpy as np

from advertisex.generate.inject import blackout, in_blackout
from advertisex.generate.params import GenerateParams


class FileSink:
    """Collects one origin day's records by arrival day and writes them as part files."""

    def __init__(self, folder: Path, prefix: str, ext: str, parts: int, p: GenerateParams,
                 header: str | None, salt: int, origin: int) -> None:
        self.folder, self.prefix, self.ext, self.parts = folder, prefix, ext, parts
        self.p, self.header, self.salt, self.origin = p, header, salt, origin
        self.pending: dict[int, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
        self.files: list[str] = []
        self.lines = 0
        self.blackout = blackout(p)

    def add(self, arrival: np.ndarray, part: np.ndarray, key: np.ndarray, lines: np.ndarray) -> None:
        """Queue ``lines`` for arrival days ``arrival`` (day numbers), part files ``part``, sorted by
        ``key`` (their event time); none whose key falls in an injected gap."""
        if self.blackout:
            keep = ~in_blackout(key, self.blackout)
            arrival, part, key, lines = arrival[keep], part[keep], key[keep], lines[keep]
        for day in np.unique(arrival).tolist():
            m = arrival == day
            self.pending.setdefault(int(day), []).append((part[m], key[m], lines[m]))

    def write(self) -> None:
        """Write ``<prefix><arrival date>_from-<origin date>_part-NNN<ext>[.gz]``, rows by time."""
        origin_s = (self.p.start_date + timedelta(days=self.origin)).isoformat()
        for day in sorted(self.pending):
            chunks = self.pending[day]
            part = np.concatenate([c[0] for c in chunks])
            key = np.concatenate([c[1] for c in chunks])
            lines = np.concatenate([c[2] for c in chunks])
            order = np.lexsort((key, part))
            part, lines = part[order], lines[order]
            bounds = np.searchsorted(part, np.arange(self.parts + 1))
            day_s = (self.p.start_date + timedelta(days=day)).isoformat()
            for k in range(self.parts):
                rows = lines[bounds[k]:bounds[k + 1]].tolist()
                if not rows:
                    continue
                h = (self.p.seed * 1_000_003 + day * 7919 + self.origin * 613 + k * 104_729
                     + self.salt) % 1000
                gz = h < self.p.rates.gz_share * 1000
                name = f"{self.prefix}{day_s}_from-{origin_s}_part-{k:03d}{self.ext}{'.gz' if gz else ''}"
                body = ((self.header + "\n") if self.header else "") + "\n".join(rows) + "\n"
                data = body.encode("utf-8")
                if gz:
                    data = gzip.compress(data, compresslevel=1, mtime=0)
                path = self.folder / name
                path.write_bytes(data)
                self.files.append(str(path))
                self.lines += len(rows)
        self.pending.clear()


class StreamSink:
    """Collects one day's messages and writes them, ordered by time, to one file (+ keys file)."""

    def __init__(self, path: Path, keys_path: Path | None, blackout: list[tuple[int, int]] | None = None) -> None:
        self.path, self.keys_path = path, keys_path
        self.chunks: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.lines = 0
        self.blackout = blackout or []

    def add(self, key: np.ndarray, lines: np.ndarray, msg_keys: np.ndarray | None = None) -> None:
        """Queue messages ``lines`` sorted by ``key`` (their event time), with Kafka keys ``msg_keys``
        (None: null keys); none whose key falls in an injected gap (``blackout``)."""
        mk = msg_keys if msg_keys is not None else np.full(len(lines), "", dtype=object)
        if self.blackout:
            keep = ~in_blackout(key, self.blackout)
            key, lines, mk = key[keep], lines[keep], mk[keep]
        self.chunks.append((key, lines, mk))

    def write(self) -> None:
        """Write the queued messages (and their keys) in ``key`` order, ties in the order added."""
        key = np.concatenate([c[0] for c in self.chunks])
        lines = np.concatenate([c[1] for c in self.chunks])
        mk = np.concatenate([c[2] for c in self.chunks])
        order = np.argsort(key, kind="stable")
        rows = lines[order].tolist()
        self.path.write_bytes(("\n".join(rows) + "\n" if rows else "").encode("utf-8"))
        if self.keys_path:
            keys = mk[order].tolist()
            self.keys_path.write_bytes(("\n".join(keys) + "\n" if keys else "").encode("utf-8"))
        self.lines = len(rows)
        self.chunks.clear()
