"""Gradient-based search of the parameters that maximize or minimize an output of a theory (the
transfer benefit, the target error), with optax and the implicit gradients of the theory."""

import functools
import warnings
from collections.abc import Mapping

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import xarray as xr
from jaxtyping import Array, Float, PRNGKeyArray
from tqdm.auto import tqdm

from . import _checks, _problem
from .tasks._task_pair import TaskPair

class Bounds(eqx.Module):
    """A parameter in [low, high] as a smooth function of an unconstrained u (the optimizer's
    coordinate): for 0 < low < high < inf, log value = log low + (log high - log low) sigmoid(u)
    (log scale, as for gamma or T); for other finite bounds, low + (high - low) sigmoid(u);
    with one infinite bound, low + exp(u) or high - exp(u); with none, u itself."""

    low: float
    high: float

    @property
    def logarithmic(self) -> bool:
        return 0 < self.low and np.isfinite(self.high)

    def value(self, u: Float[Array, ""]) -> Float[Array, ""]:
        low, high = self.low, self.high
        if self.logarithmic:
            return jnp.exp(np.log(low) + (np.log(high) - np.log(low)) * jax.nn.sigmoid(u))
        if np.isfinite(low) and np.isfinite(high):
            return low + (high - low) * jax.nn.sigmoid(u)
        if np.isfinite(low):
            return low + jnp.exp(u)
        if np.isfinite(high):
            return high - jnp.exp(u)
        return u

    def coordinate(self, value: float) -> float:
        """The u of a value strictly inside the bounds (the inverse of `value`)."""
        low, high = self.low, self.high
        if self.logarithmic:
            t = (np.log(value) - np.log(low)) / (np.log(high) - np.log(low))
        elif np.isfinite(low) and np.isfinite(high):
            t = (value - low) / (high - low)
        elif np.isfinite(low):
            return float(np.log(value - low))
        elif np.isfinite(high):
            return float(np.log(high - value))
        else:
            return float(value)
        return float(np.log(t) - np.log1p(-t))


