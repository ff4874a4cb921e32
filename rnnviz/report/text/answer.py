"""Page 1's answer: which channels react to the attack, by which measure, how sure, how specific,
whether they cause the errors, and how the two models differ, each sentence from results.json.

Every number is read from results.json (no claim from the literature), and every piece of advice
is one the user can follow with this source: never more images per class than it holds.
"""

from __future__ import annotations

from rnnviz.common.names import MODELS, RANK_NAMES, RANK_WORDS
from rnnviz.report.text import claims, summary
from rnnviz.report.text import patch_numbers as pn
from rnnviz.report.text.cause import cause_line, cause_sentence
from rnnviz.report.text.format import attack_label, eps_text, focus_index, pct, ranked
from rnnviz.results.model import Results
from rnnviz.results.model.accuracy import Wilson
from rnnviz.results.model.channels import RankingEntry, TopRow
from rnnviz.results.model.run import RunConfig
from rnnviz.results.model.values import ByModel


def brief(results: Results) -> list[str]:
    """Page 1 of the brief: clean accuracy, every attack's accuracy, which channels, how specific
    they are and whether they cause the errors, and the caveats; page 2 states trust and the attacks
    in one line each, and section 2 opens with the rest (``sensitivity_sentences``)."""
    i = focus_index(results)
    if results.config.eps[i] == 0 or not all(results.ranking.of(m)[i] for m in MODELS):
        return summary.summary_sentences(results)
    if claims.measured(results.strong_attack):
        robustness = [claims.strongest_sentence(results), claims.overstated_sentence(results)]
        robustness += [claims.masking_sentence(results), _top_channels(results, i)]
    else:
        robustness = [*_robustness(results, i), *(_channels(results, m, i) for m in MODELS)]
    out = [summary.clean_sentence(results), *robustness]
    out += [
        claims.replication_sentence(results.replication, i),
        _specific(results, i),
        f"{cause_line(results, full=True)}.",
    ]
    return [s for s in out if s]


def _robustness(results: Results, i: int) -> list[str | None]:
    """Accuracy, strongest attack first: its numbers, where weaker attacks overstate them, where
    accuracy rises with eps, then the analysis attacks at the focus eps. Without a strong evaluation
    (an older folder) the analysis attacks and their caveats."""
    if not claims.measured(results.strong_attack):
        return [_accuracy(results, i), *summary.caveats(results)]
    return [
        claims.strongest_sentence(results),
        claims.overstated_sentence(results),
        claims.masking_sentence(results),
        _accuracy(results, i),
    ]


def sensitivity_sentences(results: Results) -> list[str]:
    """Section 2's opening: the cross-model ratio, how far σ is the channel's size, where each model reacts."""
    i = focus_index(results)
    if results.config.eps[i] == 0 or not all(results.ranking.of(m)[i] for m in MODELS):
        return []
    found = [summary.sensitivity_ratio_sentence(results), _confound(results, i), _layers(results, i)]
    return [s for s in found if s]


def cause_sentences(results: Results) -> list[str]:
    """The patching verdicts of page one, model by model (the cause section opens with them)."""
    i = focus_index(results)
    if results.config.eps[i] == 0 or not all(results.ranking.of(m)[i] for m in MODELS):
        return []
    return [s for s in (cause_sentence(results, m, i) for m in MODELS) if s]


def channel_name(row: TopRow) -> str:
    return f"{row.layer} ch{row.channel}"


def _primary(config: RunConfig) -> str:
    return attack_label(config.attack[0])


def _accuracy(results: Results, i: int) -> str:
    """Every attack's accuracy at the focus eps, with its Wilson interval, and why the primary leads
    (a folder without a strong evaluation)."""
    attacks = results.attacks
    parts = []
    for a in attacks.names:
        acc = [attacks.accuracy[a].of(m)[i] for m in MODELS]
        parts.append(f"{attack_label(a)} leaves the standard model {_acc(acc[0])} and the robust model {_acc(acc[1])}")
    reason = _primary_reason(results)
    why = f"; {_primary(results.config)} drives the analysis below ({reason})" if reason else ""
    return f"At ε = {eps_text(results.config, i)}, {'; '.join(parts)} correct{why}."


