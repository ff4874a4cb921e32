"""Run settings: defaults < preset < ``--config FILE.toml`` < command-line flags.

Every value is checked here, once, so later stages can trust it; a bad value
raises ``UsageError`` naming the setting and the fix.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import asdict, dataclass, field, fields
from fractions import Fraction
from pathlib import Path

import tomllib

from rnnviz.common.errors import UsageError
from rnnviz.common.files import read_bounded
from rnnviz.common.names import ATTACKS, EXEMPLAR_POOLS, NORMS, QUALITIES, RANK_BY, RECIPES, STRONG_VERSIONS
from rnnviz.settings.ladder import LadderModel, ladder_models
from rnnviz.settings.patching import patch_ladder
from rnnviz.settings.presets import DEFAULT_PRESET, PRESETS
from rnnviz.settings.replicas import replicate_pairs


@dataclass
class Config:
    """Everything one report run needs; ``to_json`` goes into results.json."""

    preset: str = DEFAULT_PRESET
    classes: list[str] = field(default_factory=list)
    eps: list[float] = field(default_factory=list)
    eps_labels: list[str] = field(default_factory=list)
    attack: list[str] = field(default_factory=lambda: ["fgsm"])  # after the sweep, the primary first
    primary: str | None = None  # --primary-attack; None: the strongest (rnnviz.measures.primary)
    train_eps: float | None = None  # the robust model's training eps (default: the preset's)
    fgsm_grid: int = 21  # FGSM accuracy on this many eps from 0 to the largest (0: off)
    transfer: bool = True  # each model on the other's adversarial images
    exemplars: int = 4  # real images per channel card and list (0: no cards)
    exemplar_pool: str = EXEMPLAR_POOLS[0]  # all: clean exemplars from every class of the source (rnnviz.data.pool)
    # APGD-CE + APGD-T on the images every Linf attack left right (rnnviz.measures.strong): fast (the
    # default) or standard (AutoAttack's standard version), their numbers in rnnviz.common.names.APGD_VERSIONS, or off
    strong_attack: str = STRONG_VERSIONS[0]
    pgd_steps: int = 10
    pgd_step_size: float | None = None
    top_k: int = 5
    n_images: int = 100
    n_examples: int = 2
    layers: list[str] | None = None
    neurons: list[str] | None = None
    standard: str | None = None
    robust: str | None = None
    replicate: list[str] | None = None  # further (standard, robust) spec pairs compared with the run's pair
    models: list[str] | None = None  # a ladder (--models or the preset's): each model against the least robust
    models_train_eps: list[float] | None = None  # each --models entry's training eps (--train-eps E,E,...)
    arch: str | None = None
    trust_pickle: bool = False
    data: str | None = None
    label: str | None = None
    out: str | None = None
    device: str = "cpu"
    seed: int = 0
    quality: str = "draft"
    recipes: list[str] = field(default_factory=lambda: ["lucid", "raw"])  # accent needs exemplars: opt in
    diversity: int = 0
    batch_size: int = 32
    workers: int = 0  # processes decoding images ahead of the attack (0: decode in the run's own process)
    bootstrap: int = 200
    rank_by: str = RANK_BY[0]  # the measure the ranking leads with (rnnviz.measures.rank_measures)
    patch: str = "1,5,30"  # activation-patching ladder k, or "none"
    patch_draws: int = 20  # random and similar-|F| control draws per k: their spread is part of each verdict
    patch_share: float = 0.25  # share of the images patched (a seeded random subset)
    pdf: bool = True
    slides: bool = False

    @property
    def primary_attack(self) -> str:
        """The attack the ranking, patching, examples and galleries use: the first one listed (the run
        puts the chosen or strongest attack first once the sweep has measured them all)."""
        return self.attack[0]

    def to_json(self) -> dict:
        d = asdict(self)
        d["eps_255"] = [f"{e * 255:.4g}/255" for e in self.eps]
        d["pgd"] = {"steps": self.pgd_steps, "step_size": self.pgd_step_size, "random_start": True}
        for optional in ("replicate", "models", "models_train_eps"):  # a pair's results.json stays as it was
            if not d[optional]:
                del d[optional]
        return d

    @property
    def ladder(self) -> list[LadderModel] | None:
        """The ladder's models in increasing training eps; None for a pair run."""
        return ladder_models(self.models, self.models_train_eps, self.preset) if self.models else None


