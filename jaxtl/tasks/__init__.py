"""Source/target task pairs whose relatedness is controlled, as inputs to the theories and networks.

Every generator takes a `jax.random` key, gives the same data for the same key, runs under jit
(sizes static) and returns a `TaskPair`:
- `teacher_pair`: Gaussian inputs, teachers with overlap rho (differentiable in rho).
- `hidden_manifold_pair`: the correlated hidden manifold model (Gerace et al. 2022).
- `digits_pair`: binary tasks on scikit-learn's handwritten digits.
- `mnist_pair`: binary tasks on MNIST digits, by default two that differ by one class per label
  (needs the `jaxtl[mnist]` extra).

A single task (X, y, X0, y0) is the source side of `teacher_pair` with rho = 1 and shift = 0:
`(pair.Xs, pair.ys, pair.X0, pair.y0)`.
"""

from ._digits import digits_pair as digits_pair
from ._hidden_manifold import hidden_manifold_pair as hidden_manifold_pair
from ._mnist import mnist_pair as mnist_pair
from ._task_pair import TaskPair as TaskPair
from ._teacher import teacher_pair as teacher_pair
