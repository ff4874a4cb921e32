"""``rnnviz-report``: the command line, a thin layer over ``rnnviz.pipeline.job``.

Settings merge as defaults < preset < ``--config FILE.toml`` < flags. Bad input
ends in one line naming the problem and the fix and a nonzero exit; ``--debug``
shows the traceback instead.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path

from rnnviz.common.console import error_line, fault_line, one_line_logging, one_line_warnings, reopen_closed_streams
from rnnviz.common.errors import UsageError
from rnnviz.common.names import APGD_VERSIONS, ATTACKS, EXEMPLAR_POOLS, QUALITIES, RANK_BY, STRONG_VERSIONS
from rnnviz.common.signals import Terminated, terminated_as_interrupt
from rnnviz.data.sources import check_sources
from rnnviz.results.ladder import LADDER_FILE, is_ladder
from rnnviz.settings.config import build_config, load_toml
from rnnviz.settings.defaults import with_defaults
from rnnviz.settings.presets import PRESETS
from rnnviz.sweep.distributed import PeerFailure, is_main_process, session

EXIT_USAGE, EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_TERMINATED = 2, 1, 130, 143
DESCRIPTION = "Attack a robust and a standard classifier, find the channels most sensitive to the perturbation, \
render them, and write an HTML + PDF report."
EXAMPLES = """examples:
  rnnviz-report --preset fashion --classes sneaker,bag --eps 0,0.05,0.1,0.2     (offline)
  rnnviz-report --classes flamingo --eps 0,0.01,0.1 --data /data/imagenet/val --trust-pickle
  rnnviz-report --from reports/2026-11-25-fashion-sneaker-bag                   (re-render)"""


class _OneLineParser(argparse.ArgumentParser):
    """argparse's errors, but as one line (no usage dump)."""

    def error(self, message):
        raise UsageError(f"{message} (see rnnviz-report --help)")


def build_parser() -> argparse.ArgumentParser:
    p = _OneLineParser(
        prog="rnnviz-report",
        description=DESCRIPTION,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        argument_default=None,
    )
    _what_flags(p.add_argument_group("what to analyse"))
    _model_flags(p.add_argument_group("models and data"))
    _running_flags(p.add_argument_group("running"))
    out = p.add_argument_group("report")
    out.add_argument("--no-pdf", dest="pdf", action="store_false", default=None, help="HTML only")
    skip = "measure only: results.json, data/ and renders (render later with --from, e.g. off a GPU node)"
    out.add_argument("--no-report", dest="report", action="store_false", default=None, help=skip)
    out.add_argument("--slides", action="store_true", default=None, help="also write slides.pdf (16:9)")
    out.add_argument("--from", dest="from_dir", help="re-render the report of an existing results folder")
    out.add_argument("--max-embed-mb", type=float, help="MB a report may read and embed (default 300)")
    p.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return with_defaults(p)  # every setting's "(default ...)" is read from Config


