"""Deep (L-hidden-layer) networks: kernel renormalization with L order parameters
(`jaxtl/theory/README.md`, section 12).

- `single_task(X, y, *, widths, temperature, lambdas=None, activation="erf", action="vanilla")`:
  the order parameters Q_1, ..., Q_L, the predictor and the test error (`DeepSingleTaskSolution`);
  `action` is "vanilla" or "nested" (`ACTIONS`). Also `theory="deep_single_task"` in sweeps.
"""

from .theory._deep_single_task import (
    ACTIONS as ACTIONS,
    DeepSingleTaskSolution as DeepSingleTaskSolution,
    single_task as single_task,
)