def optimize(
    task,
    *,
    over: Mapping[str, "tuple[float, float]"],
    theory: "str | Theory" = "transfer",
    objective: "str | None" = None,
    key: "PRNGKeyArray | None" = None,
    steps: int = 50,
    learning_rate: float = 0.1,
    optimizer: "optax.GradientTransformation | None" = None,
    progress: bool = True,
    **parameters,
) -> xr.Dataset:
    """Maximize the transfer benefit (or minimize the target test error, or any output of a
    theory with a direction) over continuous parameters, by gradient steps with the theory's
    implicit gradients.

    **Arguments:**
    - `task`, `theory`, `key`, `**parameters`: the problem, as in `jaxtl.sweep` (every
      parameter a single value; those named in `over` give the starting point and may be
      left out).
    - `over`: {name: (low, high)}: the parameters to optimize and their bounds, e.g.
      `{"coupling": (1e-2, 1e3), "temperature": (1e-3, 1.0)}`; any theory parameter (width,
      temperature, coupling, source_temperature, lambda0, lambda1) or numeric knob of the generator (rho,
      feature_perturbation, ...). Bounds are kept by reparametrization (`Bounds`): a positive
      finite range is searched on a log scale. The default start is the middle of the range
      (geometric middle on a log scale; low + 1 for a range with no upper end).
    - `objective`: an output of the theory that has a direction (`Output.better`), maximized
      if "higher" and minimized if "lower"; by default the theory's `objective`. For the
      transfer theory "benefit" (the default, maximized; error at gamma = 0 minus error at
      gamma), "benefit_prior", "benefit_source" (maximized; the part carried by the source,
      see `jaxtl.TransferBenefit`), "test_error", "bias2" or "variance" (minimized); for the
      single-task theory "test_error" (the default), "bias2", "variance".
    - `steps`: gradient steps, an integer >= 0; the theory is solved (value and gradient)
      `steps + 1` times.
    - `learning_rate`: of the default optimizer, `optax.adam`, in (0, inf): a step in the
      unconstrained coordinates u (so about the change of log value per step on a log scale).
    - `optimizer`: any `optax.GradientTransformation` instead of Adam.
    - `progress`: show a progress bar.

    **Returns:** an `xarray.Dataset` along `step` = 0, ..., steps: the value of each optimized
    parameter, `objective`, and every output of `jaxtl.sweep` (order parameters, test error
    and its parts, benefit and its parts, `converged`) at that step; fixed parameters as
    coordinates; `attrs` "over" (the optimized parameters, separated by spaces), "objective",
    "maximize", "evaluations" (theory solves, each with its gradient) and "bounds". The best point is `ds.isel(step=int(ds.objective.argmax("step")))`
    (argmin for the error).

    If a solve fails (no physical stationary point, no convergence, or a gradient that is not
    finite), the search stops there with a warning naming the reason; the last step is then
    marked `converged = False` and holds NaN values: no unphysical value is ever a step.
    """
    theory, values, kind = _problem.resolve(task, theory, {**{n: 0.0 for n in over}, **parameters})
    objectives = _problem.objectives(theory)
    if objective is None:
        objective = theory.objective or (next(iter(objectives)) if len(objectives) == 1 else None)
    if objective not in objectives:
        raise ValueError(f"objective must be one of {', '.join(objectives)} for the {theory.name} theory, got {objective!r}")
    maximize = objectives[objective]
    steps = _checks.count("steps", steps, minimum=0)
    if optimizer is None:
        optimizer = optax.adam(_checks.positive("learning_rate", learning_rate))
    key = jax.random.key(0) if key is None else key
    if not over:
        raise ValueError("over must name at least one parameter to optimize")
    bounds = {n: _bounds(n, b) for n, b in over.items()}
    for n in over:
        if kind[n] == "static":
            raise ValueError(f"over: {n!r} is not a continuous parameter (sizes and options cannot be optimized)")
    for n, v in values.items():
        if kind[n] != "static" and np.ndim(_checks.real(n, v)) != 0:
            raise ValueError(f"{n} must be a single number in optimize, got shape {np.shape(v)}")
    for n in over:
        if n in parameters and not bounds[n].low < float(parameters[n]) < bounds[n].high:
            raise ValueError(f"the start {n} = {parameters[n]} must lie strictly inside its bounds {over[n]}")
    start = {n: (bounds[n].coordinate(float(parameters[n])) if n in parameters else 0.0) for n in over}
    for n in over:
        values[n] = float(bounds[n].value(jnp.asarray(start[n])))
    fixed = {n: v for n, v in values.items() if n not in over}
    ends = {n: np.asarray([values[n]] + [v for v in (b.low, b.high) if np.isfinite(v)]) for n, b in bounds.items()}
    _problem.check(task, theory, kind, values | ends)
    static = {n: v for n, v in fixed.items() if kind[n] == "static"}
    numbers = {n: jnp.asarray(v, float) for n, v in fixed.items() if kind[n] != "static"}
    point = _problem.point_function(task, theory, static)
    data = task if isinstance(task, TaskPair) else None
    sign = -1.0 if maximize else 1.0

    u = {n: jnp.asarray(v, float) for n, v in start.items()}
    # the theory's shared part (the source's solve, or the trained source network), once if
    # no optimized parameter changes it
    shared = None
    if _problem.shared_is_constant(point, key, data, numbers, {n: jnp.asarray([values[n]]) for n in over}):
        shared = _problem.shared(point, key, data, numbers | {n: jnp.asarray(values[n], float) for n in over})
    state = optimizer.init(u)
    rows = []
    for step in tqdm(range(steps + 1), disable=not progress, desc="jaxtl.optimize", unit="step"):
        (_, outputs), grads = _value_and_grad(u, point, bounds, objective, sign, key, data, numbers, shared)
        row = {n: float(bounds[n].value(u[n])) for n in over} | {n: np.asarray(v) for n, v in outputs.items()}
        finite = all(bool(jnp.isfinite(g)) for g in jax.tree.leaves(grads))
        row["converged"] = bool(outputs["converged"]) and finite
        rows.append(row)
        if not row["converged"]:
            why = "non-finite gradient" if outputs["converged"] else _problem.STATUS[int(row["status"])]
            warnings.warn(f"jaxtl.optimize: the theory did not converge at step {step} "
                          f"({', '.join(f'{n} = {row[n]:.6g}' for n in over)}: {why}); stopping there")
            break
        if step < steps:
            updates, state = optimizer.update(grads, state, u)
            u = optax.apply_updates(u, updates)

    columns = {n: ("step", np.array([r[n] for r in rows])) for n in rows[0]}
    columns["objective"] = ("step", np.array([float(r[objective]) for r in rows]))
    ds = xr.Dataset(columns, coords={"step": np.arange(len(rows))})
    ds.attrs.update(over=" ".join(over), objective=objective, maximize=int(maximize), evaluations=len(rows),
                    bounds=str({n: (b.low, b.high) for n, b in bounds.items()}))
    return _problem.label(ds, task, theory, fixed, kind)


@eqx.filter_jit
@functools.partial(jax.value_and_grad, has_aux=True)
def _value_and_grad(u, point, bounds, objective, sign, key, data, numbers, shared):
    """sign * objective at the parameters of u (and all outputs), with its gradient in u
    (`shared`: the theory's shared part, or None to compute it at u)."""
    outputs = point.solve(key, data, numbers | {n: b.value(u[n]) for n, b in bounds.items()}, shared)
    return sign * outputs[objective], outputs


def _bounds(name: str, bounds) -> Bounds:
    try:
        low, high = (float(b) for b in bounds)
    except (TypeError, ValueError):
        raise ValueError(f"over[{name!r}] must be a pair (low, high) of numbers, got {bounds!r}") from None
    if not low < high:
        raise ValueError(f"over[{name!r}] must have low < high, got ({low}, {high})")
    return Bounds(low, high)