def _what_flags(what: argparse._ArgumentGroup) -> None:
    """The measurement: classes, eps, attacks, ranking, patching, cards."""
    what.add_argument("--preset", choices=sorted(PRESETS), help="model pair and data defaults")
    what.add_argument("--classes", help="comma-separated class names, synset ids or indices, e.g. flamingo")
    what.add_argument("--eps", help="comma-separated epsilons in [0,1] pixel units, e.g. 0,0.01,4/255")
    what.add_argument(
        "--attack",
        help=f"comma-separated attacks from {', '.join(ATTACKS)}; the strongest drives ranking, "
        "patching and galleries; pgd-l2 reads --eps as L2 radii",
    )
    what.add_argument(
        "--primary-attack",
        dest="primary",
        help="the attack that drives ranking, patching and galleries (default: the one that leaves the robust "
        "model least accurate at the largest eps)",
    )
    what.add_argument(
        "--train-eps",
        help="the robust model's training eps (in the first attack's unit), marked on plots; with --models one per "
        "model, e.g. 0,0.05,0.1",
    )
    what.add_argument(
        "--no-transfer",
        dest="transfer",
        action="store_false",
        default=None,
        help="skip evaluating each model on the other's adversarial images",
    )
    _attack_flags(what)
    what.add_argument("--top-k", type=int, help="most sensitive channels per model and eps")
    what.add_argument("--n-images", type=int, help="images per class")
    what.add_argument("--n-examples", type=int, help="example images per class in the report")
    what.add_argument("--layers", help="comma-separated module paths (default: stem and every residual block)")
    what.add_argument("--bootstrap", type=int, help="bootstrap resamples for intervals; 0: none")
    what.add_argument(
        "--rank-by",
        choices=RANK_BY,
        help="rank channels by zscore (sigma minus the matched-noise sigma, standardised within each layer), "
        "relative-excess (excess over the clean mean |F|), excess, relative sigma or sigma",
    )
    what.add_argument("--patch", help="activation patching: channel counts k, or none")
    what.add_argument(
        "--patch-draws",
        type=int,
        help="draws per k of each patching control (random and similar-|F|); verdicts read their 5-95%% range",
    )
    what.add_argument("--patch-share", type=float, help="share of the images patched; 1: all")
    what.add_argument("--exemplars", type=int, help="real images per channel card; 0: no cards")
    what.add_argument(
        "--exemplar-pool",
        choices=EXEMPLAR_POOLS,
        help="where a card's real images come from: all (every class of the source, at most "
        "--n-images images per class, seen by a clean forward pass only, each labelled with its class) "
        "or chosen (the --classes images alone)",
    )
    what.add_argument("--neurons", help="channels to map per spatial position, e.g. layer4.0:17,layer3.0:5")


def _attack_flags(what: argparse._ArgumentGroup) -> None:
    """How hard the models are attacked: the strong evaluation, the FGSM grid, PGD's steps."""
    what.add_argument(
        "--strong-attack",
        choices=STRONG_VERSIONS,
        help="APGD-CE then APGD-T on the images every attack left right, for the strongest accuracy measured: "
        "fast ({} iterations, {} target class), standard (AutoAttack's: {}, {}) or off".format(
            *APGD_VERSIONS["fast"], *APGD_VERSIONS["standard"]
        ),
    )
    what.add_argument("--fgsm-grid", type=int, help="FGSM accuracy on this many eps up to the largest; 0: off")
    what.add_argument("--pgd-steps", type=int, help="PGD iterations")
    what.add_argument("--pgd-step-size", type=float, help="PGD step size (default 2.5*eps/steps)")


def _model_flags(models: argparse._ArgumentGroup) -> None:
    """The model pair and the images."""
    models.add_argument("--standard", help="standard model spec: torchvision:resnet50, a file, a URL, builtin:NAME")
    models.add_argument("--robust", help="robust model spec (same kinds)")
    models.add_argument(
        "--models",
        help="a ladder SPEC,SPEC,... (two or more, any order): each model compared with the least robust one, "
        "every measure against training eps (--train-eps, or the preset's)",
    )
    models.add_argument(
        "--replicate",
        help="further pairs STANDARD,ROBUST[,STANDARD,ROBUST...] (e.g. another training seed) measured on the "
        "same images and compared with the run's pair: ratio per pair, matched top-k overlap",
    )
    models.add_argument(
        "--arch",
        help="architecture of checkpoint files: any torchvision classifier name (resnet50, vgg16_bn, "
        "densenet161, mobilenet_v2, vit_b_16, ...) or wide_resnet50_4 (default: inferred from the keys)",
    )
    models.add_argument(
        "--trust-pickle",
        action="store_true",
        default=None,
        help="allow full-pickle checkpoints (they can run code; recorded in the report); or RNNVIZ_TRUST_PICKLE=1",
    )
    models.add_argument("--data", help="image folder (synset or class-name folders, or labels.csv)")
    models.add_argument("--label", help="label for every image in a flat --data folder of your own photos")


