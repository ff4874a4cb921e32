"""The Jinja2 environment and the context the report templates render from.

The HTML is one self-contained file: figures are embedded as data: URIs and the CSS is
inlined, so the report can be mailed or archived alone and WeasyPrint needs to fetch nothing.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from rnnviz.common.errors import UsageError
from rnnviz.common.names import APGD_VERSIONS, MODELS
from rnnviz.report.datauri import data_uri
from rnnviz.report.figures.channel_grids import gallery_key
from rnnviz.report.figures.look import COLOURS, INK, MUTED, PLOT_COLOURS, RIGHT, WRONG
from rnnviz.report.sections import attacks as attack_section
from rnnviz.report.sections import cards as cards_section
from rnnviz.report.sections import matching as matching_section
from rnnviz.report.sections import patching as patch_section
from rnnviz.report.sections import trust
from rnnviz.report.sections.catalogue import (
    ReportFigure,
    attacked_indices,
    class_slugs,
    main_gallery_key,
    main_index,
    rendered_recipes,
    sensitivity_key,
)
from rnnviz.report.slides import titles as findings
from rnnviz.report.text import summary as summary_text
from rnnviz.report.text.answer import (
    advice,
    brief,
    cause_sentences,
    confound_caption,
    method_paragraph,
    sensitivity_sentences,
)
from rnnviz.report.text.format import attack_label, attack_name, eps_text, pct
from rnnviz.report.text.gallery import texture_sentence
from rnnviz.results.model import Results
from rnnviz.results.model.run import ModelIdentity, RunConfig
from rnnviz.results.model.values import ByModel

PACKAGE = Path(__file__).resolve().parents[1]


def templates_dir(package: Path = PACKAGE) -> Path:
    """Inside a wheel the templates ship as ``rnnviz/templates``; in a source tree they sit beside
    the package, at the repository's top level."""
    for candidate in (package / "templates", package.parent / "templates"):
        if (candidate / "report.html.j2").is_file():
            return candidate
    raise UsageError(
        f"report templates not found next to {package}: reinstall rnnviz "
        "(pip install rnnviz, or pip install -e . in a checkout)"
    )


