"""Deep (L-hidden-layer) networks: kernel renormalization with L order parameters
(`jaxtl/theory/README.md`, section 12).

- `single_task(X, y, *, widths, temperature, lambdas=None, activation="erf", action="vanilla")`:
  the order parameters Q_1, ..., Q_L, the predictor and the test error (`DeepSingleTaskSolution`);
  `action` is "vanilla", "nested" or "full" (`ACTIONS`). Also `theory="deep_single_task"` in sweeps.
- `transfer((Xs, ys), (Xt, yt), *, widths, temperature, coupling, lambdas=None, activation="erf",
  action="vanilla", source_temperature=None)`: two hidden layers, the first coupled to a source
  sample's (section 12.3; `DeepTransferSolution`). Also `theory="deep_transfer"` in sweeps.
"""

from .theory._deep_single_task import (
    ACTIONS as ACTIONS,
    DeepSingleTaskSolution as DeepSingleTaskSolution,
    single_task as single_task,
)
from .theory._deep_transfer import (
    DeepTransferSolution as DeepTransferSolution,
    transfer as transfer,
)
