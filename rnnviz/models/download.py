"""Download weights once into the cache, or say how to do without the network.

Machines without internet are common in labs, so every failure ends in one line
naming the file's path (to place it by hand) and the offline preset.
"""

from __future__ import annotations

import http.client
import os
import urllib.request
from pathlib import Path
from urllib.error import HTTPError, URLError

from tqdm import tqdm

from rnnviz.common.cache import cache_dir
from rnnviz.common.errors import UsageError
from rnnviz.common.files import atomic_path, sha256_file

TIMEOUT_S = 20
_CHUNK = 1 << 20
_NETWORK_ERRORS = (URLError, TimeoutError, ConnectionError, http.client.HTTPException)


def fetch(url: str, sha256: str | None, dest_name: str, *, what: str, dest_dir: Path | None = None) -> Path:
    """``cache_dir("weights")/dest_name`` (or ``dest_dir/dest_name``), downloaded only if missing or stale."""
    dest = (Path(dest_dir) if dest_dir else cache_dir("weights")) / dest_name
    expected = sha256.lower() if sha256 else None
    if dest.is_file() and (expected is None or sha256_file(dest) == expected):
        return dest
    if os.environ.get("RNNVIZ_OFFLINE", "") not in ("", "0"):
        raise _unreachable(what, url, dest, expected, "RNNVIZ_OFFLINE is set")
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response, atomic_path(dest) as tmp:
            _stream(response, tmp, what)
            _check(tmp, expected, what, url, dest)
    except _NETWORK_ERRORS as err:
        reason = err if isinstance(err, HTTPError) else getattr(err, "reason", err)
        raise _unreachable(what, url, dest, expected, reason) from err
    return dest


def fetch_checkpoint(spec: str) -> Path:
    """A ``https://.../file.ckpt[#sha256=HEX]`` model spec, cached under its file name."""
    url, _, digest = spec.partition("#sha256=")
    name = url.rsplit("/", 1)[-1] or "checkpoint.pt"
    return fetch(url, digest or None, name, what=f"checkpoint {name}")


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
