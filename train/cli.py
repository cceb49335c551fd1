"""``python -m train``: train / evaluate / predict from the command line (``--help`` for the options)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
import warnings
from pathlib import Path
from typing import Any, get_args

from demo.cli import add_demo_parser, run_demo
from engine.atomic import atomic_output, write_json
from engine.checkpoint import BEST, LAST, config_of, read_checkpoint, read_training_state, resolve_checkpoint
from engine.config import Config, KernelChoice, WindowPolicy, field_help, section_names
from engine.inference import DEFAULT_K, Query, QueryWarning
from engine.localizer import Localizer
from engine.metrics import METRIC_NAMES
from train import distributed
from video.cli import add_extract_parser, run_extract

PRESETS_DIR = Path(__file__).resolve().parent / "configs"
DEFAULT_PRESET = "synthetic"
USAGE_ERROR = 2
KERNEL_CHOICES = get_args(KernelChoice)
WINDOW_CHOICES = get_args(WindowPolicy)
REQUEST_KEYS = ("features", "query")  # required in every --requests line ("duration" optional)

DESCRIPTION = """\
Train and evaluate EAMAT / Dynamic Pathway for language-driven action localization.

With no arguments: trains EAMAT on the embedded synthetic dataset (preset 'synthetic', a few minutes on
a CPU), then prints test metrics next to two trivial baselines. The run directory (train.out_dir, or
--out) receives config.yaml / config.json, last.pt (every epoch), best.pt (best validation epoch) and
metrics.json. Multi-GPU: torchrun --nproc_per_node N -m train [options].
"""

EPILOG = """\
examples:
  python -m train                                    # synthetic EAMAT run, ~10 min on 2 CPU cores
  python -m train --config dp-charades --set data.features=/data/i3d --set data.annotations=/data/charades
  python -m train --config eamat-tacos --set optim.lr=5e-5 --out runs/tacos
  python -m train --resume runs/tacos                # continue a killed run (same result as uninterrupted)
  python -m train --eval-only runs/tacos/best.pt
  python -m train predict --ckpt runs/synthetic/best.pt --features video.npy --query "a person opens the door"
  python -m train predict --ckpt runs/synthetic --features long.npy --query "..." --plot spans.png
  python -m train predict --ckpt runs/synthetic --requests queries.jsonl --out spans.jsonl
  python -m train predict --ckpt runs/charades --video kitchen.mp4 --weights rgb_imagenet.pt --query "..."
  python -m train extract --recipe charades-i3d --weights rgb_imagenet.pt videos/ features/
  python -m train check-data --set data.dataset=custom --set data.annotations=my/annotations \\
      --set data.features=my/features
  python -m train --help-config                      # every config field, its default and meaning
