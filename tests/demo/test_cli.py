"""``python -m train demo``: serves the page until interrupted; bad options are one line on stderr, exit code 2."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.demo.conftest import TIMEOUT_S, request
from train.cli import main

ROOT = Path(__file__).resolve().parents[2]
USAGE_ERROR = 2


@pytest.mark.parametrize(("extra", "message"), [
    (["--ckpt", "no/such/run"], "no/such/run"),
    (["--weights", "no/such/weights.pt"], "--weights no/such/weights.pt: no such file"),
    (["--cache-videos", "0"], "--cache-videos must be >= 1"),
])
def test_bad_options_exit_2_with_one_line(tiny_run: Path, capsys, extra: list[str], message: str):
    args = ["demo", "--ckpt", str(tiny_run), "--port", "0", *extra]
    assert main(args) == USAGE_ERROR
    err = capsys.readouterr().err.strip()
    assert err.startswith("python -m train demo: error:") and message in err and "\n" not in err


def test_a_port_in_use_is_a_usage_error(tiny_run: Path, capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["demo", "--ckpt", str(tiny_run), "--port", str(port)]) == USAGE_ERROR
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err


def interruptible() -> None:
    """In the child: SIGINT at its default, so that Python turns it into KeyboardInterrupt even when the test
    runs in a background job of a non-interactive shell (which starts its children with SIGINT ignored)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_the_command_serves_the_page_until_interrupted(tiny_run: Path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen([sys.executable, "-m", "train", "demo", "--ckpt", str(tiny_run), "--port", "0"],
                               cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=interruptible)
    timer = threading.Timer(TIMEOUT_S, process.kill)  # a hung start fails the test instead of the suite
    timer.start()
    try:
        line = process.stdout.readline()
        timer.cancel()
        assert " at http://127.0.0.1:" in line, (line, process.stderr.read() if process.poll() is not None else "")
        url = line.split(" at ")[1].split()[0]
        status, _, body = request(f"{url}api/info")
        assert status == 200 and json.loads(body)["checkpoint"] == str(tiny_run)
    finally:
        timer.cancel()
        process.send_signal(signal.SIGINT)
        try:
            out, err = process.communicate(timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            out, err = process.communicate()
    assert process.returncode == 0 and "stopped" in err, err
