"""jaxtl: statistical mechanics of transfer learning in one-hidden-layer Bayesian networks.

Importing jaxtl enables JAX's 64-bit mode (`jax_enable_x64`): the theory is solved in float64.
Networks may still be run in float32 by passing float32 arrays.
"""

import jax

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