# ------------------------------------------------------------------ parsing values


def parse_eps(text: str | list) -> tuple[list[float], list[str]]:
    """``"0,0.01,4/255"`` -> sorted values in [0, 1] and the user's own spelling of each."""
    items = [str(t).strip() for t in (text if isinstance(text, list) else str(text).split(","))]
    if not items or any(not t for t in items):
        raise UsageError(f"--eps '{text}' has an empty entry; give comma-separated values like 0,0.01,4/255")
    pairs = []
    for item in items:
        try:
            value = float(Fraction(item))
        except (ValueError, ZeroDivisionError):
            raise UsageError(
                f"--eps value '{item}' is not a number; use decimals (0.01) or fractions (4/255)"
            ) from None
        if not math.isfinite(value) or value < 0 or value > MAX_L2_EPS:
            raise UsageError(
                f"--eps value '{item}' is outside [0, 1]; epsilon is in [0, 1] pixel units (8/255 = {8 / 255:.4f})"
            )
        pairs.append((value, item))
    values = [v for v, _ in pairs]
    dupes = sorted({t for v, t in pairs if values.count(v) > 1})
    if dupes:
        raise UsageError(f"--eps lists the same epsilon more than once ({', '.join(dupes)}); give each once")
    pairs.sort()
    return [v for v, _ in pairs], [t for _, t in pairs]


def parse_list(text: str | list, what: str) -> list[str]:
    items = [str(t).strip() for t in (text if isinstance(text, list) else str(text).split(","))]
    if not items or any(not t for t in items):
        raise UsageError(f"--{what} '{text}' has an empty entry; give comma-separated names")
    return items


# ------------------------------------------------------------------ building a Config

FIELD_TYPES = {f.name: f.type for f in fields(Config)}
LIST_FIELDS = ("classes", "layers", "recipes", "neurons", "attack", "replicate", "models")  # comma-separated in flags
SETTABLE = sorted(set(FIELD_TYPES) - {"eps_labels", "models_train_eps"})


MAX_CONFIG_BYTES = 1 << 20  # a settings file is a few hundred bytes; /dev/zero or a log is not one
# settings that let a file run code: given on the command line (or by RNNVIZ_TRUST_PICKLE), never by a
# config file, which may come from a shared folder or a colleague's repository
COMMAND_LINE_ONLY = {"trust_pickle": "--trust-pickle"}


def load_toml(path: str | Path) -> dict:
    """Read a config file; unknown keys and wrong types are errors, not silently ignored."""
    path = Path(path)
    try:
        raw = tomllib.loads(read_bounded(path, MAX_CONFIG_BYTES, "config file", "a TOML file").decode())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise UsageError(f"config file {path} is not valid TOML: {err}") from None
    settings = {}
    for key, value in raw.items():
        name = key.replace("-", "_")
        if name in COMMAND_LINE_ONLY:
            flag = COMMAND_LINE_ONLY[name]
            raise UsageError(
                f"'{key}' in {path} would let a checkpoint run code, which only the command line may allow: "
                f"remove it and pass {flag} (or set RNNVIZ_TRUST_PICKLE=1)"
            )
        if name not in SETTABLE:
            raise UsageError(f"unknown key '{key}' in {path}; valid keys: {', '.join(SETTABLE)}")
        settings[name] = _check_type(name, value, path)
    return settings


def _check_type(name: str, value, source) -> object:
    kind = FIELD_TYPES[name]
    ok = {
        "bool": isinstance(value, bool),
        "int": isinstance(value, int) and not isinstance(value, bool),
        "str": isinstance(value, str),
    }
    if name == "eps" or name in LIST_FIELDS:
        ok_value = isinstance(value, (str, list))
    elif name == "train_eps":  # one number (a pair) or one per --models entry
        ok_value = isinstance(value, (int, float, str, list)) and not isinstance(value, bool)
    elif "float" in kind:
        ok_value = isinstance(value, (int, float)) and not isinstance(value, bool)
    else:
        base = kind.split("|")[0].strip()
        ok_value = ok.get(base, True)
    if not ok_value:
        raise UsageError(f"'{name}' in {source} has the wrong type ({type(value).__name__}); expected {kind}")
    return value


