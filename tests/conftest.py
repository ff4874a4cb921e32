"""Shared fixtures: every CLI-level test runs offline, in its own folder, with its own cache."""

import pytest


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """No network, a private render/weights cache, no RNNVIZ_DATA, cwd = tmp_path."""
    monkeypatch.setenv("RNNVIZ_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("RNNVIZ_OFFLINE", "1")
    monkeypatch.delenv("RNNVIZ_DATA", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, worker_id):
    """The tiny end-to-end engine run (tests/fixtures/engine_run.py), made once per session; read only."""
    from fixtures.engine_run import TINY, shared_run

    return shared_run(tmp_path_factory, worker_id, "tiny", TINY)
