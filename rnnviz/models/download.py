"""Download weights once into the cache, or say how to do without the network.

Machines without internet are common in labs, so every failure ends in one line
naming the file's path (to place it by hand) and the offline preset.
"""

from __future__ import annotations

import http.client
import json
import os
import urllib.request
from pathlib import Path
from urllib.error import HTTPError, URLError
from urllib.parse import unquote, urlsplit

from tqdm import tqdm

from rnnviz.common.cache import cache_dir
from rnnviz.common.errors import UsageError
from rnnviz.common.files import atomic_path, atomic_write_json, key_digest, sha256_file

TIMEOUT_S = 20
_CHUNK = 1 << 20
_NETWORK_ERRORS = (URLError, TimeoutError, ConnectionError, http.client.HTTPException)


def fetch(url: str, sha256: str | None, dest_name: str, *, what: str, dest_dir: Path | None = None) -> Path:
    """``cache_dir("weights")/dest_name`` (or ``dest_dir/dest_name``), downloaded only if missing or stale.

    Without a known ``sha256``, the weights cache records the file's sha256 in its index on the first
    download (``INDEX``) and every later use checks the file against it: a cached file that changed
    since is refused, never loaded as if it were what the URL served."""
    dest = (Path(dest_dir) if dest_dir else cache_dir("weights")) / dest_name
    expected = sha256.lower() if sha256 else None
    recorded = None if dest_dir or expected else _recorded(dest)
    known = expected or recorded
    if dest.is_file() and (known is None or _verified(dest, known)):
        return dest
    if recorded is not None and dest.is_file():
        raise UsageError(
            f"the cached {what} at {dest} has changed since it was downloaded from {url} (its sha256 is no longer "
            f"{recorded}); delete {dest.parent} to download it again"
        )
    if os.environ.get("RNNVIZ_OFFLINE", "") not in ("", "0"):
        raise _unreachable(what, url, dest, expected, "RNNVIZ_OFFLINE is set")
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response, atomic_path(dest) as tmp:
            _stream(response, tmp, what)
            _check(tmp, expected, what, url, dest)
    except _NETWORK_ERRORS as err:
        reason = err if isinstance(err, HTTPError) else getattr(err, "reason", err)
        raise _unreachable(what, url, dest, expected, reason) from err
    if dest_dir is None:
        _record(dest, url)
    return dest


def fetch_checkpoint(spec: str) -> Path:
    """A ``https://.../file.ckpt[#sha256=HEX]`` model spec, cached by its whole URL (two servers' or
    two folders' ``model.pt`` are two files) in a folder of its own, under its own file name."""
    url, _, digest = spec.partition("#sha256=")
    return fetch(url, digest or None, cache_name(url), what=f"checkpoint {url_file_name(url)}")


def cache_name(url: str) -> str:
    """Where in the weights cache a URL's file lives: a folder keyed by the whole URL, the file's own name."""
    return f"{key_digest(url=url)[:16]}/{url_file_name(url)}"


def url_file_name(url: str) -> str:
    """The file a URL names (the last segment of its path, without query or fragment); one line
    refusing a URL that names none (``https://host/models/``, ``.../..``): there is nothing to cache."""
    name = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
    if name in ("", ".", "..") or "/" in name or "\0" in name:
        raise UsageError(
            f"the URL {url} names no file (its path ends in {name or '/'!r}); give the URL of the checkpoint "
            "file itself, e.g. https://host/models/resnet50.ckpt"
        )
    return name


# ------------------------------------------------------------------ the weights cache's index

INDEX = "index.json"  # in the weights cache: {file (relative): {"url": ..., "sha256": ...}}
_verified_here: dict[tuple, str] = {}  # (path, size, mtime) -> sha256: each file is hashed once a process


def _index_path() -> Path:
    return cache_dir("weights") / INDEX


def _read_index() -> dict:
    try:
        index = json.loads(_index_path().read_text())
    except (OSError, ValueError):
        return {}
    return index if isinstance(index, dict) else {}


def _recorded(dest: Path) -> str | None:
    """The sha256 recorded when ``dest`` was downloaded, if it was (``None`` for hand-placed files)."""
    entry = _read_index().get(_index_key(dest))
    return entry.get("sha256") if isinstance(entry, dict) else None


def _record(dest: Path, url: str) -> None:
    index = _read_index()
    index[_index_key(dest)] = {"url": url, "sha256": _hash(dest)}
    atomic_write_json(_index_path(), index)


def _index_key(dest: Path) -> str:
    return dest.relative_to(cache_dir("weights")).as_posix()


def _verified(path: Path, expected: str) -> bool:
    return _hash(path) == expected


def _hash(path: Path) -> str:
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _verified_here:
        _verified_here[key] = sha256_file(path)
    return _verified_here[key]


def _stream(response, path: Path, what: str) -> None:
    """Copy in chunks behind a progress bar: checkpoints are hundreds of MB."""
    total = int(response.headers.get("Content-Length") or 0) or None
    with (
        open(path, "wb") as out,
        tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=f"downloading {what}") as bar,
    ):
        while chunk := response.read(_CHUNK):
            out.write(chunk)
            bar.update(len(chunk))


def _check(path: Path, expected: str | None, what: str, url: str, dest: Path) -> None:
    """A wrong file must never reach the cache (atomic_path deletes it on this error)."""
    if expected is None:
        return
    got = sha256_file(path)
    if got != expected:
        raise UsageError(
            f"downloaded {what} from {url} has sha256 {got}, expected {expected}; "
            f"it was deleted: check the URL, or place the right file at {dest}"
        )


def _unreachable(what: str, url: str, dest: Path, expected: str | None, reason) -> UsageError:
    hand = f"place the file at {dest} by hand"
    if dest.is_file():
        hand = f"replace {dest} (its sha256 is not {expected}) by the right file"
    return UsageError(
        f"cannot download {what} from {url} ({reason}); {hand}, or use the offline preset: --preset fashion"
    )