def build_config(settings: dict) -> Config:
    """Merge preset defaults under the given settings and validate everything."""
    preset_name = settings.get("preset") or DEFAULT_PRESET
    if preset_name not in PRESETS:
        raise UsageError(f"unknown preset '{preset_name}'; choose one of: {', '.join(PRESETS)}")
    preset = PRESETS[preset_name]
    cfg = Config(preset=preset_name, replicate=list(preset.replicate) or None)
    cfg.standard, cfg.robust = preset.standard, preset.robust
    cfg.data = preset.data or os.environ.get("RNNVIZ_DATA")
    cfg.classes = list(preset.classes)
    cfg.eps, cfg.eps_labels = parse_eps(preset.eps)
    for name, value in settings.items():
        if value is None or name == "preset":
            continue
        if name == "eps":
            cfg.eps, cfg.eps_labels = parse_eps(value)
        elif name == "train_eps":
            cfg.models_train_eps = parse_train_eps(value)
        elif name in LIST_FIELDS:
            setattr(cfg, name, parse_list(value, name.replace("_", "-")))
        else:
            setattr(cfg, name, value)
    _choose_models(cfg, preset, settings)
    validate(cfg)
    return cfg


def parse_train_eps(value) -> list[float]:
    """``--train-eps 0.1`` (the pair's robust model) or ``0,0.05,0.1`` (one per --models entry)."""
    if isinstance(value, bool):
        raise UsageError(f"--train-eps must be a number from 0 to 100 (the robust model's training eps), got {value!r}")
    if isinstance(value, (int, float)):
        return [float(value)]
    try:
        return [float(Fraction(t.strip())) for t in (value if isinstance(value, list) else str(value).split(","))]
    except (ValueError, ZeroDivisionError, TypeError):
        raise UsageError(f"--train-eps '{value}' is not a number or a comma-separated list of numbers") from None


def _choose_models(cfg: Config, preset, settings: dict) -> None:
    """Pair or ladder: ``--models`` (two: the pair), else the preset's ladder unless --standard/--robust
    name a pair; ``--train-eps`` is the robust model's (a pair) or one per model (a ladder)."""
    given = cfg.models_train_eps
    own_pair = settings.get("standard") is not None or settings.get("robust") is not None
    if cfg.models is None and preset.ladder and not own_pair:
        cfg.models = [r.spec for r in preset.ladder]
    if cfg.models is not None and len(cfg.models) == 2:
        cfg.standard, cfg.robust = cfg.models
        cfg.models, given = None, given[1:] if given and len(given) == 2 else given
    if cfg.models is None:
        if given is not None and len(given) != 1:
            raise UsageError(f"--train-eps gives {len(given)} values for a pair; give the robust model's one value")
        cfg.train_eps, cfg.models_train_eps = (given[0] if given else cfg.train_eps), None
        return
    if cfg.replicate or own_pair:
        raise UsageError(
            "--models names a ladder; --standard, --robust and --replicate name a pair: give one or the other"
        )


# Integer settings: (lowest, highest). The ceilings keep a typo from costing hours or gigabytes
# (--diversity 1000000 once grew to 24 GB; --n-examples 300 drew a 17008 px wide figure).
INT_BOUNDS = {
    "top_k": (1, 1000),
    "n_images": (1, 100_000),
    "pgd_steps": (1, 1000),
    "batch_size": (1, 4096),
    "workers": (0, 64),
    "n_examples": (0, 10),
    "diversity": (0, 16),
    "seed": (0, 2**32 - 1),
    "bootstrap": (0, 2000),
    "patch_draws": (0, 200),
    "fgsm_grid": (0, 201),
    "exemplars": (0, 20),
}
MAX_EPS = 32
MAX_L2_EPS = 256.0  # an L2 radius (pgd-l2) may exceed 1; the diameter of a 224 px image is about 388
MAX_CLASSES = 100


def validate(cfg: Config) -> None:
    """Range checks that need no model; layer names and top-k vs channels are checked later."""
    _check_methods(cfg)
    _check_ladder(cfg)
    _check_numbers(cfg)
    _check_lists(cfg)
    patch_ladder(cfg.patch)
    share = cfg.patch_share
    if not isinstance(share, (int, float)) or isinstance(share, bool) or not 0 < share <= 1:
        raise UsageError(f"--patch-share must be in (0, 1], got {share!r}")
    if not re.fullmatch(r"cpu|cuda(:\d+)?", cfg.device):
        raise UsageError(f"unknown --device '{cfg.device}'; use cpu, cuda or cuda:N")


