"""``python -m export``: checkpoint -> verified ONNX file or TensorRT engine."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from engine.atomic import atomic_output
from engine.checkpoint import BEST, load_trained, resolve_checkpoint
from engine.config import Config
from export.graph import InferenceGraph, random_inputs
from export.onnx_export import EXAMPLE_SHAPE, OPSET, export_onnx
from export.runtime import OnnxGraph
from export.tensorrt import ShapeProfile, TensorRTUnavailable, tensorrt_module
from export.verify import ParityError, Runner, assert_parity, check_parity, fresh_seed, median_latency_ms, parity_shapes
from kernels.parity import EXPORT_FP32_ATOL as FP32_ATOL
from kernels.parity import EXPORT_REDUCED_ATOL as REDUCED_ATOL

EXIT_OK, EXIT_PARITY, EXIT_ERROR = 0, 1, 2
DEFAULT_MAX_BATCH = 32

DESCRIPTION = """\
Export a trained checkpoint's inference graph (model + start/end probabilities + best span) to ONNX, or
build a TensorRT engine from it.  Batch, query count, clip count and word count stay dynamic.  By default the
result is verified against PyTorch (eval mode) on fresh random inputs with ragged masks at several batch sizes
and lengths, and nothing is written unless every check passes."""

EPILOG = """\
variants:
  portable (default)  standard ONNX ops (opset 17): ONNX Runtime on CPU/GPU, TensorRT's ONNX parser.
  --fused             MS-LSTM recurrences and CQA attention as 'grounding' custom nodes that TensorRT runs
                      as plugins over the Triton kernels; ONNX Runtime cannot run it (--format onnx --fused
                      is written unverified; --format trt --fused verifies the engine).
outputs:
  ONNX        --out, default <checkpoint dir>/<checkpoint stem>[.fused].onnx; the config and vocabulary
              are embedded in its metadata (export.OnnxLocalizer reads them).
  TensorRT    --out, default <stem>[.fused].engine, plus <engine>.json (metadata for
              export.TensorRTLocalizer) and the ONNX file it was built from, next to it.
