"""Bad input: corrupted / mismatched checkpoints, bad options, a parity failure -- clear errors, no output."""

from __future__ import annotations

import argparse

import numpy as np
import pytest
import torch

from engine.checkpoint import load_trained
from export.cli import EXIT_ERROR, build_parser, main
from export.graph import InferenceGraph
from export.runtime import OnnxGraph, OnnxLocalizer
from export.verify import ParityError, assert_parity, check_parity
from kernels.parity import EXPORT_FP32_ATOL
from tests.export.conftest import Exported
from tests.export.tiny import write_checkpoint

PARITY_SHAPES = [(2, 5, 3), (3, 11, 4)]
PERTURBATION = 10 * EXPORT_FP32_ATOL


def run_cli(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str]:
    code = main(list(args))
    return code, capsys.readouterr().err


def test_corrupted_checkpoint_gives_a_clear_error_and_no_output(tmp_path, capsys):
    checkpoint = write_checkpoint(tmp_path / "best.pt", "eamat")
    data = checkpoint.read_bytes()
    checkpoint.write_bytes(data[: len(data) // 2])  # truncated, as by an interrupted copy
    out = tmp_path / "model.onnx"
    code, err = run_cli(capsys, "--ckpt", str(checkpoint), "--out", str(out))
    assert code == EXIT_ERROR
    assert "cannot read checkpoint" in err and str(checkpoint) in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.pt"]


def test_checkpoint_that_does_not_fit_its_config_is_refused(tmp_path, capsys):
    checkpoint = write_checkpoint(tmp_path / "best.pt", "eamat")
    payload = torch.load(checkpoint, weights_only=True)
    payload["config"]["model"]["dim"] = 48  # weights of a d = 32 model
    torch.save(payload, checkpoint)
    code, err = run_cli(capsys, "--ckpt", str(checkpoint), "--out", str(tmp_path / "model.onnx"))
    assert code == EXIT_ERROR and "does not fit" in err and "shape mismatch" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.pt"]


def test_missing_checkpoint_and_foreign_file(tmp_path, capsys):
    code, err = run_cli(capsys, "--ckpt", str(tmp_path / "nope.pt"))
    assert code == EXIT_ERROR and "nope.pt" in err and "does not exist" in err
    foreign = tmp_path / "weights.pt"
    torch.save({"state_dict": {}}, foreign)
    code, err = run_cli(capsys, "--ckpt", str(foreign))
    assert code == EXIT_ERROR and "not a grounding-engine checkpoint" in err


def test_malformed_shape_option_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--ckpt", "x.pt", "--example", "2,0,3"])
    assert exit_info.value.code == 2 and "BATCH,CLIPS,WORDS" in capsys.readouterr().err


def test_help_explains_every_option(capsys):
    parser = build_parser()
    with pytest.raises(SystemExit):
        parser.parse_args(["--help"])
    text = capsys.readouterr().out
    options = [a for a in parser._actions if not isinstance(a, argparse._HelpAction)]
    for action in options:
        assert action.help and all(flag in text for flag in action.option_strings), action.option_strings
    assert "exit status" in text and "--no-verify" in text


def test_parity_check_catches_a_wrong_runtime(exported: Exported):
    """The checker itself: perturbed probabilities, moved spans and NaN must all fail."""
    model, config, _ = load_trained(exported.checkpoint)
    graph, onnx_graph = InferenceGraph(model), OnnxGraph(exported.onnx)

    def perturbed(inputs):
        out = onnx_graph(inputs)
        out["end_prob"] = out["end_prob"] + PERTURBATION
        return out

    def moved_span(inputs):
        out = onnx_graph(inputs)
        out["start_idx"] = np.zeros_like(out["start_idx"])
        out["end_idx"] = out["end_idx"] + 1
        return out

    def nan(inputs):
        out = onnx_graph(inputs)
        out["start_prob"] = np.full_like(out["start_prob"], np.nan)
        return out

    assert_parity(check_parity(graph, onnx_graph, config.model, PARITY_SHAPES, seed=1), EXPORT_FP32_ATOL, "ok")
    for wrong in (perturbed, moved_span, nan):
        with pytest.raises(ParityError, match="PARITY FAILED"):
            rows = check_parity(graph, wrong, config.model, PARITY_SHAPES, seed=1)
            assert_parity(rows, EXPORT_FP32_ATOL, wrong.__name__)


def test_onnx_localizer_refuses_what_it_cannot_run(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.onnx"):
        OnnxLocalizer(tmp_path / "missing.onnx")
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"not a protobuf at all")
    with pytest.raises(ValueError, match="garbage.onnx"):
        OnnxLocalizer(garbage)