def _check_methods(cfg: Config) -> None:
    """Attacks, quality, ranking and recipes: each one of its known names."""
    for attack in cfg.attack:
        _check_choice("attack", attack, ATTACKS)
    if not cfg.attack or len(set(cfg.attack)) < len(cfg.attack):
        raise UsageError(f"--attack '{','.join(cfg.attack)}' must list each attack once, e.g. fgsm,pgd")
    if cfg.train_eps is not None and (
        not isinstance(cfg.train_eps, (int, float)) or isinstance(cfg.train_eps, bool) or not 0 <= cfg.train_eps <= 100
    ):
        raise UsageError(
            f"--train-eps must be a number from 0 to 100 (the robust model's training eps), got {cfg.train_eps!r}"
        )
    if cfg.primary is not None and cfg.primary not in cfg.attack:
        raise UsageError(
            f"--primary-attack {cfg.primary} is not among --attack {','.join(cfg.attack)}; name one of those"
        )
    _check_choice("quality", cfg.quality, QUALITIES)
    _check_choice("strong-attack", cfg.strong_attack, STRONG_VERSIONS)
    _check_choice("rank-by", cfg.rank_by, RANK_BY)
    _check_choice("exemplar-pool", cfg.exemplar_pool, EXEMPLAR_POOLS)
    for recipe in cfg.recipes:
        _check_choice("recipes", recipe, RECIPES)
    if "accent" in cfg.recipes and not cfg.exemplars:
        raise UsageError("--recipes accent starts from each channel's best real image; it needs --exemplars 1 or more")


def _check_ladder(cfg: Config) -> None:
    """A ladder's models resolve (each with a training eps), and each eps is in range."""
    if not cfg.models:
        return
    for model in cfg.ladder or []:
        if not 0 <= model.train_eps <= 100:
            raise UsageError(f"--train-eps of {model.spec} must be from 0 to 100, got {model.train_eps:g}")


def _check_numbers(cfg: Config) -> None:
    """The integer flags in their bounds, the PGD step size and the ``--neurons`` form."""
    for name, (low, high) in INT_BOUNDS.items():
        value = getattr(cfg, name)
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise UsageError(f"--{name.replace('_', '-')} must be an integer from {low} to {high}, got {value!r}")
    if cfg.pgd_step_size is not None and not (0 < cfg.pgd_step_size <= 1):
        raise UsageError(f"--pgd-step-size must be in (0, 1], got {cfg.pgd_step_size}")
    bad = [n for n in cfg.neurons or [] if not re.fullmatch(r"[\w.]+:\d+", n)]
    if bad:
        raise UsageError(f"--neurons entry '{bad[0]}' is not LAYER:CHANNEL; write e.g. layer4.0:17")


def _check_lists(cfg: Config) -> None:
    """Classes and epsilons: present, not too many, eps within its attacks' range."""
    if not cfg.classes:
        raise UsageError("no classes given; pass --classes, e.g. --classes flamingo")
    if len(cfg.classes) > MAX_CLASSES:
        raise UsageError(f"--classes lists {len(cfg.classes)} classes; use at most {MAX_CLASSES} per report")
    if not cfg.eps:
        raise UsageError("no epsilons given; pass --eps, e.g. --eps 0,0.01,0.1")
    linf = [a for a in cfg.attack if NORMS.get(a) == "linf"]
    if linf and max(cfg.eps) > 1:
        raise UsageError(
            f"--eps value {max(cfg.eps):g} is outside [0, 1], the range of {', '.join(linf)} (pixel units); "
            f"radii above 1 are for L2 PGD alone: --attack pgd-l2"
        )
    if len(cfg.eps) > MAX_EPS:
        raise UsageError(f"--eps lists {len(cfg.eps)} values; use at most {MAX_EPS}")
    replicate_pairs(cfg.replicate)


def _check_choice(flag: str, value, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise UsageError(f"unknown --{flag} '{value}'; choose one of: {', '.join(choices)}")
