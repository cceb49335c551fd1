"""``python -m train demo --ckpt RUN``: serve the demo page for a checkpoint (registered by ``train/cli.py``).

Only ``argparse`` is imported until the command runs, so ``python -m train --help`` stays fast.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from typing import Any

DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 7860
LOOPBACK = ("127.0.0.1", "localhost", "::1")
USAGE_ERROR = 2


def add_demo_parser(commands: Any) -> argparse.ArgumentParser:
    """Add the ``demo`` subcommand to ``commands`` (an ``add_subparsers`` object)."""
    from demo.server import DEFAULT_MAX_UPLOAD_MB
    from demo.videos import DEFAULT_CAPACITY

    parser = commands.add_parser(
        "demo", help="a local web page: type a query, see the moments it finds (python -m train demo --help)",
        description="Serve a page on this machine where you pick a video (built-in synthetic test videos, an\n"
                    "uploaded .npy of clip features, or a video file with --weights), type a query and get the\n"
                    "top-k spans, their score curves and, for a video file, a player that jumps to a span.\n"
                    "Standard library only; the page loads nothing from elsewhere. Ctrl-C stops it.",
        formatter_class=argparse.RawTextHelpFormatter,
    )
    parser.add_argument("--ckpt", required=True,
                        help="checkpoint file (best.pt / last.pt) or run directory (= its best.pt)")
    parser.add_argument("--host", default=DEFAULT_HOST,
                        help=f"address to listen on (default {DEFAULT_HOST}: this machine only; the page has no login)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help=f"port (default {DEFAULT_PORT}; 0 = any free port)")
    parser.add_argument("--weights", metavar="FILE",
                        help="the video feature extractor's weights: enables video-file upload\n"
                             "(needs the video-in extractor and PyAV: pip install -e '.[demo]')")
    parser.add_argument("--recipe", default=None,
                        help="feature recipe of uploaded videos, for a checkpoint that does not record it\n"
                             "(default: the checkpoint's data.feature_recipe; another one is refused)")
    parser.add_argument("--device", dest="demo_device", metavar="DEVICE",
                        help="cpu | cuda | cuda:N (default: CUDA when available)")
    parser.add_argument("--cache-videos", type=int, default=DEFAULT_CAPACITY, metavar="N",
                        help=f"uploads whose features stay in memory for more queries (default {DEFAULT_CAPACITY})")
    parser.add_argument("--max-upload-mb", type=float, default=DEFAULT_MAX_UPLOAD_MB, metavar="MB",
                        help=f"largest upload accepted (default {DEFAULT_MAX_UPLOAD_MB})")
    parser.add_argument("--verbose", action="store_true", help="log every request on stderr")
    return parser


def run_demo(args: argparse.Namespace) -> int:
    """Load the checkpoint, build the page's videos and serve until interrupted; exit 2 on bad options."""
    from pathlib import Path

    from demo.app import DemoApp
    from demo.server import DemoServer

    if args.cache_videos < 1 or args.max_upload_mb <= 0:
        return _usage_error(ValueError("--cache-videos must be >= 1 and --max-upload-mb positive"))
    with tempfile.TemporaryDirectory(prefix="grounding-demo-") as media_dir:
        try:
            app = DemoApp.from_checkpoint(args.ckpt, Path(media_dir), args.demo_device, args.weights, args.recipe,
                                          args.cache_videos)
            server = DemoServer(app, args.host, args.port, int(args.max_upload_mb * 2**20), args.verbose)
        except OSError as err:
            if isinstance(err, FileNotFoundError):
                return _usage_error(err)
            return _usage_error(OSError(f"cannot listen on {args.host}:{args.port} ({err.strerror or err})"))
        except (KeyError, TypeError, ValueError, RuntimeError) as err:
            return _usage_error(err)
        if args.host not in LOOPBACK:
            print(f"warning: listening on {args.host}: anyone who can reach it can use the page", file=sys.stderr)
        for note in (app.builtins_note, app.store.extractor.unavailable):
            if note:
                print(f"note: {note}", file=sys.stderr)
        print(f"demo of {args.ckpt} ({app.localizer.config.model.name}, {len(app.store.builtins)} built-in videos) "
              f"at {server.url}  (Ctrl-C stops it)", flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            print("stopped", file=sys.stderr)
        finally:
            server.server_close()
    return 0


def _usage_error(err: BaseException) -> int:
    message = " ".join(str(err.args[0] if isinstance(err, KeyError) and err.args else err).split())
    print(f"python -m train demo: error: {message}", file=sys.stderr)
    return USAGE_ERROR