@lru_cache(maxsize=1)
def environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(templates_dir()),
        autoescape=select_autoescape(["html", "j2", "xml"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_html(results: Results, figures: list[ReportFigure], cards: dict | None = None) -> str:
    """``cards``: the cards section's context where it was made already (``cards_section.context``)."""
    return environment().get_template("report.html.j2").render(**context(results, figures, cards))


def render_slides(results: Results, figures: list[ReportFigure], slides: list) -> str:
    """The deck: the report's context plus the slides (``rnnviz.report.slides.deck``) and their pictures."""
    from rnnviz.report.slides.deck import provenance

    slides = [s for s in slides if s.shown]
    pictures = {s.figure.key: _data_uri(s.figure.png) for s in slides if s.figure}
    extra = {"slides": slides, "slide_uri": pictures, "provenance": provenance(results)}
    return environment().get_template("slides.html.j2").render(**context(results, figures), **extra)


def context(results: Results, figures: list[ReportFigure], cards: dict | None = None) -> dict:
    """Everything the templates show, already formatted: templates hold layout, not logic."""
    for n, fig in enumerate(figures, start=1):
        fig.number = n
    by_key = {f.key: f for f in figures}
    config, lead = results.config, main_index(results)
    return {
        "title": f"{results.models.robust.name} vs {results.models.standard.name}"
        f" under {' and '.join(attack_label(a) for a in results.config.attack)}",
        "created": _date(results.created),
        # one home for the colours (rnnviz.report.figures.look): the templates set CSS custom properties from it
        "colours": {**COLOURS, "right": RIGHT, "wrong": WRONG, "ink": INK, "muted": MUTED},
        "models": [_model(results.models, m) for m in MODELS],
        "config": config,
        "classes": results.classes,
        "n_images": results.n_images,
        "eps": [eps_text(results.config, i) for i in range(len(config.eps))],
        "attack": _attack(config),
        "attack_short": attack_name(results.config),
        "attack_names": ", ".join(attack_label(a) for a in config.attack),
        **_brief(results),
        "ranking_method": method_paragraph(results),
        "warnings": _warnings(results),
        "attacks": attack_section.context(results),
        "front": attack_section.front(results),
        "figures": figures,
        "fig": by_key,
        "uri": {f.key: _data_uri(f.png, _colours(f)) for f in figures},
        "accuracy_rows": _accuracy_rows(results),
        "class_rows": _class_rows(results),
        "example_keys": [
            f"examples_{slug}" for slug in class_slugs(results.classes).values() if f"examples_{slug}" in by_key
        ],
        "sensitivity": [_sensitivity_section(results, i) for i in attacked_indices(results.config)],
        "lead": None if lead is None else _sensitivity_section(results, lead),
        "main_gallery": main_gallery_key(results),
        "lead_finding": "" if lead is None else findings.sensitivity(results, lead),
        "unranked_zero": 0 in config.eps,
        "trust": trust.context(results),
        "matching": matching_section.context(results),
        "trust_keys": [
            k
            for k in ("ranking_stability", "noise_baseline", "ranking_per_class", "ranking_convergence")
            if k in by_key
        ],
        "patching": patch_section.context(results),
        "cards": cards_section.context(results, _root(figures)) if cards is None else cards,
        "recipes": rendered_recipes(results),
        "gallery_texture": texture_sentence(results.renders),
        "diversity_keys": [f"diversity_{r}" for r in rendered_recipes(results) if f"diversity_{r}" in by_key],
        "environment": results.environment.entries(),
        # the report's own stage times land in results.json after it is written; leaving them out
        # keeps a re-render byte-identical
        "timings": {
            k.removesuffix("_s"): f"{v:.1f} s" for k, v in results.timings.items() if k not in ("report_s", "pdf_s")
        },
        "data_files": {**results.data_files.entries(), "results": "results.json"},
    }


def _brief(results: Results) -> dict:
    """The brief's sentences (pages 1 and 2) and the full ones the sections open with."""
    return {
        "summary": brief(results),
        "pointers": _pointers(results),
        "next_steps": advice(results),
        "cause_sentences": cause_sentences(results),
        "sensitivity_sentences": sensitivity_sentences(results),
        "stability_sentence": summary_text.stability_sentence(results),
        "matching_summary": matching_section.summary(results),
    }


def _pointers(results: Results) -> list[dict]:
    """Page 2 of the brief: one line each on trust and the attacks, with the section that backs it
    (page 1 states the cause)."""
    out = [{"what": "Trust", "text": findings.stability(results), "href": "trust"}]
    attacks = findings.attacks(results)
    if attacks:
        out.append({"what": "Attacks", "text": attacks, "href": "attacks"})
    return out


def _model(models: ByModel[ModelIdentity], role: str) -> dict:
    model = models.of(role)
    return {**model.model_dump(exclude_unset=True), "role": role, "sha_short": model.sha256[:12]}


def _attack(config: RunConfig) -> str:
    """Every attack of the run, primary first (the one the single-attack figures use)."""
    names = config.attack
    text = "; ".join(_one_attack(config, a) for a in names)
    return text + (f" (primary: {attack_label(names[0])})" if len(names) > 1 else "")


def _one_attack(config: RunConfig, name: str) -> str:
    pgd = config.pgd
    if name.startswith("pgd") and pgd is None:
        return f"{attack_label(name)}, {'L2' if name == 'pgd-l2' else 'L∞'}, true labels"
    if name.startswith("pgd") and pgd is not None:
        step = f"step size {pgd.step_size}" if pgd.step_size is not None else "default step size"
        start = "random start" if pgd.random_start else "no random start"
        norm = "L2" if name == "pgd-l2" else "L∞"
        return f"{attack_label(name)}, {norm}, {pgd.steps} steps, {step}, {start}, true labels"
    if name.startswith("apgd"):
        iterations, targets = APGD_VERSIONS.get(config.strong_attack, APGD_VERSIONS["fast"])
        runs = f", {targets} target classes" if name == "apgd-t" else ""
        return f"{attack_label(name)} (L∞, Auto-PGD, Croce & Hein 2020), {iterations} iterations{runs}, true labels"
    return f"{attack_label(name)} (L∞, one signed-gradient step of size ε), true labels"


def _warnings(results: Results) -> list[str]:
    """The run's warnings, then the attacks' (a collapse) where the engine did not list them already."""
    own = list(results.warnings)
    return own + [w for w in results.attacks.warnings if w not in own]


def _accuracy_rows(results: Results) -> list[dict]:
    acc = results.accuracy
    best = results.sweet_spot.best_index
    return [
        {
            "eps": lab,
            "eps_255": results.config.eps_255[i],
            "standard": pct(acc.standard[i]),
            "robust": pct(acc.robust[i]),
            "lead": f"{100 * (acc.robust[i] - acc.standard[i]):+.0f}",
            "sweet": i == best and results.config.eps[i] > 0,
        }
        for i, lab in enumerate(results.config.eps_labels)
    ]


def _class_rows(results: Results) -> list[dict]:
    per = results.accuracy_per_class
    return [
        {
            "name": c.name,
            "n": c.n_images,
            "cells": [{m: pct(per.of(m)[c.name][i]) for m in MODELS} for i in range(len(results.config.eps))],
        }
        for c in results.classes
    ]


def _sensitivity_section(results: Results, i: int) -> dict:
    """One eps: its profile figure and each model's top-k with σ, interval, noise ratio, p_top."""
    return {
        "index": i,
        "label": eps_text(results.config, i),
        "key": sensitivity_key(results.config, i),
        "tops": {m: trust.topk_rows(results, m, i) for m in MODELS},
        "confound": confound_caption(results.ranking, i),
        "gallery_keys": [gallery_key(results.config, i, r) for r in rendered_recipes(results)],
    }


def _date(created: datetime) -> str:
    return created.strftime("%Y-%m-%d %H:%M")


def _root(figures: list[ReportFigure]) -> Path | None:
    """The report folder: every figure is written as ``root/figures/<key>.png``."""
    return figures[0].png.parent.parent if figures else None


def _colours(f: ReportFigure) -> int | None:
    """Plots (they have an SVG) and the example grids embed with a palette; galleries keep every colour."""
    return PLOT_COLOURS if f.plot or f.key.startswith("examples_") else None


def _data_uri(path: Path, colours: int | None = None) -> str:
    return data_uri(path, colours=colours) or ""