"""


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))


def load_config(name_or_path: str | None) -> Config:
    """A preset name (``train/configs/<name>.yaml``) or a YAML file path; None = the default preset."""
    name_or_path = name_or_path or DEFAULT_PRESET
    if name_or_path in preset_names():
        return Config.load(PRESETS_DIR / f"{name_or_path}.yaml")
    if Path(name_or_path).is_file():
        return Config.load(name_or_path)
    raise ValueError(f"--config {name_or_path!r} is neither a preset {preset_names()} nor a YAML file")


def config_reference(cfg: Config) -> str:
    """Every config field as YAML (``section: field: value  # comment [default: x]``), for --help-config."""
    lines = ["# fields of a config file (values of the selected --config); override any with --set section.field=v"]
    lines += [f"# note: {note}" for note in cfg.advisories()]
    defaults = Config()
    for section in section_names():
        lines.append(f"{section}:")
        values, base = getattr(cfg, section), getattr(defaults, section)
        for f in dataclasses.fields(values):
            value, default = getattr(values, f.name), getattr(base, f.name)
            note = field_help(section, f.name)
            if value != default:
                note = f"{note} [default: {json.dumps(default)}]".strip()
            lines.append(f"  {f.name}: {json.dumps(value)}" + (f"  # {note}" if note else ""))
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m train", description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--config", metavar="NAME|PATH",
                        help=f"preset name {preset_names()} or a YAML file (default: {DEFAULT_PRESET}).\n"
                             "With --resume / --eval-only the checkpoint's own config is used unless given.")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.FIELD=VALUE",
                        help="override one config field (repeatable), e.g. --set model.dim=256 --set optim.lr=1e-4;\n"
                             "values are parsed as YAML; unknown fields are rejected with the valid ones")
    parser.add_argument("--out", metavar="DIR", help="run directory (sets train.out_dir)")
    parser.add_argument("--kernels", choices=KERNEL_CHOICES,
                        help="sets model.kernels: auto = fused Triton kernels on CUDA once a one-time check there\n"
                             "passed (else the reference, with one line why), PyTorch reference elsewhere;\n"
                             "triton = always the kernels (error where they cannot run); reference = never (the "
                             "fallback)")
    parser.add_argument("--resume", nargs="?", const="", metavar="RUN_DIR|CKPT",
                        help="continue a run from its last.pt (a run directory or a checkpoint file;\n"
                             "no value = the configured train.out_dir); the end result equals an uninterrupted run")
    parser.add_argument("--eval-only", metavar="CKPT",
                        help="evaluate a checkpoint (a file, or a run directory = its best.pt) on the validation\n"
                             "and test splits, with the baselines; "
                             "writes eval_metrics.json next to the checkpoint")
    parser.add_argument("--stop-after-epoch", type=int, metavar="K",
                        help="stop once epoch K is checkpointed, without the final test (for time-limited\n"
                             "job slots); continue later with --resume")
    parser.add_argument("--overwrite", action="store_true",
                        help="start a new run even if the run directory already holds one")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (per-epoch lines only)")
    parser.add_argument("--help-config", action="store_true",
                        help="print every config field with its value, default and meaning, then exit")
    parser.add_argument("--list-configs", action="store_true", help="print the preset names, then exit")

    commands = parser.add_subparsers(dest="command", metavar="{predict,check-data,demo,extract}",
                                     title="subcommands")
    predict = commands.add_parser(
        "predict", help="top-k spans for queries in videos (python -m train predict --help)",
        description="Localize a query in a video (--features, --query) or many (--requests) with a trained "
                    "checkpoint.\nOne query: prints a table and a JSON line (spans, EAMAT's per-clip Pe, DP's "
                    "pathway).\nBad input (features with NaN / Inf, not an .npy array, a foreign checkpoint): "
                    "one line on\nstderr naming the file, exit code 2, nothing written.",
        formatter_class=argparse.RawTextHelpFormatter,
    )
    predict.add_argument("--ckpt", required=True,
                         help="checkpoint file (best.pt / last.pt) or run directory (= its best.pt)")
    predict.add_argument("--features", metavar="NPY", help="the video's clip features, (T, video_dim)")
    predict.add_argument("--query", help="the sentence to localize")
    predict.add_argument("--duration", type=float,
                         help="video duration in seconds (default: clips x the checkpoint's data.clip_seconds,\n"
                              "the seconds per clip of the features it was trained on; 1 where it is unknown)")
    predict.add_argument("--video", metavar="FILE",
                         help="a video file instead of --features: its features are extracted with the checkpoint's\n"
                              "recipe (data.feature_recipe) and the backbone --weights, then localized")
    predict.add_argument("--weights", metavar="FILE",
                         help="with --video: the backbone weights file of the recipe (e.g. rgb_imagenet.pt)")
    predict.add_argument("--recipe", help="with --video: the feature recipe, for a checkpoint that does not record it")
    predict.add_argument("--requests", metavar="JSONL",
                         help='many queries: one {"features": path, "query": text, "duration": s} per line\n'
                              "(duration optional; other keys are copied to the output), run in batches;\n"
                              "a relative features path is relative to the JSONL file's folder")
    predict.add_argument("--out", dest="predictions", metavar="JSONL",
                         help="with --requests: where the ranked spans go, one line per request\n"
                              "(default: <requests>.predictions.jsonl; written only when every request succeeds)")
    predict.add_argument("--plot", metavar="PNG",
                         help="draw start / end / inside probabilities over time with the top spans\n"
                              "(EAMAT: the Pe curve; DP: the pathway in the title)")
    predict.add_argument("-k", "--topk", type=int, default=DEFAULT_K,
                         help="number of spans to return (default %(default)s, the library's)")
    predict.add_argument("--windows", choices=WINDOW_CHOICES,
                         help="videos longer than data.max_clips: sliding windows, resampling, or auto (windows\n"
                              "when longer than 2 x max_clips; the default: the checkpoint's infer.windows)")
    predict.add_argument("--overlap", type=float,
                         help="window overlap, a fraction in [0, 1) (default: the checkpoint's infer.window_overlap, "
                              "0.5 for new runs)")
    predict.add_argument("--no-consensus", dest="consensus", action="store_false", default=None,
                         help="rank a long video's spans by each window's own inner logits, not by each clip's "
                              "lowest over the windows holding it (infer.window_consensus=false)")
    predict.add_argument("--nms-iou", type=float, help="IoU threshold of the NMS merging windows' spans (default 0.5)")
    predict.add_argument("--batch-size", type=int, help="model rows per forward pass with --requests (default 32)")
    predict.add_argument("--device", help="cpu | cuda | cuda:N (default: CUDA when available)")
    predict.add_argument("--kernels", choices=KERNEL_CHOICES, help="override the checkpoint's model.kernels")
    predict.add_argument("--no-progress", dest="predict_quiet", action="store_true",
                         help="no progress bar with --requests")

    check = commands.add_parser(
        "check-data", help="read a dataset once and report what training would make of it",
        description="Read the dataset of a config once, as training would: pairs per split, dropped / clipped\n"
                    "annotations with their line numbers, missing / unreadable feature files, NaN / Inf, widths.\n"
                    "Prints a table and a JSON line; exit code 0 when training would work, 2 when it would fail.",
        formatter_class=argparse.RawTextHelpFormatter,
    )
    check.add_argument("--config", dest="check_config", metavar="NAME|PATH",
                       help=f"preset name {preset_names()} or a YAML file (default: {DEFAULT_PRESET})")
    check.add_argument("--set", dest="check_overrides", action="append", default=[], metavar="SECTION.FIELD=VALUE",
                       help="override a config field, e.g. --set data.dataset=custom --set data.annotations=DIR")
    check.add_argument("--strict", action="store_true", help="also fail when any annotation is dropped")
    check.add_argument("--json", dest="check_json", metavar="FILE", help="also write the JSON summary to FILE")
    check.add_argument("--no-progress", dest="check_quiet", action="store_true", help="no progress bar")
    add_demo_parser(commands)
    add_extract_parser(commands)
    return parser


