"""Checkpoint files: safe loading, the published layouts, normalization, architecture inference.

Layouts (any architecture of ``rnnviz.models.architectures``):
  MadryLab ``robustness``  ``{'model': {'module.normalizer.new_mean', 'module.model.<keys>',
                           'module.attacker.*'}, 'epoch', ...}`` (a duplicate under ``attacker``)
  RobustBench              ``{'normalize.mean', 'normalize.std', 'model.<keys>'}`` or ``model.<keys>``
  plain                    ``{<keys>}``, possibly behind ``module.`` (DataParallel) or inside
                           ``{'state_dict': ...}`` / ``{'model_state_dict': ...}``
"""

from __future__ import annotations

import hashlib
import logging
import pickle
import re
from collections import OrderedDict
from pathlib import Path

import torch
from torch import nn

from rnnviz.common.errors import UsageError
from rnnviz.models import architectures

log = logging.getLogger(__name__)

NORMALIZATION_KEYS = (
    ("new_mean", "new_std"),
    ("normalize.mean", "normalize.std"),
    ("normalizer.mean", "normalizer.std"),
)
# torchvision's own fix for DenseNet files saved before its module names changed (norm.1 -> norm1)
_OLD_DENSENET = re.compile(
    r"^(.*denselayer\d+\.(?:norm|relu|conv))\."
    r"((?:[12])\.(?:weight|bias|running_mean|running_var|num_batches_tracked))$"
)


def state_dict_sha256(state: dict) -> str:
    """Content hash of a state_dict (names, shapes, bytes) for models with no file behind them."""
    h = hashlib.sha256()
    for name in sorted(state):
        t = state[name].detach().cpu().contiguous()
        h.update(f"{name}:{tuple(t.shape)}:{t.dtype}".encode())
        h.update(t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.float().numpy().tobytes())
    return h.hexdigest()


def torch_load(path: Path, trust_pickle: bool):
    """``weights_only=True`` always; a full unpickle only with the user's explicit opt-in. A safetensors
    file is read by the safetensors package (it holds tensors only: nothing to trust)."""
    head = _head(path)
    if _is_safetensors(head):
        return _load_safetensors(path), False
    try:
        return torch.load(path, map_location="cpu", weights_only=True), False
    except pickle.UnpicklingError as err:
        if not head.startswith((b"PK\x03\x04", b"\x80")):  # neither torch.save's zip nor a pickle
            raise UsageError(
                f"{path.name} is not a checkpoint torch can read (neither a torch.save file nor a pickle nor "
                f"safetensors; it starts with bytes {head[:4].hex()}); check the file, or download it again"
            ) from err
        if not trust_pickle:
            raise UsageError(
                f"{path.name} is a full pickle, which can run code when loaded; if you trust its "
                f"source, rerun with --trust-pickle (it will be recorded in the report)"
            ) from err
    except (RuntimeError, EOFError, OSError, ValueError) as err:
        raise UsageError(
            f"cannot read checkpoint {path}: {one_line(err)}; is the file complete? download it again"
        ) from err
    log.warning("loading %s as a trusted pickle (--trust-pickle)", path)
    try:
        return torch.load(path, map_location="cpu", weights_only=False), True
    except Exception as err:  # a pickle can fail in any way; the user still gets one line
        raise UsageError(f"cannot unpickle checkpoint {path}: {one_line(err)}") from err


def _head(path: Path) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(16)
    except OSError:
        return b""  # torch.load says what is wrong with it


def _is_safetensors(head: bytes) -> bool:
    """safetensors: an 8-byte little-endian header length, then the JSON header itself."""
    return len(head) > 8 and 2 <= int.from_bytes(head[:8], "little") < 1 << 32 and head[8:9] == b"{"


def _load_safetensors(path: Path) -> dict:
    try:
        from safetensors.torch import load_file
    except ImportError:
        raise UsageError(
            f"{path.name} is a safetensors file and the safetensors package is not installed here: "
            "pip install safetensors, then rerun"
        ) from None
    try:
        return load_file(str(path), device="cpu")
    except Exception as err:  # the format's own errors (a truncated or damaged file): one line
        raise UsageError(f"cannot read safetensors checkpoint {path.name}: {one_line(err)}") from err


def one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0][:200] if text else type(err).__name__


def split_checkpoint(raw, path: Path) -> tuple[dict, tuple | None, tuple | None]:
    """The classifier's state_dict (torchvision key names) and any normalization stored beside it."""
    state = raw
    for key in ("model", "state_dict", "model_state_dict"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UsageError(
            f"{path.name} holds no state_dict of tensors; save the model with torch.save(model.state_dict(), path)"
        )
    state = {k: v for k, v in state.items() if "attacker." not in k}
    mean, std = _find_normalization(state)
    body = {k: v for k, v in state.items() if not _is_normalizer(k)}
    for prefix in ("module.", "model.", "module."):  # DataParallel, MadryLab, RobustBench
        if body and all(k.startswith(prefix) for k in body):
            body = {k[len(prefix) :]: v for k, v in body.items()}
    body = {_OLD_DENSENET.sub(r"\1\2", k): v for k, v in body.items()}
    return body, mean, std


def _is_normalizer(key: str) -> bool:
    parts = key.split(".")
    return (
        len(parts) >= 2
        and parts[-2] in ("normalizer", "normalize")
        and parts[-1] in ("new_mean", "new_std", "mean", "std")
    )


def _find_normalization(state: dict):
    for mean_key, std_key in NORMALIZATION_KEYS:
        mean = next((v for k, v in state.items() if k.endswith(mean_key)), None)
        std = next((v for k, v in state.items() if k.endswith(std_key)), None)
        if mean is not None and std is not None and mean.numel() == 3:
            return tuple(mean.flatten().tolist()), tuple(std.flatten().tolist())
    return None, None


def infer_arch(state: dict, path: Path) -> str:
    """The architecture the keys and shapes say; one clear line asking for ``--arch`` otherwise."""
    return infer_arch_kwargs(state, path)[0]


def infer_arch_kwargs(state: dict, path: Path) -> tuple[str, dict]:
    found = architectures.infer(state)
    if found is None:
        sample = ", ".join(list(state)[:3])
        raise UsageError(
            f"cannot infer the architecture of {path.name} (keys such as {sample} match no "
            f"torchvision classifier); pass --arch, e.g. --arch resnet50 or --arch mobilenet_v2"
        )
    return found


def build_kwargs(arch: str, state: dict) -> dict:
    """Build arguments a state_dict implies for ``arch`` (number of classes, ViT image size)."""
    return architectures.build_kwargs(arch, state)


def load_strict(net: nn.Module, state: dict, *, arch: str, what: str) -> None:
    """Every key present with its shape, or one line saying how many did not fit."""
    own = net.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [k for k in own if k in state and state[k].shape != own[k].shape]
    if missing or unexpected or wrong:
        sample = (missing or unexpected or wrong)[:2]
        raise UsageError(
            f"checkpoint {what} does not fit {arch}: {len(missing)} missing, {len(unexpected)} "
            f"unexpected, {len(wrong)} mis-shaped keys (e.g. {', '.join(sample)}); "
            f"check --arch or the checkpoint"
        )
    if getattr(state, "_metadata", None) is None:  # lost with the prefixes; keys and shapes fit, so the
        state = OrderedDict(state)  # net's own module versions apply (MNASNet needs one)
        state._metadata = getattr(own, "_metadata", None)  # type: ignore[attr-defined]
    net.load_state_dict(state, strict=True)
