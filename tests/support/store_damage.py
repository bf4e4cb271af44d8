"""Seeded damage to real store files: flipped bytes in data pages, a capped page count."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path


def checkpoint(path: Path) -> int:
    """Move the WAL into the main file (so damage to it is damage to the data); page size."""
    c = sqlite3.connect(path)
    try:
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return int(c.execute("PRAGMA page_size").fetchone()[0])
    finally:
        c.close()


def flip_bytes(path: Path, seed: int, n: int = 50) -> None:
    """XOR ``n`` seeded bytes of ``path`` outside page 1 (header and schema) with non-zero
    values: damage to table and index pages, as a failing disk or a bad copy leaves it."""
    page_size = checkpoint(path)
    data = bytearray(path.read_bytes())
    rng = random.Random(seed)
    for _ in range(n):
        i = rng.randrange(page_size, len(data))
        data[i] ^= rng.randrange(1, 256)
    path.write_bytes(bytes(data))