# ---------------------------------------------------------------------------------------------- tables
def metrics_table(title: str, rows: list[tuple[str, dict[str, float]]]) -> str:
    width = max(len(name) for name, _ in rows)
    lines = [title, f"{'':<{width}}  " + "  ".join(f"{m:>7}" for m in METRIC_NAMES)]
    lines += [f"{name:<{width}}  " + "  ".join(f"{metrics[m]:7.2f}" for m in METRIC_NAMES) for name, metrics in rows]
    return "\n".join(lines)


def results_table(cfg: Config, test: dict[str, Any], baselines: dict[str, dict[str, float]], label: str) -> str:
    rows = [(label, test), (f"random span (seed {cfg.train.seed})", baselines["random"]),
            ("most frequent train span", baselines["most_frequent"])]
    table = metrics_table(f"test split, {test['num_samples']} queries: R@1 at IoU 0.3 / 0.5 / 0.7 and mIoU (%)", rows)
    for key, shares in test.items():
        if key.endswith("_usage"):
            table += f"\n{key.removesuffix('_usage')} chosen: " + ", ".join(
                f"{value} {100 * share:.1f}%" for value, share in shares.items())
    return table


def cue_lines(cues: dict[str, Any]) -> str:
    """The cue report (:meth:`train.loop.Trainer.cue_report`) as readable lines."""
    if "skipped" in cues:
        return f"cue report skipped: {cues['skipped']}"
    return ("cue report: swapping the motion word changes {:.1f}% of the test predictions, swapping the entity "
            "word {:.1f}%").format(cues["motion_swap_changed"], cues["entity_swap_changed"])


