"""The threads of SciPy's OpenBLAS, the LAPACK that JAX's CPU programs call.

On `import jaxtl`, unless OPENBLAS_NUM_THREADS is set, that library gets one thread
(`one_thread_for_lapack`): the theories' batched programs call LAPACK on small matrices (inverses
and Cholesky checks of Pt x Pt matrices, one per point) from XLA's own threads, and OpenBLAS's
threads then compete with those and spin after each call (the transfer sweep of
benchmarks/transfer_sweep.py took 5.7 against 7.1 ms a point with them; same process, toggled
by threadpoolctl). A program made of one large LAPACK call (the 1000 x 1000 eigendecomposition
of a sweep's shared part) runs faster on every thread: `every_thread_for_lapack` gives them back
for its duration, and then stops the library's worker threads, which would otherwise spin for
about a tenth of a second after their last call, on the cores XLA's programs need next (the
single-task sweep of benchmarks/single_task.py ran its first 20 ms after the shared part at
half speed); the library starts them again when its thread count is next raised. Stopping them
while another thread's call has handed them work would hang both, so they are stopped only where
nothing else can have: with one CPU device (XLA runs its programs one after another) and no
Python thread alive but the caller and daemon threads (progress bars, a notebook's I/O). Set
OPENBLAS_NUM_THREADS to have jaxtl leave the library alone altogether. Nothing is done
where that library is not found (another LAPACK, or SciPy linked to a shared OpenBLAS) or where
threadpoolctl fails: these are speed-ups, not conditions. NumPy's own BLAS is left alone.
"""

import contextlib
import ctypes
import os
import threading

import jax

_limited = []  # the library's threadpoolctl controller, its thread count before the limit, its thread stop


def one_thread_for_lapack() -> None:
    """Limit SciPy's OpenBLAS to one thread, unless OPENBLAS_NUM_THREADS is set (module docstring)."""
    if "OPENBLAS_NUM_THREADS" in os.environ:
        return
    try:
        import scipy.linalg  # noqa: F401 (loads the library)
        from threadpoolctl import ThreadpoolController

        controller = ThreadpoolController()
        scipy_blas = controller.select(filepath=[lib.filepath for lib in controller.lib_controllers
                                                 if "scipy.libs" in lib.filepath.replace(os.sep, "/")])  # fmt: skip
        if scipy_blas.lib_controllers:
            before = max(lib.num_threads for lib in scipy_blas.lib_controllers)
            scipy_blas.limit(limits=1)
            _limited.append((scipy_blas, before, _thread_stop(scipy_blas.lib_controllers[0].filepath)))
    except Exception:  # noqa: BLE001 (any failure leaves the threads as they were)
        pass


def _thread_stop(filepath: str):
    """OpenBLAS's `blas_thread_shutdown_` in the library at `filepath` (it joins the worker
    threads; the library starts them again as after a fork), or None."""
    try:
        return ctypes.CDLL(filepath).blas_thread_shutdown_
    except (OSError, AttributeError):
        return None


@contextlib.contextmanager
def every_thread_for_lapack():
    """Within the block, SciPy's OpenBLAS has the threads it had before `one_thread_for_lapack`
    (nothing changes where that did nothing); after it, the count it had on entering (one,
    unless the caller changed it), and its worker threads are stopped where nothing else can be
    using them (`_alone`; module docstring). Wait for the block's results inside it: JAX
    dispatches asynchronously."""
    if not _limited:
        yield
        return
    controller, threads, stop = _limited[0]
    try:
        entered = max(lib.num_threads for lib in controller.lib_controllers)
        controller.limit(limits=threads)
    except Exception:  # noqa: BLE001
        yield
        return
    try:
        yield
    finally:
        try:
            controller.limit(limits=entered)
            if stop is not None and _alone():
                stop()
        except Exception:  # noqa: BLE001
            pass


def _alone() -> bool:
    """Whether nothing but the caller can have handed work to the library's worker threads: one
    CPU device, and no Python thread alive but the caller and daemon threads."""
    caller = threading.current_thread()
    return len(jax.devices("cpu")) == 1 and all(t is caller or t.daemon for t in threading.enumerate())