def _running_flags(run: argparse._ArgumentGroup) -> None:
    """Where and how the run goes: output, device, seed, batches, renders."""
    run.add_argument("--out", help="report folder (default reports/<date>-<slug>/, never overwritten)")
    run.add_argument("--device", help="cpu, cuda or cuda:N")
    run.add_argument("--seed", type=int, help="seed for sampling, attacks and renders")
    run.add_argument("--batch-size", type=int, help="images per forward pass")
    run.add_argument(
        "--workers", type=int, help="processes decoding images ahead of the attack; 0: in the run's process"
    )
    run.add_argument("--quality", choices=QUALITIES, help="feature-visualization quality; none skips rendering")
    run.add_argument("--recipes", help="comma-separated render recipes: lucid, raw, accent (from a real image)")
    run.add_argument("--diversity", type=int, help="extra distinct renders per channel")
    run.add_argument("--config", help="TOML file of settings (keys as the flags, e.g. top_k = 5)")


RUN_ONLY = {"config", "from_dir", "debug", "quiet", "max_embed_mb", "report"}
FROM_FLAGS = {"pdf", "slides"}  # what --from can honour besides --debug and --quiet


def settings_from(args: argparse.Namespace) -> dict:
    """defaults < config file < flags (flags left unset are None and do not override)."""
    settings = load_toml(args.config) if args.config else {}
    settings.update({k: v for k, v in vars(args).items() if k not in RUN_ONLY and v is not None})
    if os.environ.get("RNNVIZ_TRUST_PICKLE") == "1":  # set on purpose, as the flag is; never by a config file
        settings["trust_pickle"] = True
    return settings


def _check_from_flags(args: argparse.Namespace) -> None:
    """--from re-renders what a folder holds; a flag that would change the analysis is refused."""
    ignored = [k for k, v in vars(args).items() if v is not None and k not in RUN_ONLY | FROM_FLAGS] + (
        ["config"] if args.config else []
    )
    if ignored:
        flags = ", ".join("--" + k.replace("_", "-") for k in ignored)
        raise UsageError(
            f"--from re-renders an existing folder and cannot apply {flags}; run a new analysis for other settings"
        )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    debug, quiet = "--debug" in argv, "--quiet" in argv
    reopen_closed_streams()
    one_line_logging(debug, quiet)
    with warnings.catch_warnings(), terminated_as_interrupt():
        one_line_warnings(quiet)
        try:
            return _main(build_parser().parse_args(argv))
        except PeerFailure as err:  # torchrun: the failing rank printed the one line
            return EXIT_USAGE if err.usage else EXIT_FAILURE
        except UsageError as err:
            if debug:
                raise
            error_line(str(err))
            return EXIT_USAGE
        except KeyboardInterrupt as err:
            what = "terminated (SIGTERM)" if isinstance(err, Terminated) else "interrupted"
            if is_main_process():  # torchrun: every rank is interrupted; one line per job
                error_line(
                    f"{what}; finished stages are kept (results.json, cached renders): rerun the same "
                    "command to resume",
                    prefix="\n" if sys.stderr.isatty() and not isinstance(err, Terminated) else "",
                )
            return EXIT_TERMINATED if isinstance(err, Terminated) else EXIT_INTERRUPTED
        except BrokenPipeError:  # `rnnviz-report ... | head`: the reader left; nothing to say
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
        except OSError as err:
            if debug:
                raise
            where = f" writing {err.filename}" if err.filename else ""
            error_line(
                f"{err.strerror or err}{where}; free space or permissions there, or choose another --out / RNNVIZ_CACHE"
            )
            return EXIT_FAILURE
        except Exception as err:  # a bug or an environment fault: still one line unless --debug
            if debug:
                raise
            error_line(fault_line(err))
            return EXIT_FAILURE


