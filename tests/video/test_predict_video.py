"""From a video file to ranked seconds (``Localizer.predict_video``, ``predict --video``), and the clip rate a
checkpoint carries: ``predict`` without ``--duration`` gives clips x ``data.clip_seconds``; features of another
width or recipe are refused."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from engine import Localizer
from engine.checkpoint import BEST, checkpoint_payload, config_of, read_checkpoint, save_checkpoint, vocabulary_of
from engine.data.features import FeatureFileError
from engine.models import build_model
from tests.engine.pictures import assert_png
from tests.markers import TEXT
from tests.train.tiny import train_tiny
from tests.video.media import FPS, write_video
from train.cli import USAGE_ERROR, main
from video.extract import FORMAT, METADATA_FILE

pytestmark = TEXT

QUERY = "a person opens the door"
NATIVE_FRAMES = 31  # -> 25 frames at 24 fps -> 4 charades-i3d clips (see test_extract.py)
I3D_CLIPS, I3D_DIM = 4, 1024  # 2 x ceil(25 / 24) rows of I3D's width
HALF_SECOND = 0.5  # data.clip_seconds of a checkpoint trained on 2-clips-per-second features
FEATURE_CLIPS = 10
GRID_ATOL = 1e-5  # spans come back through float32 tensors


def rewritten_checkpoint(run: Path, out: Path, video_dim: int | None = None, **data: object) -> Path:
    """The tiny run's best.pt with ``data`` fields set in its config and, for another ``video_dim``, a fresh
    video projection of that width (every other trained weight kept), saved as training saves it."""
    ckpt = read_checkpoint(run / BEST)
    config = config_of(ckpt)
    for name, value in data.items():
        setattr(config.data, name, value)
    config.model.video_dim = video_dim or config.model.video_dim
    torch.manual_seed(0)
    model = build_model(config)
    state = model.state_dict()
    kept = {k: v for k, v in ckpt["model"].items() if k in state and v.shape == state[k].shape}
    assert len(state) - len(kept) <= 2  # only the input projection's weight (and nothing else) is new
    state.update(kept)
    model.load_state_dict(state)
    save_checkpoint(checkpoint_payload(model, config, vocabulary_of(ckpt), ckpt["epoch"], ckpt["best"]), out)
    return out


@pytest.fixture(scope="module")
def i3d_checkpoint(tiny_run, tmp_path_factory) -> Path:
    return rewritten_checkpoint(tiny_run, tmp_path_factory.mktemp("ckpt") / "i3d.pt", I3D_DIM,
                                clip_seconds=HALF_SECOND, feature_recipe="charades-i3d")


@pytest.fixture(scope="module")
def half_second_checkpoint(tmp_path_factory) -> Path:
    """The tiny run trained with data.clip_seconds=0.5 (features at 2 clips per second): its best.pt."""
    run = train_tiny(tmp_path_factory.mktemp("half") / "run", "--set", f"data.clip_seconds={HALF_SECOND}",
                     "--set", "data.feature_recipe=charades-i3d")
    return run / BEST


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return write_video(tmp_path_factory.mktemp("video") / "kitchen.mp4", NATIVE_FRAMES)


def on_grid(seconds: float, step: float) -> bool:
    return abs(seconds / step - round(seconds / step)) < GRID_ATOL


def test_a_video_gets_ranked_spans_in_its_seconds(i3d_checkpoint, clip, i3d_weights, tmp_path, capsys) -> None:
    spans = Localizer.from_checkpoint(i3d_checkpoint, device="cpu").predict_video(clip, QUERY, i3d_weights, k=3)
    duration = NATIVE_FRAMES / FPS
    assert len(spans) == 3 and [s for _, _, s in spans] == sorted((s for _, _, s in spans), reverse=True)
    for start, end, _ in spans:
        assert 0 <= start < end <= duration + GRID_ATOL
        assert on_grid(start, duration / I3D_CLIPS) and on_grid(end, duration / I3D_CLIPS)
    plot = tmp_path / "spans.png"
    capsys.readouterr()
    assert main(["predict", "--ckpt", str(i3d_checkpoint), "--video", str(clip), "--weights", str(i3d_weights),
                 "--query", QUERY, "-k", "3", "--device", "cpu", "--plot", str(plot)]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["clips"] == I3D_CLIPS and result["duration"] == pytest.approx(duration)
    assert [(s["start"], s["end"], s["score"]) for s in result["spans"]] == spans  # the same again: deterministic
    assert_png(plot)


def test_without_duration_seconds_are_clips_times_the_checkpoints_clip_seconds(half_second_checkpoint, tmp_path,
                                                                               capsys) -> None:
    localizer = Localizer.from_checkpoint(half_second_checkpoint, device="cpu")
    features = np.random.default_rng(0).normal(size=(FEATURE_CLIPS, localizer.config.model.video_dim))
    prediction = localizer.localize(features.astype(np.float32), QUERY, k=5)
    assert prediction.duration == FEATURE_CLIPS * HALF_SECOND
    assert all(on_grid(s, HALF_SECOND) and on_grid(e, HALF_SECOND) for s, e, _ in prediction.spans)
    path = tmp_path / "v.npy"
    np.save(path, features.astype(np.float32))
    capsys.readouterr()
    assert main(["predict", "--ckpt", str(half_second_checkpoint), "--features", str(path), "--query", QUERY,
                 "--device", "cpu"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["duration"] == FEATURE_CLIPS * HALF_SECOND
    assert max(s["end"] for s in result["spans"]) <= FEATURE_CLIPS * HALF_SECOND


def test_features_of_another_width_or_recipe_are_refused(i3d_checkpoint, half_second_checkpoint, tmp_path,
                                                         capsys) -> None:
    narrow = np.zeros((FEATURE_CLIPS, 64), np.float32)
    with pytest.raises(FeatureFileError, match=r"shape \(10, 64\); expected \(T >= 1, 1024\)"):
        Localizer.from_checkpoint(i3d_checkpoint, device="cpu").predict(narrow, QUERY)
    folder = tmp_path / "c3d"
    folder.mkdir()
    dim = Localizer.from_checkpoint(half_second_checkpoint, device="cpu").config.model.video_dim
    np.save(folder / "v.npy", np.zeros((FEATURE_CLIPS, dim), np.float32))
    (folder / METADATA_FILE).write_text(json.dumps({"format": FORMAT, "recipe": "tacos-c3d", "clip_seconds": 12 / 29.4,
                                                    "feature_dim": dim, "videos": {}}))
    capsys.readouterr()
    assert main(["predict", "--ckpt", str(half_second_checkpoint), "--features", str(folder / "v.npy"),
                 "--query", QUERY, "--device", "cpu"]) == USAGE_ERROR
    err = capsys.readouterr().err
    assert "recipe 'tacos-c3d'" in err and "'charades-i3d'" in err and len(err.strip().splitlines()) == 1


def test_video_options_are_checked(i3d_checkpoint, half_second_checkpoint, clip, capsys) -> None:
    base = ["predict", "--ckpt", str(i3d_checkpoint), "--query", QUERY, "--video", str(clip)]
    for extra, message in ((["--device", "cpu"], "--video needs --weights"),
                           (["--weights", "w.pt", "--duration", "3"], "drop --features / --duration"),
                           (["--weights", "w.pt", "--recipe", "tacos-c3d"], "trained on 'charades-i3d' features")):
        capsys.readouterr()
        assert main(base + extra) == USAGE_ERROR
        assert message in capsys.readouterr().err
    narrow = ["predict", "--ckpt", str(half_second_checkpoint), "--query", QUERY, "--video", str(clip), "--weights",
              "w.pt"]  # refused before any extraction: w.pt does not exist
    assert main(narrow) == USAGE_ERROR
    assert "1024-d clip features, but the checkpoint's model takes 64-d" in capsys.readouterr().err
