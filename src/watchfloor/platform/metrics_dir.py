"""The multiprocess folder of prometheus-client, prepared by `watchfloor serve` before anything
imports prometheus_client (it picks its value class once, at import): no prometheus import here."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def prepare_multiprocess_dir(home: Path) -> Path:
    """Set PROMETHEUS_MULTIPROC_DIR to a fresh folder under `home`.

    Emptied first: files of a previous run's processes would be summed into this run's figures.
    One folder per WATCHFLOOR_HOME: two `serve` processes must not share a home.
    """
    folder = Path(home) / "prometheus"
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    os.environ[MULTIPROC_ENV] = str(folder)
    return folder