def _main(args: argparse.Namespace) -> int:
    from rnnviz.report import render_report

    progress = not args.quiet
    if args.from_dir:  # no torch import on this path: a re-render takes seconds
        if not is_main_process():  # torchrun: one rank re-renders
            return 0
        _check_from_flags(args)
        if args.report is False:
            raise UsageError("--from renders a report and --no-report skips it: drop one of them")
        if is_ladder(Path(args.from_dir)):
            from rnnviz.report.ladder import render_ladder

            files = render_ladder(
                Path(args.from_dir), pdf=args.pdf is not False, progress=progress, max_embed_mb=args.max_embed_mb
            )
            return _print_files(Path(args.from_dir), files)
        files = render_report(
            Path(args.from_dir),
            pdf=args.pdf is not False,
            slides=bool(args.slides),
            progress=progress,
            max_embed_mb=args.max_embed_mb,
        )
        return _print_files(Path(args.from_dir), files)
    with session() as ctx:  # torchrun: every rank runs the job (rnnviz.sweep.distributed); else one process
        cfg = ctx.stage("reading the settings", lambda: _checked_config(args))
        if cfg.models:
            from rnnviz.pipeline.ladder import run_ladder as run
        else:
            from rnnviz.pipeline.job import run

        out = run(cfg, progress=progress, dist=ctx)
    if not ctx.is_main:  # rank 0 writes the report
        return 0
    if cfg.models:
        return _ladder_report(out, cfg, args, progress)
    if args.report is False:
        _print_summary(out, args.max_embed_mb)
        print(f"results: {out / 'results.json'}  (report: rnnviz-report --from {out})")
        return 0
    files = render_report(out, pdf=cfg.pdf, slides=cfg.slides, progress=progress, max_embed_mb=args.max_embed_mb)
    _print_summary(out, args.max_embed_mb)
    return _print_files(out, files)


def _ladder_report(out: Path, cfg, args: argparse.Namespace, progress: bool) -> int:
    """A ladder's own report (ladder.html/pdf), after each pair's report unless --no-report."""
    from rnnviz.report.ladder import render_ladder

    if args.report is False:
        print(f"results: {out / LADDER_FILE}  (report: rnnviz-report --from {out})")
        return 0
    files = render_ladder(out, pdf=cfg.pdf, progress=progress, max_embed_mb=args.max_embed_mb)
    return _print_files(out, files)


def _checked_config(args: argparse.Namespace):
    cfg = build_config(settings_from(args))
    check_sources(cfg)  # before importing torch: a missing folder or file is reported in a second
    return cfg


def _print_summary(out: Path, max_embed_mb: float | None) -> None:
    from rnnviz.report import load_results

    r = load_results(out, max_embed_mb)
    labels = r.config.eps_labels
    print(f"{'eps':>8}  {'standard':>9}  {'robust':>9}")
    for i, label in enumerate(labels):
        print(f"{label:>8}  {r.accuracy.standard[i]:>9.1%}  {r.accuracy.robust[i]:>9.1%}")
    from rnnviz.report.text.summary import caveats

    for note in [*r.warnings, *caveats(r)]:
        print(f"note: {note}")


def _print_files(out: Path, files) -> int:
    """The final line names the report files; a failed PDF is an error, the HTML is still there."""
    written = [files.html] + [f for f in (files.pdf, files.slides) if f]
    data = out / (LADDER_FILE if is_ladder(out) else "results.json")
    print(f"report: {', '.join(str(f) for f in written)}  (results: {data})")
    if files.pdf_error:
        print(
            f"rnnviz-report: error: PDF not written ({files.pdf_error}); report.html and results.json "
            f"are complete in {out}",
            file=sys.stderr,
        )
        return EXIT_FAILURE
    return 0


if __name__ == "__main__":
    sys.exit(main())
