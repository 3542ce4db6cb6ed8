"""jaxtl as of an earlier git revision, imported beside the current one (`--baseline REV` of the
benchmark scripts): before/after timings in the same process."""

import importlib
import io
import pathlib
import subprocess
import sys
import tarfile
import tempfile

from jaxtl import _threads

ROOT = pathlib.Path(__file__).resolve().parents[1]


def baseline_package(revision: str):
    """jaxtl as of `revision`, imported as the package `jaxtl_baseline` (its modules import one
    another relatively, so the copy is self-contained)."""
    folder = pathlib.Path(tempfile.mkdtemp(prefix="jaxtl-baseline-"))
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", revision, "jaxtl"], check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    (folder / "jaxtl").rename(folder / "jaxtl_baseline")
    sys.path.insert(0, str(folder))
    # Imported where SciPy's OpenBLAS has its own thread count again: a revision that limits it
    # on import records the count it finds and gives it back for its large LAPACK calls.
    with _threads.every_thread_for_lapack():
        return importlib.import_module("jaxtl_baseline")