def _acc(entry: Wilson) -> str:
    return f"{pct(entry.accuracy)} ({pct(entry.low)[:-1]}–{pct(entry.high)})"


def _eps(value: float) -> str:
    return f"{value:g}"


def _channels(results: Results, m: str, i: int) -> str:
    r = ranked(results, m, i)
    names = ", ".join(channel_name(row) for row in r.top)
    p = [row.p_top for row in r.top if row.p_top is not None]
    k = len(r.top)
    share = pct(min(p)) if p and pct(min(p)) == pct(max(p)) else f"{pct(min(p))}–{pct(max(p))}" if p else ""
    sure = f"; each is in a bootstrap resample's top {k} {share} of the time" if p else ""
    return (
        f"The {m} model's top {k} channels ({RANK_NAMES[r.measure]}) under {_primary(results.config)} at "
        f"ε = {results.config.eps_labels[i]}: {names}{sure}."
    )


def _top_channels(results: Results, i: int) -> str:
    """Both models' top channels at the focus eps in one sentence, with how often a bootstrap resample
    keeps each in its top k and why the analysis follows its attack."""
    parts = []
    for m in MODELS:
        r = ranked(results, m, i)
        p = [row.p_top for row in r.top if row.p_top is not None]
        share = f" (each in {_span(p)} of resamples' top {len(r.top)})" if p else ""
        parts.append(f"the {m} model's {', '.join(channel_name(row) for row in r.top)}{share}")
    first = ranked(results, MODELS[0], i)
    measure = RANK_NAMES[first.measure]
    return (
        f"The top {len(first.top)} channels ({measure}) under {_why_primary(results)} "
        f"at ε = {results.config.eps_labels[i]}: {'; '.join(f'{p}' for p in parts)}."
    )


def _span(values: list[float]) -> str:
    low, high = pct(min(values)), pct(max(values))
    return low if low == high else f"{low[:-1]}–{high}"


def _why_primary(results: Results) -> str:
    """The attack the analysis follows, and why, where the run had a choice."""
    reason = _primary_reason(results)
    return f"{_primary(results.config)} (the analysis attack: {reason})" if reason else _primary(results.config)


def _primary_reason(results: Results) -> str | None:
    """Why the analysis follows its attack, where the run had several: the user's choice or the
    lowest robust accuracy (``primary_attack.rule``)."""
    chosen = results.primary_attack
    if len(results.attacks.names) < 2:
        return None
    if chosen.rule.startswith("chosen"):
        return "you chose it"
    return f"the lowest robust accuracy at ε = {_eps(chosen.eps)}"


def _specific(results: Results, i: int) -> str | None:
    """How much of these channels' change matched noise already causes (mean and range over the top
    k), and the size check."""
    parts, noisy = [], 0
    for m in MODELS:
        ratios = [row.noise_ratio for row in ranked(results, m, i).top if row.noise_ratio is not None]
        if not ratios:
            return None
        spread = f" ({pct(min(ratios))}–{pct(max(ratios))})" if len(ratios) > 1 else ""
        parts.append(f"{pct(sum(ratios) / len(ratios))}{spread} for the {m} model")
        noisy += sum(r >= 1 for r in ratios)
    size = _size_check(results, i)
    rest = "the rest is specific to the attack" if not noisy else f"for {noisy} of them noise alone moves them as much"
    return (
        f"Random noise of the attack's size in the model's own input{size} gives these channels "
        f"a mean σ_noise / σ of {' and '.join(parts)}: {rest}."
    )


def _size_check(results: Results, i: int) -> str:
    match = results.noise_match.get("robust")
    sizes = match.sizes[i] if match and match.sizes else None
    attack = results.config.attack[0]
    if not sizes or attack not in sizes or "noise" not in sizes:
        return ""
    a, n = sizes[attack], sizes["noise"]
    return f" (mean |δ| {n.mean_abs:.3f}, the attack's {a.mean_abs:.3f})"


