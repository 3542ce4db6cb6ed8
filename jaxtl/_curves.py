"""Learning curves: a theory's outputs against the target's training-set size, over seeds."""

from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr
from jaxtyping import PRNGKeyArray
from tqdm.auto import tqdm

from . import _checks, _problem
from .tasks._task_pair import TaskPair
from .theory import Theory


def learning_curves(
    task,
    *,
    Pt: Sequence[int],
    seeds: int = 4,
    theory: "str | Theory" = "transfer",
    key: "PRNGKeyArray | None" = None,
    progress: bool = True,
    **parameters,
) -> xr.Dataset:
    """Every output of a theory at each target training-set size in `Pt`, for `seeds`
    independent draws of the task pair (and of whatever the theory builds on it).

    The seed-th pair comes from the seed-th key of `jax.random.split(key, seeds)`; the theory's
    shared part (the source's solve, or the source network trained by the feature-transfer
    theory) is computed once per seed and reused for every Pt (the generators draw the source
    set independently of Pt; this is checked, and the shared part recomputed where it fails).
    The seeds are vmapped; each Pt is its own compiled program.

    **Arguments:**
    - `task`: a task generator (`jaxtl.tasks.hidden_manifold_pair`, ...), as for `jaxtl.sweep`.
    - `Pt`: the target training-set sizes (integers >= 1, in the order wanted).
    - `seeds`: number of independent draws (>= 1).
    - `theory`, `key` (default `jax.random.key(0)`), `progress`: as for `jaxtl.sweep`.
    - `**parameters`: fixed values of the generator's and the theory's other parameters (for
      grids over them, `jaxtl.sweep`).

    **Returns:** an `xarray.Dataset` with dimensions (Pt, seed), the theory's outputs and
    status variables named and labelled as by `jaxtl.sweep`; `ds.mean("seed")` and
    `ds.std("seed") / sqrt(seeds)` give the curves and their error bars.
    """
    if isinstance(task, TaskPair):
        raise ValueError("learning_curves draws the pair at each Pt: task must be a generator, not a TaskPair")
    Pt = [_checks.count("Pt", p) for p in (Pt if isinstance(Pt, (list, tuple, np.ndarray)) else [Pt])]
    if not Pt:
        raise ValueError("Pt must list at least one training-set size")
    seeds = _checks.count("seeds", seeds)
    for name, value in parameters.items():
        if isinstance(value, list) or np.ndim(value) > 0:
            raise ValueError(f"{name} must be a single value in learning_curves (grids: jaxtl.sweep), got {value!r}")
    theory, values, kind = _problem.resolve(task, theory, parameters | {"Pt": Pt[0]})
    if "alpha" in values:
        raise ValueError("learning_curves takes Pt, not alpha")
    _problem.check(task, theory, kind, values | {"Pt": Pt})
    keys = jax.random.split(jax.random.key(0) if key is None else key, seeds)
    numbers = {n: jnp.asarray(v, float) for n, v in values.items() if kind[n] != "static"}
    static = {n: v for n, v in values.items() if kind[n] == "static" and n != "Pt"}

    rows, shared, source = [], None, None
    for P in tqdm(Pt, disable=not progress, desc="jaxtl.learning_curves", unit="Pt"):
        point = _problem.point_function(task, theory, static | {"Pt": P})
        arguments = _problem.pair_arguments(task, theory, values | {"Pt": P}, build=False)
        now = _source_sides(task, keys, arguments)
        if shared is None or not all(jax.tree.leaves(jax.tree.map(jnp.array_equal, now, source))):
            shared, source = _shared(point, keys, numbers), now
        rows.append(_solve(point, keys, numbers, shared))

    names = _problem.output_names(theory)
    data = {n: (("Pt", "seed"), np.stack([np.asarray(r[n]) for r in rows])) for n in names}
    ds = xr.Dataset(data, coords={"Pt": np.asarray(Pt), "seed": np.arange(seeds)})
    return _problem.label(ds, task, theory, {n: v for n, v in values.items() if n != "Pt"}, kind)


@eqx.filter_jit
def _source_sides(task, keys, arguments):
    return jax.vmap(lambda k: (lambda p: (p.Xs, p.ys))(task(k, **arguments)))(keys)


@eqx.filter_jit
def _shared(point, keys, numbers):
    return jax.vmap(lambda k: point.shared(k, None, numbers))(keys)


@eqx.filter_jit
def _solve(point, keys, numbers, shared):
    return jax.vmap(lambda k, s: point.solve(k, None, numbers, s))(keys, shared)
