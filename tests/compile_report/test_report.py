"""compile_report.report: which rows fail a run, and the summary and table rendered from the rows."""

from compile_report.compiled import REGISTERS_PER_SM, WARP, Row
from compile_report.report import failures, markdown

LIMIT = 99 * 1024  # bytes of shared memory per block on sm_86
SM90_LIMIT = 227 * 1024
META = {"archs": ["sm_86", "sm_90"], "where": "offline", "command": "python -m compile_report", "timestamp": "t",
        "git_commit": "c", "triton": "3", "torch": "2", "seconds": 1.0, "cache": "empty at start",
        "ms_lstm_shapes": {}, "cqa_shapes": {}, "v2_device": "d", "notes": []}


def _row(kernel: str, shared: int, registers: int = 64, warps: int = 4, arch: str = "sm_86", candidate: bool = False,
         stages: int = 2, error: str = "") -> Row:
    return Row(arch, kernel, "fp32", LIMIT, candidate, warps, stages, registers, 0, shared, 0.5, error)


def test_a_run_fails_on_what_its_launchers_use_not_on_a_candidate_they_reject() -> None:
    fits = _row("fits", LIMIT)
    too_much_shared = _row("shared", LIMIT + 1)
    too_many_registers = _row("registers", 0, registers=REGISTERS_PER_SM // (WARP * 8) + 1, warps=8)
    rejected_candidate = _row("candidate", LIMIT + 1, candidate=True)
    broken_candidate = _row("broken", 0, candidate=True, error="CompilationError: x")
    rows = [fits, too_much_shared, too_many_registers, rejected_candidate, broken_candidate]
    assert failures(rows) == [too_much_shared, too_many_registers, broken_candidate]
    assert fits.problem() == "" and "shared memory" in too_much_shared.problem()
    assert "registers per program" in too_many_registers.problem()


def test_markdown_summarises_each_architecture_and_lists_every_row() -> None:
    rows = [_row("k", 64 * 1024, stages=2), _row("k", 128 * 1024, arch="sm_90", stages=3),
            _row("big", LIMIT + 1024), _row("cand G=4", LIMIT + 2048, candidate=True)]
    rows[1].shared_limit = SM90_LIMIT
    text = markdown(rows, META)
    assert "- **sm_86** (99.0 KiB per block): 3 kernels; **1 failed**: big fp32: shared memory" in text
    assert "fewer stages than elsewhere: k fp32 (2)." in text
    assert "- **sm_90** (227.0 KiB per block): 1 kernels; every one compiles and fits" in text
    assert "| sm_90 | k | fp32 | 4 | 3 | 64 | 8192 | 0 | 128.0 | 227.0 | 0.5 | yes |" in text
    assert "(rejected there) |" in text.splitlines()[-1]
    assert len([line for line in text.splitlines() if line.startswith("| sm_")]) == len(rows)
