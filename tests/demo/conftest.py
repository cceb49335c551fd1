"""A demo server on a free loopback port over the tiny trained checkpoint (``tiny_run``), and a small JSON client."""

from __future__ import annotations

import importlib.util
import io
import json
import os
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from demo.app import DemoApp
from demo.server import DemoServer
from engine.localizer import Localizer

MAX_UPLOAD_BYTES = 1 << 20  # the test servers' upload limit
TIMEOUT_S = 30  # per HTTP request
VIDEO_RECIPE = "charades-i3d"  # video uploads: I3D, 24-frame windows at 24 fps, 1024-d
VIDEO_FPS, VIDEO_FRAMES, VIDEO_SIZE = 24, 30, (240, 320)  # one I3D window (+ the frame after it): 2 clips
I3D_CLASSES = 400
VIDEO_INSTALL = "video uploads need PyAV: pip install -e '.[demo]'"
CKPT_ENV = "DEMO_CKPT"  # a synthetic run to serve instead of the tiny one (the README's screenshot: the default run)


def serve(app: DemoApp, max_upload_bytes: int = MAX_UPLOAD_BYTES) -> tuple[DemoServer, threading.Thread]:
    """``app`` served on 127.0.0.1 at a free port, from a background thread (stop with :func:`stop`)."""
    server = DemoServer(app, "127.0.0.1", 0, max_upload_bytes)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread


def stop(server: DemoServer, thread: threading.Thread) -> None:
    server.shutdown()
    server.server_close()
    thread.join(TIMEOUT_S)


@pytest.fixture(scope="session")
def demo_app(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> DemoApp:
    """The demo's app for the tiny synthetic EAMAT run, or the run ``$DEMO_CKPT`` names (built-in videos, features
    upload; no video weights)."""
    run = os.environ.get(CKPT_ENV) or request.getfixturevalue("tiny_run")
    return DemoApp.from_checkpoint(Path(run), tmp_path_factory.mktemp("demo-media"), device="cpu")


@pytest.fixture(scope="session")
def localizer(demo_app: DemoApp) -> Localizer:
    """A Localizer of its own for the checkpoint the page serves: what the page shows is compared with it."""
    return Localizer.from_checkpoint(demo_app.checkpoint, "cpu")


@pytest.fixture(scope="session")
def demo_server(demo_app: DemoApp) -> Iterator[DemoServer]:
    server, thread = serve(demo_app)
    yield server
    stop(server, thread)


def request(url: str, body: bytes | None = None, headers: dict[str, str] | None = None
            ) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) of a GET (``body`` None) or POST; HTTP errors are returned, not raised."""
    req = urllib.request.Request(url, data=body, headers=headers or {}, method="GET" if body is None else "POST")
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT_S) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def call(url: str, payload: Any = None, raw: bytes | None = None) -> tuple[int, dict[str, Any]]:
    """(status, JSON answer) of an API call: GET without ``payload`` / ``raw``, else POST JSON or raw bytes."""
    body = raw if raw is not None else (None if payload is None else json.dumps(payload).encode())
    status, _, answer = request(url, body)
    return status, json.loads(answer)


def npy(array: np.ndarray) -> bytes:
    """The bytes of ``array`` saved as a ``.npy`` file (object arrays pickled, as ``np.save`` does)."""
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def write_webm(path: Path, frames: int = VIDEO_FRAMES, fps: int = VIDEO_FPS) -> Path:
    """A VP8 WebM of moving colour bars (Chromium plays it; the extractor decodes it)."""
    import av

    height, width = VIDEO_SIZE
    with av.open(str(path), "w", format="webm") as container:
        stream = container.add_stream("libvpx", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        columns = np.arange(width)
        for i in range(frames):
            image = np.zeros((height, width, 3), np.uint8)
            image[..., i % 3] = ((columns + 8 * i) % 256).astype(np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode())
    return path


@pytest.fixture(scope="session")
def webm_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One short WebM shared by the video tests (the demo extracts a file's features once, whoever sends it)."""
    if importlib.util.find_spec("av") is None:
        pytest.skip(VIDEO_INSTALL)
    return write_webm(tmp_path_factory.mktemp("demo-webm") / "bars.webm")


@pytest.fixture(scope="session")
def video_app(tmp_path_factory: pytest.TempPathFactory) -> DemoApp:
    """A demo app that takes video files: an untrained 1024-d tiny EAMAT recorded as trained on the I3D recipe,
    and randomly initialised I3D weights (the page's path, not the features' quality, is under test)."""
    if importlib.util.find_spec("av") is None:
        pytest.skip(VIDEO_INSTALL)
    import torch

    from engine.checkpoint import checkpoint_payload, save_checkpoint
    from engine.models import build_model
    from engine.vocab import Vocabulary
    from tests.export.tiny import ITOS, tiny_config, word_vectors
    from video import RECIPES
    from video.i3d import InceptionI3D

    folder = tmp_path_factory.mktemp("demo-video")
    torch.manual_seed(0)
    weights = folder / "rgb_random.pt"
    torch.save(InceptionI3D(I3D_CLASSES).state_dict(), weights)
    config = tiny_config("eamat")
    config.model.video_dim = RECIPES[VIDEO_RECIPE].feature_dim
    config.data.feature_recipe = VIDEO_RECIPE
    vectors = word_vectors(0)
    checkpoint = folder / "best.pt"
    save_checkpoint(checkpoint_payload(build_model(config, vectors).eval(), config, Vocabulary(ITOS, vectors), 1),
                    checkpoint)
    (folder / "media").mkdir()
    return DemoApp.from_checkpoint(checkpoint, folder / "media", device="cpu", weights=weights)
