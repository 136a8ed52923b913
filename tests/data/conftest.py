"""The data tests' isolation from the machine they run on."""
from __future__ import annotations

import pytest


@pytest.fixture
def isolated(monkeypatch, tmp_path):
    """No real home cache, no user overrides, no proxy for a loopback server."""
    monkeypatch.setenv("HYPERLAB_DATA_DIR", str(tmp_path / "cache"))
    for var in ("HYPERLAB_FASHION_MNIST", "HYPERLAB_FASHION_MNIST_URL",
                "HYPERLAB_FASHION_MNIST_SHA256", "XDG_CACHE_HOME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "*")
    monkeypatch.setenv("NO_PROXY", "*")
