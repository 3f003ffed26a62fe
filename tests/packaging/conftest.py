"""Fixtures of the nnpackage tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from pkgtools import join_model, norm_model

import one_core


@pytest.fixture
def models(tmp_path: Path) -> dict[str, Path]:
    """The two models saved as circle files in their own folder."""
    folder = tmp_path / "models"
    folder.mkdir()
    paths = {"norm": folder / "norm.circle", "join": folder / "join.circle"}
    one_core.save(norm_model(), paths["norm"])
    one_core.save(join_model(), paths["join"])
    return paths
