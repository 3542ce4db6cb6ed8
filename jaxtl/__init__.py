"""jaxtl: statistical mechanics of transfer learning in one-hidden-layer Bayesian networks.

Importing jaxtl enables JAX's 64-bit mode (`jax_enable_x64`): the theory is solved in float64.
It also turns off XLA's XNNPACK path on CPU (`--xla_cpu_use_xnnpack=false` in `XLA_FLAGS`),
unless `XLA_FLAGS` already sets it: with it on, batched theory solves could hang.
Networks may still be run in float32 by passing float32 arrays.
"""

import os

# XLA's CPU backend (jaxlib 0.10.2) can hang for good, every thread idle, when running the
# theories' vmapped Newton loops through its XNNPACK path (seen for batches of tens of points
# with Pt >= ~80; all passed with it off). Off unless the user chose otherwise; this takes
# effect if no JAX computation ran before jaxtl was imported.
if "xla_cpu_use_xnnpack" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_use_xnnpack=false").strip()

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

from . import kernels as kernels  # noqa: E402
from . import nets as nets  # noqa: E402
from . import tasks as tasks  # noqa: E402
from ._result import Prediction as Prediction, TestError as TestError  # noqa: E402
from ._single_task import (  # noqa: E402
    SingleTaskSolution as SingleTaskSolution,
    single_task as single_task,
)

from ._transfer import (  # noqa: E402
    TransferBenefit as TransferBenefit,
    TransferSolution as TransferSolution,
    transfer as transfer,
)

__version__ = "0.1.0"
