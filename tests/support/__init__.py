"""What the tests share: acting as a user, the doors, the database matrix, live servers,
the browser, the consistency check, what the machine lacks, and the repository's root."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
