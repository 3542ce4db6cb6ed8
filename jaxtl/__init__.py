"""jaxtl: statistical mechanics of transfer learning in one-hidden-layer Bayesian networks.

Importing jaxtl enables JAX's 64-bit mode (`jax_enable_x64`): the theory is solved in float64.
It also adds `--xla_cpu_use_xnnpack=false --xla_cpu_enable_concurrency_optimized_scheduler=false`
to `XLA_FLAGS` (unless set there already): with XLA's defaults, batched transfer solves on CPU
could hang. And unless `OPENBLAS_NUM_THREADS` is set, it gives SciPy's OpenBLAS (the LAPACK that
JAX's CPU programs call) one thread: its threads competed with XLA's (a transfer sweep ran 1.24x
faster without them); NumPy's own BLAS is left alone.
Networks may still be run in float32 by passing float32 arrays.
"""

import os

# XLA's CPU backend (jaxlib 0.10.2) can hang for good, every thread idle, while running the
# transfer theory's vmapped Newton loop: about three runs in four of a small vmapped test hung
# with the default settings, none of eight with these two flags. (The cause, found later:
# batched LAPACK kernels waiting on XLA's thread pool from inside it; `_linalg` now loops over
# the batch instead.) They take effect if no JAX computation ran before jaxtl was imported; a
# flag the user already set in XLA_FLAGS is left as it is.
for _flag in ("xla_cpu_use_xnnpack", "xla_cpu_enable_concurrency_optimized_scheduler"):
    if _flag not in os.environ.get("XLA_FLAGS", ""):
        os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} --{_flag}=false".strip()
del _flag

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

from . import _threads  # noqa: E402

_threads.one_thread_for_lapack()

from . import deep as deep  # noqa: E402
from . import features as features  # noqa: E402
from . import kernels as kernels  # noqa: E402
from . import nets as nets  # noqa: E402
from . import plot as plot  # noqa: E402
from . import tasks as tasks  # noqa: E402
from . import theory as theory  # noqa: E402
from .theory._result import Prediction as Prediction, TestError as TestError  # noqa: E402
from .theory._solve import RESULTS as RESULTS  # noqa: E402
from .theory._adaptive_kernel import (  # noqa: E402
    AdaptiveKernelSolution as AdaptiveKernelSolution,
    adaptive_kernel as adaptive_kernel,
)
from .theory._adaptive_transfer import (  # noqa: E402
    AdaptiveBenefit as AdaptiveBenefit,
    AdaptiveTransferSolution as AdaptiveTransferSolution,
    adaptive_transfer as adaptive_transfer,
)
from .theory._fine_tuning import (  # noqa: E402
    fine_tuning_loss as fine_tuning_loss,
    richness_gain as richness_gain,
)
from .theory._single_task import (  # noqa: E402
    SingleTaskSolution as SingleTaskSolution,
    single_task as single_task,
)
from ._curves import learning_curves as learning_curves  # noqa: E402
from ._optimize import optimize as optimize  # noqa: E402
from ._sweep import sweep as sweep  # noqa: E402
from .theory._transfer import (  # noqa: E402
    TransferBenefit as TransferBenefit,
    TransferSolution as TransferSolution,
    transfer as transfer,
)

__version__ = "0.1.0"
