"""python -m compile_report end to end, offline on this machine: the launchers' own settings compiled for sm_90 into
Triton's cache (--warm), the settings fitted to sm_86's smaller block, the deadline, bad arguments.

The compiles run in the tool's worker processes, which compile the real kernels whatever TRITON_INTERPRET the
test session has."""

import json
from pathlib import Path

import pytest

from compile_report.__main__ import main

CQA_KERNELS = ("scores", "column", "rows", "bwd_column", "bwd_rows", "bwd_query")
MAX_REGISTERS = 255  # per thread, ptxas's cap
SM86_SHARED = 99 * 1024


def _rows(out: Path) -> list[dict]:
    return json.loads((out / "report.json").read_text())["kernels"]


def test_warm_compiles_the_cqa_launchers_settings_for_sm90_into_tritons_cache(tmp_path, monkeypatch) -> None:
    from kernels.cqa.kernel import NUM_STAGES, NUM_WARPS

    monkeypatch.setenv("TRITON_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "report"
    assert main(["--warm", "--sources", "cqa", "--dtypes", "bf16", "--out", str(out)]) == 0
    rows = _rows(out)
    assert [r["kernel"] for r in rows] == [f"cqa {name}" for name in CQA_KERNELS]
    for row, name in zip(rows, CQA_KERNELS, strict=True):
        assert (row["arch"], row["dtype"], row["error"]) == ("sm_90", "bf16", ""), row
        assert (row["num_warps"], row["num_stages"]) == (NUM_WARPS[name], NUM_STAGES), row
        assert 0 < row["registers"] <= MAX_REGISTERS and row["stack"] == 0, row
        assert 0 < row["shared"] <= row["shared_limit"], row
    cubins = {path.stem for path in (tmp_path / "cache").rglob("*.cubin")}
    assert cubins == {f"_{name}_kernel" for name in CQA_KERNELS}
    assert "| sm_90 | cqa bwd_rows | bf16 |" in (out / "report.md").read_text()


def test_ms_lstm_launchers_fit_sm86s_99_kib_block_with_fewer_stages(tmp_path) -> None:
    from kernels.ms_lstm.kernel import _recurrent_config

    assert main(["--arch", "sm_86", "--sources", "ms_lstm", "--dtypes", "fp32", "--out", str(tmp_path)]) == 0
    rows = {r["kernel"]: r for r in _rows(tmp_path)}
    assert len(rows) == 5 and all(r["shared"] <= SM86_SHARED == r["shared_limit"] for r in rows.values()), rows
    preferred = _recurrent_config(256)["num_stages"]
    assert rows["ms_lstm forward (train)"]["num_stages"] < preferred  # device_fit dropped a stage to fit
    assert rows["ms_lstm backward"]["num_stages"] == preferred


def test_what_misses_the_deadline_is_reported_and_fails_the_run(tmp_path) -> None:
    assert main(["--sources", "cqa", "--dtypes", "bf16", "--deadline", "0.01", "--out", str(tmp_path)]) == 1
    (row,) = _rows(tmp_path)
    assert (row["kernel"], row["dtype"]) == ("cqa", "bf16") and "deadline" in row["error"]


@pytest.mark.parametrize("argv", [["--arch", "sm_99"], ["--sources", "cqa,nope"], ["--dtypes", "fp8"],
                                  ["--jobs", "0"], ["--deadline", "-1"]])
def test_bad_arguments_exit_2(argv: list[str], capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and argv[0] in err and argv[-1].split(",")[-1] in err
