"""The HTTP layer without a browser: every kind of bad input gets its status and a readable message, the server
keeps answering, the page loads nothing from elsewhere, and media are served in byte ranges."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from urllib.parse import urlencode

import numpy as np
import pytest

from demo.app import DemoApp
from demo.server import SECURITY_HEADERS, STATIC_DIR, DemoServer
from demo.videos import Video
from tests.demo.conftest import MAX_UPLOAD_BYTES, call, npy, request, serve, stop

GOOD_QUERY = {"video": "synth-test-00002", "query": "someone closed a book.", "k": 3}
CLIPS = 20
MEDIA_BYTES = 10_000


def upload_url(server: DemoServer, **params: str) -> str:
    return f"{server.url}api/upload?{urlencode(params)}"


def assert_still_serving(server: DemoServer) -> None:
    status, answer = call(f"{server.url}api/query", GOOD_QUERY)
    assert status == 200 and len(answer["spans"]) == GOOD_QUERY["k"], answer


def test_page_and_info(demo_server: DemoServer, demo_app: DemoApp):
    status, headers, page = request(demo_server.url)
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert headers["Content-Security-Policy"] == SECURITY_HEADERS["Content-Security-Policy"]
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    for name in ("app.js", "style.css"):
        status, headers, body = request(f"{demo_server.url}static/{name}")
        assert status == 200 and body == (STATIC_DIR / name).read_bytes()
    status, info = call(f"{demo_server.url}api/info")
    assert status == 200 and info["model"] == "eamat" and len(info["builtins"]) == len(demo_app.store.builtins)
    assert not info["video_upload"] and "--weights" in info["video_upload_note"]


def test_the_page_references_nothing_outside_the_server():
    """Every src / href of the shipped files is a path on this server (the SVG namespace is a name, not a fetch)."""
    for path in STATIC_DIR.iterdir():
        text = path.read_text(encoding="utf-8").replace('"http://www.w3.org/2000/svg"', "")
        assert "http://" not in text and "https://" not in text and "//" + "cdn" not in text, path.name


@pytest.mark.parametrize(("params", "body", "status", "message"), [
    ({"kind": "features", "name": "narrow.npy"}, npy(np.zeros((CLIPS, 5), np.float32)), 400,
     "narrow.npy: shape (20, 5); expected (T >= 1, 64) clip features"),
    ({"kind": "features", "name": "vector.npy"}, npy(np.zeros(CLIPS, np.float32)), 400, "vector.npy: shape (20,)"),
    ({"kind": "features", "name": "nan.npy"}, npy(np.full((CLIPS, 64), np.nan, np.float32)), 400,
     "nan.npy: row 0 (clip 0) holds NaN"),
    ({"kind": "features", "name": "pickled.npy"}, pickle.dumps(np.zeros((CLIPS, 64))), 400,
     "pickled.npy: not a .npy array file"),
    ({"kind": "features", "name": "objects.npy"}, npy(np.array([[None]], dtype=object)), 400,
     "objects.npy: holds an array of Python objects"),
    ({"kind": "features", "name": "text.npy"}, b"1 2 3", 400, "text.npy: not a .npy array file"),
    ({"kind": "features", "name": "empty.npy"}, b"", 400, "empty.npy: the file is empty"),
    ({"kind": "features", "name": "ok.npy", "duration": "-3"}, npy(np.zeros((CLIPS, 64), np.float32)), 400,
     "duration must be positive seconds"),
    ({"kind": "video", "name": "clip.mp4"}, b"not a video", 400, "video upload is off: start the demo with --weights"),
    ({"kind": "image", "name": "a.png"}, b"png", 400, "upload kind must be one of"),
    ({"name": "a.npy"}, b"x", 400, "missing its 'kind' parameter"),
])
def test_bad_uploads_get_a_message_and_the_server_keeps_serving(
        demo_server: DemoServer, params: dict, body: bytes, status: int, message: str):
    got, answer = call(upload_url(demo_server, **params), raw=body)
    assert got == status and message in answer["error"], answer
    assert_still_serving(demo_server)


@pytest.mark.parametrize(("payload", "status", "message"), [
    ({**GOOD_QUERY, "query": ""}, 400, "type a query"),
    ({**GOOD_QUERY, "query": "zzqx blorf"}, 400, "none of its words (zzqx blorf) has a vector"),
    ({**GOOD_QUERY, "k": "5"}, 400, "k must be a whole number from 1 to 20"),
    ({**GOOD_QUERY, "video": "features-0123456789abcdef"}, 404, "no video 'features-0123456789abcdef'"),
    ([1, 2], 400, "must be a JSON object"),
])
def test_bad_queries_get_a_message(demo_server: DemoServer, payload: object, status: int, message: str):
    got, answer = call(f"{demo_server.url}api/query", payload)
    assert got == status and message in answer["error"], answer
    assert_still_serving(demo_server)


def test_malformed_requests(demo_server: DemoServer):
    got, answer = call(f"{demo_server.url}api/query", raw=b"{not json")
    assert got == 400 and "not JSON" in answer["error"]
    got, answer = call(f"{demo_server.url}api/nothing")
    assert got == 404 and "no such page: /api/nothing" in answer["error"]
    status, _, body = request(f"{demo_server.url}static/../server.py")
    assert status == 404 and b"import" not in body  # nothing outside demo/static is served
    got, answer = call(f"{demo_server.url}api/video?id=missing")
    assert got == 404 and "no video 'missing'" in answer["error"]
    assert_still_serving(demo_server)


def test_an_upload_over_the_limit_is_refused_unread(demo_app: DemoApp):
    server, thread = serve(demo_app, max_upload_bytes=MAX_UPLOAD_BYTES // 1024)
    try:
        got, answer = call(upload_url(server, kind="features", name="big.npy"),
                           raw=npy(np.zeros((CLIPS, 64), np.float32)))
        assert got == 413 and "--max-upload-mb" in answer["error"]
        assert_still_serving(server)
    finally:
        stop(server, thread)


def test_media_is_served_whole_and_in_byte_ranges(demo_server: DemoServer, demo_app: DemoApp, tmp_path: Path):
    data = np.random.default_rng(0).integers(0, 256, MEDIA_BYTES, dtype=np.uint8).tobytes()
    media = tmp_path / "clip.mp4"
    media.write_bytes(data)
    video = Video("video-test-media", "clip.mp4", "video", np.zeros((CLIPS, 64), np.float32), 10.0, media=media)
    with demo_app.store.lock:
        demo_app.store.uploads[video.id] = video
    url = f"{demo_server.url}api/media/{video.id}"
    status, headers, body = request(url)
    assert status == 200 and body == data and headers["Content-Type"] == "video/mp4"
    assert headers["Accept-Ranges"] == "bytes"
    for header, first, last in (("bytes=100-199", 100, 199), ("bytes=9000-", 9000, MEDIA_BYTES - 1),
                                ("bytes=-50", MEDIA_BYTES - 50, MEDIA_BYTES - 1)):
        status, headers, body = request(url, headers={"Range": header})
        assert status == 206 and body == data[first:last + 1], header
        assert headers["Content-Range"] == f"bytes {first}-{last}/{MEDIA_BYTES}"
    status, headers, _ = request(url, headers={"Range": f"bytes={MEDIA_BYTES + 5}-"})
    assert status == 416 and headers["Content-Range"] == f"bytes */{MEDIA_BYTES}"
    got, answer = call(f"{demo_server.url}api/media/synth-test-00000")
    assert got == 404 and "no playable file" in answer["error"]
    assert json.loads(request(f"{demo_server.url}api/video?id={video.id}")[2])["player"] is True
