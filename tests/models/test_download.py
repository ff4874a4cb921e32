"""Downloads happen once, are checked, and fail with one line when there is no network."""

import hashlib
import time
import urllib.request

import pytest

from rnnviz.common.errors import UsageError
from rnnviz.models import download
from rnnviz.models.download import fetch

PAYLOAD = b"not really weights\n" * 1000
DIGEST = hashlib.sha256(PAYLOAD).hexdigest()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("RNNVIZ_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("RNNVIZ_OFFLINE", raising=False)
    return tmp_path / "cache"


@pytest.fixture
def source(tmp_path):
    path = tmp_path / "served.ckpt"
    path.write_bytes(PAYLOAD)
    return path


def _count_opens(monkeypatch):
    calls = []
    real = urllib.request.urlopen

    def counting(*args, **kwargs):
        calls.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(download.urllib.request, "urlopen", counting)
    return calls


def test_downloads_once_into_the_cache(cache, source, monkeypatch):
    calls = _count_opens(monkeypatch)
    path = fetch(source.as_uri(), DIGEST, "w.ckpt", what="test weights")
    assert path == cache / "weights" / "w.ckpt"
    assert path.read_bytes() == PAYLOAD
    assert fetch(source.as_uri(), DIGEST, "w.ckpt", what="test weights") == path
    assert fetch(source.as_uri(), None, "w.ckpt", what="test weights") == path
    assert len(calls) == 1
    assert sorted(p.name for p in path.parent.iterdir()) == [download.INDEX, "w.ckpt"]  # the file and its sha256


def test_cached_file_needs_no_network_even_offline(cache, source, monkeypatch):
    path = fetch(source.as_uri(), DIGEST, "w.ckpt", what="test weights")
    monkeypatch.setenv("RNNVIZ_OFFLINE", "1")
    assert fetch("http://127.0.0.1:9/x", DIGEST, "w.ckpt", what="test weights") == path


def test_stale_cached_file_is_downloaded_again(cache, source):
    stale = cache / "weights" / "w.ckpt"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"truncated")
    assert fetch(source.as_uri(), DIGEST.upper(), "w.ckpt", what="test weights") == stale
    assert stale.read_bytes() == PAYLOAD


def test_sha256_mismatch_is_rejected_and_removed(cache, source):
    wrong = "0" * 64
    with pytest.raises(UsageError) as err:
        fetch(source.as_uri(), wrong, "w.ckpt", what="test weights")
    message = str(err.value)
    assert wrong in message and DIGEST in message and "\n" not in message
    assert list((cache / "weights").iterdir()) == []


def test_unreachable_url_fails_fast_with_the_fix(cache):
    start = time.monotonic()
    with pytest.raises(UsageError) as err:
        fetch("http://127.0.0.1:9/x", None, "w.ckpt", what="the robust ResNet-50")
    assert time.monotonic() - start < download.TIMEOUT_S
    message = str(err.value)
    assert message.startswith("cannot download the robust ResNet-50 from http://127.0.0.1:9/x (")
    assert str(cache / "weights" / "w.ckpt") in message
    assert message.endswith("or use the offline preset: --preset fashion")
    assert list((cache / "weights").iterdir()) == []


def test_missing_local_file_is_a_usage_error(cache, tmp_path):
    with pytest.raises(UsageError, match="cannot download"):
        fetch((tmp_path / "absent.ckpt").as_uri(), None, "w.ckpt", what="test weights")


def test_offline_never_touches_the_network(cache, source, monkeypatch):
    calls = _count_opens(monkeypatch)
    monkeypatch.setenv("RNNVIZ_OFFLINE", "1")
    with pytest.raises(UsageError, match=r"\(RNNVIZ_OFFLINE is set\); place the file at"):
        fetch(source.as_uri(), DIGEST, "w.ckpt", what="test weights")
    assert calls == []


def test_offline_with_a_wrong_file_says_to_replace_it(cache, monkeypatch):
    stale = cache / "weights" / "w.ckpt"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"truncated")
    monkeypatch.setenv("RNNVIZ_OFFLINE", "1")
    with pytest.raises(UsageError, match=f"replace .*w.ckpt \\(its sha256 is not {DIGEST}\\)"):
        fetch("http://127.0.0.1:9/x", DIGEST, "w.ckpt", what="test weights")
    assert stale.read_bytes() == b"truncated"