# ---------------------------------------------------------------------------------------------- commands
def _config_for(args: argparse.Namespace, ckpt: dict[str, Any] | None) -> Config:
    cfg = load_config(args.config) if (args.config or ckpt is None) else config_of(ckpt)
    cfg.apply_overrides(args.overrides)
    if args.out:
        cfg.train.out_dir = args.out
    if args.kernels:
        cfg.model.kernels = args.kernels
    return cfg.validate()  # a bad value (train.epochs=-1) is a config error before any setup


def _setup(args: argparse.Namespace) -> tuple[Config, dict[str, Any] | None]:
    """The config and the checkpoint to start from (resume / eval-only), or a usage error."""
    if args.resume is not None and args.eval_only:
        raise ValueError("--resume and --eval-only exclude each other")
    if args.eval_only:
        ckpt = read_checkpoint(resolve_checkpoint(args.eval_only, BEST))
        return _config_for(args, ckpt), ckpt
    if args.resume is not None:
        where = args.resume or (args.out or _config_for(args, None).train.out_dir)
        path = resolve_checkpoint(where)
        ckpt = read_training_state(path)
        cfg = _config_for(args, ckpt)
        if not args.out:
            cfg.train.out_dir = str(path.parent)
        return cfg, ckpt
    cfg = _config_for(args, None)
    if (Path(cfg.train.out_dir) / LAST).exists() and not args.overwrite:
        raise ValueError(f"{cfg.train.out_dir} already holds a run ({LAST}); pass --resume to continue it, "
                         "--out DIR for a new run, or --overwrite to replace it")
    return cfg, None


def run_training(args: argparse.Namespace) -> int:
    from train.loop import Trainer  # heavy imports (data, models) only when training

    try:
        cfg, ckpt = _setup(args)
    except (KeyError, TypeError, ValueError, FileNotFoundError) as err:
        return usage_error(err)
    for note in cfg.advisories():
        print(f"warning: {note}", file=sys.stderr)
    process, device = distributed.start(cfg.train.device)
    try:
        started = time.perf_counter()
        try:
            trainer = Trainer(cfg, process, device, checkpoint=ckpt, resume=args.resume is not None,
                              progress=not args.no_progress)
        except (KeyError, TypeError, ValueError, FileNotFoundError) as err:
            return usage_error(err)
        if args.eval_only:
            return report_evaluation(trainer, cfg, ckpt)
        if process.is_main:
            print(f"run directory {cfg.train.out_dir}: {cfg.model.name}, {len(trainer.splits['train'])} train / "
                  f"{len(trainer.splits['val'])} val / {len(trainer.splits['test'])} test samples, "
                  f"{cfg.train.epochs} epochs, device {device}" + (f" x{process.world_size}" if
                                                                  process.distributed else ""), flush=True)
        results = trainer.fit(args.stop_after_epoch)
        if results is None:
            if process.is_main:
                print(f"stopped after epoch {trainer.epoch}; continue with --resume {cfg.train.out_dir}")
            return 0
        if process.is_main:
            label = f"{cfg.model.name} (best {results['protocol']['selection_split']} epoch {results['best_epoch']})"
            print(results_table(cfg, results["test"], results["baselines"], label))
            print(results["protocol"]["summary"])
            print(cue_lines(results["cues"]))
            metrics_file = Path(cfg.train.out_dir) / "metrics.json"
            print(f"wall time {time.perf_counter() - started:.0f} s; metrics in {metrics_file}")
        return 0
    finally:
        distributed.stop()


def report_evaluation(trainer: Any, cfg: Config, ckpt: dict[str, Any]) -> int:
    val = trainer.evaluate("val") if len(trainer.splits["val"]) else None  # none: data.val_fraction=0
    test = trainer.evaluate("test")
    if trainer.process.is_main:
        results = {"checkpoint": ckpt["path"], "epoch": ckpt["epoch"], "val": val.summary() if val else None,
                   "test": test.summary(), "baselines": trainer.baselines(test)}
        label = f"{cfg.model.name} ({Path(ckpt['path']).name}, epoch {ckpt['epoch']})"
        if val is not None:
            print(metrics_table("validation split: R@1 at IoU 0.3 / 0.5 / 0.7 and mIoU (%)", [(label, val.metrics)]))
        print(results_table(cfg, results["test"], results["baselines"], label))
        out = Path(ckpt["path"]).parent / "eval_metrics.json"
        write_json(results, out)
        print(f"metrics in {out}")
    return 0


