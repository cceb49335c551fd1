"""The demo's HTTP server: the standard library's ``ThreadingHTTPServer`` serving one static page (``demo/static``:
HTML, CSS, JavaScript; nothing fetched from elsewhere) and a small JSON API over :class:`demo.app.DemoApp`.

Routes::

    GET  /                       the page                  GET /static/<file>   its CSS / JavaScript
    GET  /api/info               model, built-in videos, which uploads work
    GET  /api/video?id=ID        one video's description
    POST /api/upload?kind=features|video&name=FILE[&duration=S]   body: the file's bytes -> the video
    POST /api/query              {"video": ID, "query": TEXT, "k": N} -> spans, curves, the model's choice, seconds
    GET  /api/media/ID           an uploaded video file for the player (byte ranges, so it can seek)

Every answer is JSON; a failure is ``{"error": message}`` with 400 (bad input), 404 (unknown video),
411 / 413 (upload without a length / too large) or 500 (a bug: the traceback goes to stderr).  No failure
stops the server.  Every response carries a Content-Security-Policy that lets the page load and connect to
this server only, so the page cannot send anything elsewhere even by mistake.
"""

from __future__ import annotations

import json
import mimetypes
import re
import sys
import traceback
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from demo.app import DemoApp
from demo.videos import DemoInputError

STATIC_DIR = Path(__file__).resolve().parent / "static"
DEFAULT_MAX_UPLOAD_MB = 512
CHUNK = 1 << 20  # bytes per write when sending a media file
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; media-src 'self'; "
                               "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
RANGE = re.compile(r"bytes=(\d*)-(\d*)$")


class UploadTooLarge(Exception):
    """An upload over the server's limit (413) or without a Content-Length (411)."""

    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


class DemoHandler(BaseHTTPRequestHandler):
    """One request; ``server.app`` answers it (:func:`make_server`)."""

    server: DemoServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        self._respond(lambda: self._get(url.path, query))

    def do_POST(self) -> None:  # noqa: N802
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        self._respond(lambda: self._post(url.path, query))

    def _get(self, path: str, query: dict[str, list[str]]) -> Any:
        app = self.server.app
        if path in ("/", "/index.html"):
            return self._static("index.html")
        if path.startswith("/static/"):
            return self._static(path.removeprefix("/static/"))
        if path == "/api/info":
            return app.info()
        if path == "/api/video":
            return app.video(_one(query, "id"))
        if path.startswith("/api/media/"):
            return self._media(app.media(unquote(path.removeprefix("/api/media/"))))
        raise KeyError(f"no such page: {path}")

    def _post(self, path: str, query: dict[str, list[str]]) -> Any:
        body = self._body()
        if path == "/api/upload":
            return self.server.app.upload(_one(query, "kind"), _one(query, "name"), body, _one(query, "duration", ""))
        if path == "/api/query":
            try:
                request = json.loads(body.decode("utf-8"))
            except (UnicodeDecodeError, ValueError) as err:
                raise DemoInputError(f"the query request is not JSON ({err})") from err
            if not isinstance(request, dict):
                raise DemoInputError("the query request must be a JSON object")
            return self.server.app.answer(request)
        raise KeyError(f"no such endpoint: POST {path}")

    def _body(self) -> bytes:
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            raise UploadTooLarge(HTTPStatus.LENGTH_REQUIRED, "the request has no Content-Length")
        if int(length) > self.server.max_upload_bytes:
            self.close_connection = True  # the body is not read
            raise UploadTooLarge(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                                 f"the file is {int(length) / 2**20:.0f} MB; this demo takes at most "
                                 f"{self.server.max_upload_bytes / 2**20:.0f} MB (--max-upload-mb)")
        return self.rfile.read(int(length))

    def _respond(self, handle: Any) -> None:
        """Run ``handle``; send its dict as JSON (a static file or media was sent already when it returns None)."""
        try:
            result = handle()
            if result is not None:
                self._json(HTTPStatus.OK, result)
        except DemoInputError as err:
            self._json(HTTPStatus.BAD_REQUEST, {"error": str(err)})
        except KeyError as err:
            self._json(HTTPStatus.NOT_FOUND, {"error": str(err.args[0]) if err.args else "not found"})
        except UploadTooLarge as err:
            self._json(err.status, {"error": str(err)})
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as err:  # a bug: report it, keep serving
            traceback.print_exc(file=sys.stderr)
            self._json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"internal error ({type(err).__name__}: {err})"})

    def _json(self, status: HTTPStatus, payload: dict[str, Any]) -> None:
        self._send(status, json.dumps(payload).encode("utf-8"), "application/json")

    def _send(self, status: HTTPStatus, body: bytes, content_type: str, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        headers = {"Content-Type": content_type, "Content-Length": str(len(body)), "Cache-Control": "no-store",
                   **SECURITY_HEADERS, **(extra or {})}
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _static(self, name: str) -> None:
        path = (STATIC_DIR / name).resolve()
        if path.parent != STATIC_DIR or not path.is_file():
            raise KeyError(f"no such file: {name}")
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        self._send(HTTPStatus.OK, path.read_bytes(), f"{content_type}; charset=utf-8")

    def _media(self, path: Path) -> None:
        """Send a media file, or the one byte range asked for (a player seeks with ranges)."""
        size = path.stat().st_size
        first, last, status = 0, size - 1, HTTPStatus.OK
        match = RANGE.match(self.headers.get("Range", "").strip())
        if match and (match[1] or match[2]):
            if match[1]:
                first, last = int(match[1]), min(int(match[2]) if match[2] else size - 1, size - 1)
            else:  # the last N bytes
                first = max(0, size - int(match[2]))
            if first > last:
                self._send(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE, b"", "text/plain",
                           {"Content-Range": f"bytes */{size}"})
                return
            status = HTTPStatus.PARTIAL_CONTENT
        self.send_response(status)
        headers = {"Content-Type": mimetypes.guess_type(path.name)[0] or "application/octet-stream",
                   "Content-Length": str(last - first + 1), "Accept-Ranges": "bytes", **SECURITY_HEADERS}
        if status == HTTPStatus.PARTIAL_CONTENT:
            headers["Content-Range"] = f"bytes {first}-{last}/{size}"
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        with open(path, "rb") as f:
            f.seek(first)
            left = last - first + 1
            while left > 0:
                chunk = f.read(min(CHUNK, left))
                if not chunk:
                    break
                self.wfile.write(chunk)
                left -= len(chunk)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's signature)
        if self.server.verbose:
            super().log_message(format, *args)


class DemoServer(ThreadingHTTPServer):
    """A threading HTTP server holding the :class:`DemoApp` its handlers call."""

    daemon_threads = True

    def __init__(self, app: DemoApp, host: str, port: int, max_upload_bytes: int, verbose: bool = False) -> None:
        self.app, self.max_upload_bytes, self.verbose = app, max_upload_bytes, verbose
        super().__init__((host, port), DemoHandler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/"


def _one(query: dict[str, list[str]], name: str, default: str | None = None) -> str:
    values = query.get(name)
    if not values:
        if default is not None:
            return default
        raise DemoInputError(f"the request is missing its {name!r} parameter")
    return values[0]
