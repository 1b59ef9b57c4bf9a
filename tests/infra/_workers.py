"""Code the upgrade tests run in child processes (importable under the ``spawn`` start method)."""

from __future__ import annotations

import traceback
from typing import Any

from allotment.infra.database import Database
from allotment.placement.schema import upgrade


def upgrade_placement(url: str, barrier: Any, results: Any) -> None:
    """Create or upgrade the placement schema at the same moment as the other workers."""
    try:
        db = Database(url, pool_size=1)
        try:
            barrier.wait(60)
            upgrade(db)
        finally:
            db.dispose()
        results.put("ok")
    except Exception:  # noqa: BLE001 - any failure goes back to the test, as text
        results.put(traceback.format_exc())