def _confound(results: Results, i: int) -> str | None:
    """σ's rank correlation with clean |F| in the deepest layer, and the top-k agreements."""
    parts, lead = [], ranked(results, "standard", i)
    layer = list(lead.confound.sigma)[-1]
    for m in MODELS:
        c = ranked(results, m, i).confound
        rho_s, rho_m = c.sigma[layer], c.measure[layer]
        if rho_s is None or rho_m is None:
            return None
        parts.append(f"{rho_s:.2f} for σ against {rho_m:.2f} for the measure used ({m})")
    agree = lead.agreement
    if agree.sigma is None or agree.noise is None:
        return None
    return (
        f"σ alone mostly tracks how big a channel is: in {layer} the rank correlation with clean mean |F| is "
        f"{' and '.join(parts)}; the standard model's top {len(lead.top)} shares a Jaccard index of "
        f"{agree.sigma:.2f} with the top by σ and {agree.noise:.2f} with the top by σ_noise."
    )


def _layers(results: Results, i: int) -> str | None:
    """Where each model reacts most, by relative excess per layer (comparable across layers)."""
    parts = []
    for m in MODELS:
        layers = ranked(results, m, i).layers
        scored = {n: v.relative_excess for n, v in layers.items() if v.relative_excess is not None}
        if not scored:
            return None
        best = max(scored, key=lambda n: scored[n])
        parts.append(f"the {m} model's in {best} ({layers[best].channels} channels; {scored[best]:.3f})")
    return (
        "By layer, in units of each layer's clean activation size (mean relative excess, comparable across "
        f"layers of different width), {parts[0]}, {parts[1]}."
    )


def advice(results: Results) -> list[str]:
    """Next steps the user can take with this source and these settings."""
    config, out = results.config, []
    cap = results.source.per_class
    if pn.enabled(results) and config.patch_share is not None and config.patch_share < 1:
        out.append(
            f"To patch all {results.n_images} images rather than a {pct(config.patch_share)} sample, "
            "rerun with --patch-share 1."
        )
    if cap is not None and config.n_images < cap:
        more = min(2 * config.n_images, cap)
        out.append(f"For firmer rankings, rerun with --n-images {more} (this source holds {cap} per class).")
    elif cap is not None:
        out.append(
            f"This run already uses every image the source holds ({cap} per class); firmer rankings need "
            "a larger image folder (--data)."
        )
    return out


def confound_caption(ranking: ByModel[list[RankingEntry | None]], i: int) -> str:
    """One sentence for the top-k table: how far σ at this eps is just the channel's clean size."""
    parts = []
    for m in MODELS:
        r = ranking.of(m)[i]
        rho = r.confound.sigma if r else {}
        values = {n: v for n, v in rho.items() if v is not None}
        if values:  # the range over the layers and the deepest layer's value; each layer's in the ranking CSVs
            deepest = list(values)[-1]
            low, high = min(values.values()), max(values.values())
            parts.append(f"{m} {low:.2f}–{high:.2f} ({values[deepest]:.2f} in {deepest})")
    if not parts:
        return ""
    return f" σ's rank correlation with the clean mean |F| over the layers: {'; '.join(parts)}."


def method_paragraph(results: Results) -> str:
    """The method section's paragraph on the ranking measure, with this run's confound numbers."""
    i = focus_index(results)
    r = ranked(results, "standard", i) if results.config.eps[i] > 0 else None
    measure = RANK_WORDS[results.config.rank_by]
    text = (
        f"Channels are ranked by {measure}. σ grows with a channel's own activation size and, in part, with any "
        "perturbation: its top-k mostly names the biggest channels. Subtracting σ under noise matched to the "
        "attack in the model's input (one sign per pixel shared by the colour channels for a grayscale front; "
        "same mean |δ| and L2) keeps what only the attack does, and is the least tied to channel size within a "
        "layer; standardising it within each layer puts layers of different scale and width on one footing. "
        "Dividing by the clean mean |F| instead (relative σ or relative excess) overcorrects: it favours the "
        "smallest channels. σ is still computed and tabled (--rank-by sigma)."
    )
    if r:
        rho = r.confound.sigma
        text += (
            " In this run σ's rank correlation with clean |F| (standard model, ε = "
            + results.config.eps_labels[i]
            + ") is "
            + ", ".join(f"{v:.2f} in {n}" for n, v in rho.items() if v is not None)
            + "."
        )
    return text