def run_predict(args: argparse.Namespace) -> int:
    """``predict``: one query (table + JSON on stdout, optional --plot) or --requests (JSONL file)."""
    try:
        single = _predict_mode(args)
        queries = None if single else read_requests(Path(args.requests))
        localizer = Localizer.from_checkpoint(args.ckpt, args.device, args.kernels)
        for option, key in (("windows", "windows"), ("overlap", "window_overlap"), ("nms_iou", "nms_iou"),
                            ("consensus", "window_consensus"), ("batch_size", "batch_size")):
            if getattr(args, option) is not None:
                localizer.config.set(f"infer.{key}", getattr(args, option), f"--{option.replace('_', '-')}")
        localizer.config.infer.validate()
        if single:
            return predict_one(localizer, args)
        return predict_requests(localizer, args, queries)
    except (KeyError, TypeError, ValueError, FileNotFoundError, RuntimeError, ImportError) as err:
        return usage_error(err, one_line=True)


def _predict_mode(args: argparse.Namespace) -> bool:
    """True for one query, False for --requests; a usage error for a mix or a missing part."""
    if args.requests:
        extra = [f"--{name}" for name in ("features", "query", "duration", "plot", "video")
                 if getattr(args, name) is not None]
        if extra:
            raise ValueError(f"--requests takes its features, queries and durations from the file; drop {extra}")
        return False
    if args.predictions:
        raise ValueError("--out is where --requests results go; one query prints its result")
    if args.video is not None:
        if args.features is not None or args.duration is not None:
            raise ValueError("--video gives the features and the duration; drop --features / --duration")
        if args.weights is None:
            raise ValueError("--video needs --weights FILE, the backbone weights of the checkpoint's feature recipe")
    elif args.weights is not None or args.recipe is not None:
        raise ValueError("--weights and --recipe go with --video")
    missing = [f"--{name}" for name in ("features", "query") if getattr(args, name) is None]
    if args.video is not None:
        missing.remove("--features")
    if missing:
        raise ValueError(f"predict needs --features (or --video) and --query (or --requests FILE); missing {missing}")
    return True


def predict_one(localizer: Localizer, args: argparse.Namespace) -> int:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", QueryWarning)  # the prediction carries them; printed below, once
        if args.video is not None:
            prediction, _ = localizer.localize_video(args.video, args.query, args.weights, args.topk, args.recipe)
        else:
            prediction = localizer.localize(args.features, args.query, args.duration, args.topk)
    if args.plot:
        from engine.plots import plot_prediction, thumbnail_times

        frames = None
        if args.video is not None:
            from video.decode import thumbnails

            frames = thumbnails(args.video, thumbnail_times(prediction))
        plot_prediction(prediction, args.plot, args.query, thumbnails=frames)
    for note in prediction.warnings:
        print(f"warning: {note}", file=sys.stderr)
    detail = {"whole": "", "resampled": f", resampled to {prediction.clips} clips",
              "windows": f", {prediction.windows} windows of {localizer.config.data.max_clips} clips"}[prediction.mode]
    choice = f"   {prediction.choice[0]}: {prediction.choice[1]}" if prediction.choice else ""
    print(f"query: {args.query!r}   video: {args.video or args.features} ({prediction.video_clips} clips, "
          f"{prediction.duration:g} s{detail}){choice}")
    print(f"{'rank':>4}  {'start_s':>8}  {'end_s':>8}  {'score':>7}")
    for rank, (start, end, score) in enumerate(prediction.spans, 1):
        print(f"{rank:>4}  {start:8.2f}  {end:8.2f}  {score:7.4f}")
    if args.plot:
        print(f"plot: {args.plot}")
    print(json.dumps({"query": args.query, **prediction.to_json()}))
    return 0


