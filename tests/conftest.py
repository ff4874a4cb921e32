"""Shared fixtures: every CLI-level test runs offline, in its own folder, with its own cache."""

import os

import pytest

# xdist's two workers already fill both cores: report figures are saved in-process, not by a
# worker pool per render (the shared tiny run and tests/report/test_figure_workers.py use the pool)
os.environ["RNNVIZ_FIGURE_WORKERS"] = "1"
# and one torch thread each (read when torch is imported): two workers of two threads on two cores
# oversubscribe, and torch's spinning threads then slow the engine runs down
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")


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


@pytest.fixture(scope="session")
def rendered_fixture(tmp_path_factory, worker_id):
    """The recorded default folder rendered once per session with PDF and slides: (folder, ReportFiles)."""
    from fixtures.engine_run import rendered_fixture

    return rendered_fixture(tmp_path_factory, worker_id)


SHARED = ("tiny_run", "rendered_fixture")  # each takes half a minute; every later test only reads it


@pytest.fixture(scope="session", autouse=True)
def shared_folders_first(request, worker_id):
    """Each worker starts by making a different shared folder that this session's tests use, so that
    later neither waits idle on the lock while the other makes it (pytest-xdist's workers are gw0, gw1)."""
    wanted = [name for name in SHARED if any(name in item.fixturenames for item in request.session.items)]
    if worker_id.startswith("gw") and wanted:
        request.getfixturevalue(wanted[int(worker_id[2:]) % len(wanted)])