exit status: 0 ok, 1 parity check failed (the table says where), 2 bad input or missing dependency."""


def shape_arg(text: str) -> tuple[int, int, int]:
    """'B,T,N' -> (batch, clips, words)."""
    try:
        shape = tuple(int(part) for part in text.split(","))
    except ValueError:
        shape = ()
    if len(shape) != 3 or min(shape) < 1:
        raise argparse.ArgumentTypeError(f"expected BATCH,CLIPS,WORDS (three integers >= 1), got {text!r}")
    return shape


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m export", description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--ckpt", required=True, type=Path,
                        help="training checkpoint (RUN/best.pt), or a run directory (its best.pt)")
    parser.add_argument("--format", choices=("onnx", "trt"), default="onnx",
                        help="onnx: an ONNX file; trt: a TensorRT engine built from it (default: onnx)")
    parser.add_argument("--out", type=Path, help="output path (default: next to the checkpoint, see below)")
    parser.add_argument("--fused", action="store_true",
                        help="export the fused variant (custom MSLSTM / CQA nodes for TensorRT plugins)")
    parser.add_argument("--plugin-impl", choices=("aot", "jit"), default="aot",
                        help="fused only: the MSLSTM plugin's implementation, ahead-of-time compiled Triton "
                             "kernel (aot) or a Python callback launching it (jit) (default: aot)")
    parser.add_argument("--verify", action=argparse.BooleanOptionalAction, default=True,
                        help="check the result against PyTorch and print the parity table (default: on)")
    parser.add_argument("--seed", type=int, help="seed of the verification inputs (default: fresh each run)")
    parser.add_argument("--example", type=shape_arg, default=EXAMPLE_SHAPE, metavar="B,T,N",
                        help="batch, clips and words of the tracing example (default: {})".format(
                            ",".join(map(str, EXAMPLE_SHAPE))))
    parser.add_argument("--opset", type=int, default=OPSET, help="ONNX opset (default: %(default)s)")
    parser.add_argument("--threads", type=int, help="ONNX Runtime intra-op threads (default: its own choice)")
    trt = parser.add_argument_group("TensorRT (--format trt)", "B,T,N: batch rows, clips and words; the queries "
                                    "of a batch (the rows ask each once) range from 1 to B")
    trt.add_argument("--min-shape", type=shape_arg, metavar="B,T,N", default=(1, 1, 1),
                     help="smallest batch, clips, words the engine accepts (default: 1,1,1)")
    trt.add_argument("--opt-shape", type=shape_arg, metavar="B,T,N",
                     help="shape TensorRT tunes for (default: 1,<data.max_clips>,<data.max_words>)")
    trt.add_argument("--max-shape", type=shape_arg, metavar="B,T,N",
                     help=f"largest accepted shape (default: {DEFAULT_MAX_BATCH},<data.max_clips>,<data.max_words>)")
    precision = trt.add_mutually_exclusive_group()
    precision.add_argument("--fp16", action="store_true", help="allow FP16 kernels (parity bound 1e-2)")
    precision.add_argument("--bf16", action="store_true", help="allow BF16 kernels (parity bound 1e-2)")
    trt.add_argument("--tf32", action="store_true", help="allow TF32 for fp32 layers (off by default)")
    trt.add_argument("--timing-cache", type=Path, help="TensorRT timing cache file, read if present and updated")
    trt.add_argument("--workspace-gib", type=float, help="TensorRT workspace limit in GiB (default: TensorRT's)")
    return parser


def default_output(ckpt: Path, fmt: str, fused: bool) -> Path:
    ckpt = resolve_checkpoint(ckpt, BEST)
    return ckpt.with_name(ckpt.stem + (".fused" if fused else "") + (".onnx" if fmt == "onnx" else ".engine"))


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        run(args)
    except ParityError as err:
        print(f"{err}\nexport: parity check FAILED, nothing written", file=sys.stderr)
        return EXIT_PARITY
    except (OSError, ValueError, KeyError, RuntimeError, TensorRTUnavailable) as err:
        print(f"export: error: {err}", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK


def run(args: argparse.Namespace) -> None:
    if args.format == "trt":
        tensorrt_module()  # fail before the export when TensorRT or the GPU is missing
    model, config, vocab = load_trained(args.ckpt)
    variant = "fused" if args.fused else "portable"
    out = args.out or default_output(args.ckpt, args.format, args.fused)
    onnx_path = out if args.format == "onnx" else out.with_suffix(".onnx")
    seed = fresh_seed() if args.seed is None else args.seed
    shapes = parity_shapes(args.example, config.data.max_clips, config.data.max_words)
    print(f"export: {config.model.name} ({args.ckpt}) -> {variant} {args.format}")
    with atomic_output(onnx_path) as tmp:
        start = time.perf_counter()
        export_onnx(model, config, vocab.itos, tmp, variant=variant, plugin_impl=args.plugin_impl, opset=args.opset,
                    example=args.example)
        print(f"ONNX export: {time.perf_counter() - start:.1f} s")
        if args.verify and variant == "portable":
            verify_onnx(model, config, tmp, shapes, seed, args.threads)
        elif args.verify:
            print("the fused ONNX graph is not run here (ONNX Runtime has no MSLSTM / CQA kernels)")
    print(f"wrote {onnx_path}")
    if args.format == "trt":
        build_and_verify_engine(args, model, config, onnx_path, out, shapes, seed)


def verify_onnx(
    model: nn.Module, config: Config, onnx_path: Path, shapes: list[tuple[int, int, int]], seed: int,
    threads: int | None,
) -> None:
    graph = OnnxGraph(onnx_path, threads=threads)
    verify(model, config, graph, shapes, seed, FP32_ATOL, None, "ONNX Runtime (CPU)")


def build_and_verify_engine(
    args: argparse.Namespace, model: nn.Module, config: Config, onnx_path: Path, out: Path,
    shapes: list[tuple[int, int, int]], seed: int,
) -> None:
    from export.tensorrt import TensorRTRunner, build_engine, save_engine

    limits = (config.data.max_clips, config.data.max_words)
    opt, largest = args.opt_shape or (1, *limits), args.max_shape or (DEFAULT_MAX_BATCH, *limits)
    profile = ShapeProfile(args.min_shape, opt, largest)
    precision = "fp16" if args.fp16 else "bf16" if args.bf16 else "fp32"
    start = time.perf_counter()
    engine, metadata = build_engine(onnx_path, profile, precision=precision, tf32=args.tf32,
                                    timing_cache=args.timing_cache, workspace_gib=args.workspace_gib)
    print(f"TensorRT build ({precision}, profile {profile.min} / {profile.opt} / {profile.max}): "
          f"{time.perf_counter() - start:.1f} s")
    if args.verify:
        runner = TensorRTRunner(engine, metadata)
        atol, tie = (FP32_ATOL, None) if precision == "fp32" and not args.tf32 else (REDUCED_ATOL, REDUCED_ATOL)
        in_profile = list(dict.fromkeys(profile.clamp(shape) for shape in shapes))
        verify(model, config, runner, in_profile, seed, atol, tie, f"TensorRT ({precision})", opt, runner.device)
    save_engine(engine, metadata, out)
    print(f"wrote {out} (+ {out.name}.json)")


def verify(
    model: nn.Module, config: Config, run: Runner, shapes: list[tuple[int, int, int]], seed: int, atol: float,
    tie_atol: float | None, runtime: str, latency_shape: tuple[int, int, int] | None = None,
    device: str | torch.device = "cpu",
) -> None:
    """Print the parity table (raise :class:`ParityError` on failure) and the runtime's median latency
    (inputs already on ``device``)."""
    graph = InferenceGraph(model)
    rows = check_parity(graph, run, config.model, shapes, seed, tie_atol)
    print(assert_parity(rows, atol, f"parity vs PyTorch eval, {runtime}, seed {seed}, atol {atol:g}:"))
    batch, clips, words = latency_shape or (1, config.data.max_clips, config.data.max_words)
    inputs = random_inputs(config.model, batch, clips, words, torch.Generator().manual_seed(seed))
    inputs = {name: tensor.to(device) for name, tensor in inputs.items()}
    print(f"{runtime} latency (batch {batch}, T {clips}, N {words}): {median_latency_ms(run, inputs):.2f} ms median")
