"""Collect bench_*.py here: bench/ sits outside testpaths and pytest's default
file pattern, so ``pytest bench`` needs to be told what a bench module is."""

from __future__ import annotations

from pathlib import Path

import pytest


def pytest_collect_file(
    file_path: Path, parent: pytest.Collector
) -> pytest.Module | None:
    if file_path.suffix == ".py" and file_path.name.startswith("bench_"):
        return pytest.Module.from_parent(parent, path=file_path)
    return None