def read_requests(path: Path) -> list[tuple[dict[str, Any], Query]]:
    """The lines of a --requests file as (the line's object, its :class:`Query`); a bad line is an error
    naming ``file:line``.  Blank lines are skipped."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise ValueError(f"cannot read --requests file {path}: {err}") from err
    requests = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            entry = json.loads(line)
        except ValueError as err:
            raise ValueError(f"{where}: not JSON ({getattr(err, 'msg', err)})") from err
        if not isinstance(entry, dict) or any(key not in entry for key in REQUEST_KEYS):
            raise ValueError(f"{where}: expected an object with \"features\" (a .npy path) and \"query\" "
                             f"[and \"duration\" in seconds], got {line.strip()[:80]}")
        features, query, duration = entry["features"], entry["query"], entry.get("duration")
        if not isinstance(features, str) or not isinstance(query, str):
            raise ValueError(f"{where}: \"features\" and \"query\" must be strings")
        if duration is not None and (isinstance(duration, bool) or not isinstance(duration, (int, float))):
            raise ValueError(f"{where}: \"duration\" must be a number of seconds, got {duration!r}")
        if not Path(features).is_absolute():  # relative to the JSONL's own folder, as users expect
            features = str(path.parent / features)
        requests.append((entry, Query(features, query, duration, where)))
    if not requests:
        raise ValueError(f"--requests file {path} holds no requests")
    return requests


def predict_requests(localizer: Localizer, args: argparse.Namespace,
                     requests: list[tuple[dict[str, Any], Query]]) -> int:
    """Every request, batched, into a JSONL file (written whole or not at all)."""
    source = Path(args.requests)
    out = Path(args.predictions) if args.predictions else source.with_name(f"{source.stem}.predictions.jsonl")
    queries = [query for _, query in requests]
    from tqdm import tqdm

    started, warned = time.perf_counter(), 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", QueryWarning)  # printed per line below
        with atomic_output(out) as tmp, open(tmp, "w", encoding="utf-8") as sink:
            predictions = localizer.localize_many(queries, args.topk, progress=not args.predict_quiet)
            for (entry, query), prediction in zip(requests, predictions, strict=True):
                for note in prediction.warnings:
                    warned += 1
                    tqdm.write(f"warning: {query.name}: {note}", file=sys.stderr)  # above the progress bar
                sink.write(json.dumps({**entry, **prediction.to_json(curves=False)}) + "\n")
    seconds = time.perf_counter() - started
    print(f"{len(requests)} requests -> {out} ({seconds:.1f} s, {len(requests) / max(seconds, 1e-9):.1f} queries/s"
          + (f"; {warned} warning(s)" if warned else "") + ")")
    return 0


def run_check_data(args: argparse.Namespace) -> int:
    """``check-data``: the dataset report; exit 0 when training would work, 2 otherwise."""
    from engine.data.check import check_data

    try:
        cfg = load_config(args.check_config or args.config).apply_overrides(args.overrides + args.check_overrides)
        cfg.validate()
    except (KeyError, TypeError, ValueError) as err:
        return usage_error(err)
    result = check_data(cfg.data, strict=args.strict, progress=not (args.check_quiet or args.no_progress),
                        model=cfg.model.name)
    print(result.table())
    summary = json.dumps(result.to_json())
    print(summary)
    if args.check_json:
        with atomic_output(args.check_json) as tmp:
            tmp.write_text(summary + "\n")
    return 0 if result.ok else USAGE_ERROR


def usage_error(err: BaseException, one_line: bool = False) -> int:
    """Print ``err`` as ``python -m train: error: ...`` on stderr (``one_line``: its lines joined into one) and
    return the usage-error exit code."""
    message = str(err.args[0] if isinstance(err, KeyError) and err.args else err).strip()
    if one_line:
        message = " ".join(line.strip() for line in message.splitlines() if line.strip())
    print(f"python -m train: error: {message}", file=sys.stderr)
    return USAGE_ERROR


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "predict":
        return run_predict(args)
    if args.command == "check-data":
        return run_check_data(args)
    if args.command == "demo":
        return run_demo(args)
    if args.command == "extract":
        return run_extract(args)
    if args.list_configs:
        print("\n".join(preset_names()))
        return 0
    if args.help_config:
        try:
            cfg = load_config(args.config).apply_overrides(args.overrides)
        except (KeyError, TypeError, ValueError) as err:
            return usage_error(err)
        print(config_reference(cfg))
        return 0
    return run_training(args)
