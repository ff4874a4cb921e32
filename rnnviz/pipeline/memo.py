"""Per-model stage results kept between the pair runs of a ladder.

The least robust model is in every pair of a ladder, on the same images with the same settings, so
its attack sweep, strong evaluation, patching and exemplar pool come out the same in each pair: they
are measured in the first pair and handed to the others as copies (a stage's result may be merged
or finished in place later). A key holds everything such a result depends on besides the model's
weights: the stage, this rank's shard, the attacks in their order (the primary first) and the
run's settings other than the second model.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import TypeVar

from rnnviz.common.files import key_digest
from rnnviz.models.loading import LoadedModel
from rnnviz.results.runfolder import UNFINGERPRINTED
from rnnviz.settings.config import Config

T = TypeVar("T")
PAIR_ONLY = ("robust", "train_eps")  # settings that name the pair's other model, not what is measured


class ModelMemo:
    """Stage results of the model in role ``kept`` (a ladder's reference is every pair's "standard"),
    by stage, weights, shard and settings."""

    def __init__(self, kept: str = "standard"):
        self.kept = kept
        self._results: dict[tuple, object] = {}

    def per_model(
        self,
        stage: str,
        cfg: Config,
        span: range,
        models: dict[str, LoadedModel],
        compute: Callable[[dict[str, LoadedModel]], dict[str, T]],
    ) -> dict[str, T]:
        """``compute`` on the models with no kept result; the kept ones' from before (as copies)."""
        keys = {m: self._key(stage, cfg, span, loaded) for m, loaded in models.items()}
        missing = {m: loaded for m, loaded in models.items() if keys[m] not in self._results}
        fresh = compute(missing) if missing else {}
        for m, value in fresh.items():
            if m == self.kept:
                self._results[keys[m]] = copy.deepcopy(value)
        return {m: fresh[m] if m in fresh else copy.deepcopy(self._results[keys[m]]) for m in models}  # type: ignore[misc]

    @staticmethod
    def _key(stage: str, cfg: Config, span: range, model: LoadedModel) -> tuple:
        settings = {k: v for k, v in cfg.to_json().items() if k not in UNFINGERPRINTED + PAIR_ONLY}
        return stage, model.sha256, span.start, span.stop, key_digest(**settings)


def measure(
    memo: ModelMemo | None,
    stage: str,
    cfg: Config,
    span: range,
    models: dict[str, LoadedModel],
    compute: Callable[[dict[str, LoadedModel]], dict[str, T]],
) -> dict[str, T]:
    """``compute`` on every model, or through ``memo`` where a ladder keeps one."""
    return compute(models) if memo is None else memo.per_model(stage, cfg, span, models, compute)
