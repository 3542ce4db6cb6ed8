"""One transfer problem, named by its parameters: what `sweep`, `optimize` and the command line run.

A problem is a task (a `TaskPair`, or a generator of one such as `jaxtl.tasks.teacher_pair`)
and values for the parameters of the task generator and of `jaxtl.transfer`. The parameters
fall into three kinds:

- **theory** (numbers, may vary per point under `jax.vmap`): width (N1), temperature (T),
  coupling (gamma), lambda0, lambda1;
- **knobs** (numbers, may vary per point): the generator's keyword arguments with a numeric
  default, e.g. rho, gain, noise, shift of `teacher_pair`, or the three perturbations of
  `hidden_manifold_pair`;
- **static** (fix the shapes or the code; each value is its own compiled program): the
  generator's other keyword arguments (sizes Ps, Pt, P0, N0, D; readout; digit classes), the
  theory's `activation`, and `alpha` = Pt / N1, which sets Pt = round(alpha N1) and makes the
  width static too.

A generator argument whose name is taken by the theory (`hidden_manifold_pair`'s
`activation`) is set with `functools.partial(hidden_manifold_pair, activation=...)`.
"""

import functools
import inspect
import numbers
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from . import _checks
from .tasks._task_pair import TaskPair
from .theory._activation import get_activation
from .theory._single_task import SingleTaskSolution, solve_single_task
from .theory._solve import RESULTS
from .theory._transfer import benefit_given_error, solve_target

NUMBERS = (int, float, np.integer, np.floating)
THEORY = ("width", "temperature", "coupling", "lambda0", "lambda1")
THEORY_DEFAULTS = {"lambda0": 1.0, "lambda1": 1.0, "activation": "erf"}
_THEORY_CHECKS = {
    "width": lambda x: _checks.positive("width", x, allow_inf=True),
    "temperature": lambda x: _checks.positive("temperature", x),
    "coupling": lambda x: _checks.interval("coupling", x, 0.0, np.inf, allow_inf=True),
    "lambda0": lambda x: _checks.positive("lambda0", x),
    "lambda1": lambda x: _checks.positive("lambda1", x),
}
OUTPUTS = (
    "Q_s", "Q_t", "Q_tt", "Q_st", "test_error", "bias2", "variance",
    "benefit", "benefit_prior", "benefit_source", "converged", "status", "num_steps",
)  # fmt: skip
DESCRIPTIONS = {
    "Q_s": "source order parameter Q_s",
    "Q_t": "target order parameter Q_t",
    "Q_tt": "target replica overlap Q_tt",
    "Q_st": "source-target overlap Q_st",
    "test_error": "target test error",
    "bias2": "target test error, bias^2",
    "variance": "target test error, variance",
    "benefit": "transfer benefit, error(gamma=0) - error(gamma)",
    "benefit_prior": "benefit from the changed prior alone (not transfer)",
    "benefit_source": "benefit carried by the source-target kernel",
    "converged": "all solves converged to a physical stationary point",
    "status": "outcome of the solve (jaxtl.RESULTS; flag_meanings lists them)",
    "num_steps": "Newton steps of the target solve",
}


def task_name(task) -> str:
    """A short name of the task: the generator's name, or "TaskPair"."""
    if isinstance(task, TaskPair):
        return "TaskPair"
    inner = getattr(task, "func", task)  # functools.partial
    return getattr(inner, "__name__", type(inner).__name__)


def generator_arguments(task) -> "dict[str, inspect.Parameter]":
    """The keyword arguments of a task generator (all but the key), or {} for a `TaskPair`."""
    if isinstance(task, TaskPair):
        return {}
    if not callable(task):
        raise ValueError(f"task must be a jaxtl.tasks.TaskPair or a generator such as jaxtl.tasks.teacher_pair, got {task!r}")
    params = list(inspect.signature(task).parameters.values())
    return {p.name: p for p in params[1:] if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}


def is_knob(parameter: inspect.Parameter) -> bool:
    """A generator argument that may vary per point: one with a real-number default."""
    default = parameter.default
    return isinstance(default, numbers.Real) and not isinstance(default, bool)


def kinds(task, names) -> "dict[str, str]":
    """'theory', 'knob' or 'static' for each parameter name; a ValueError for an unknown one."""
    arguments = generator_arguments(task)
    allowed = [*THEORY, "activation", *arguments] + (["alpha"] if "Pt" in arguments else [])
    out = {}
    for name in names:
        if name in THEORY:
            out[name] = "theory"
        elif name in arguments and is_knob(arguments[name]):
            out[name] = "knob"
        elif name in allowed:
            out[name] = "static"
        else:
            raise ValueError(f"unknown parameter {name!r} for task {task_name(task)}; allowed: {', '.join(allowed)}")
    return out


def resolve(task, parameters: Mapping[str, Any]) -> "tuple[dict[str, Any], dict[str, str]]":
    """The parameters with the theory's defaults added (in the order given, defaults last) and
    the kind of each (`kinds`; the width is static when `alpha` is given). A ValueError names
    an unknown or missing parameter."""
    values = dict(parameters) | {n: v for n, v in THEORY_DEFAULTS.items() if n not in parameters}
    kind = kinds(task, values)
    missing = [n for n in required(task) if n not in values and not (n == "Pt" and "alpha" in values)]
    if missing:
        raise ValueError(f"missing parameter(s) {', '.join(missing)} for task {task_name(task)}")
    if "alpha" in values and "Pt" in values:
        raise ValueError("give alpha (= Pt / width) or Pt, not both")
    if "alpha" in values:
        kind["width"] = "static"
    return values, kind


def required(task) -> "list[str]":
    """Parameters without a default: width, temperature, coupling and the generator's sizes."""
    sizes = [n for n, p in generator_arguments(task).items() if p.default is inspect.Parameter.empty]
    return ["width", "temperature", "coupling", *sizes]


def check_numbers(task, name: str, values: np.ndarray, fixed: Mapping[str, Any]) -> None:
    """Raise a ValueError naming `name` if any of `values` is out of its range (eagerly, before
    anything is compiled). Knobs are checked by the generator itself at the extreme values."""
    values = np.asarray(_checks.real(name, values))
    if name in _THEORY_CHECKS:
        _THEORY_CHECKS[name](values)
    else:
        _checks.finite(name, values)
        for value in (values.min(), values.max()):
            pair_arguments(task, {**fixed, name: float(value)})


def pair_arguments(task, values: Mapping[str, Any]) -> "dict[str, Any]":
    """Build the pair eagerly once (to check the generator's arguments): returns them."""
    arguments = {n: v for n, v in values.items() if n in generator_arguments(task)}
    if "alpha" in values:
        arguments["Pt"] = target_size(values["alpha"], values["width"])
    task(jax.random.key(0), **arguments)
    return arguments


def target_size(alpha, width) -> int:
    """Pt = round(alpha N1), at least 1."""
    if not np.isfinite(width):
        raise ValueError("alpha = Pt / width needs a finite width")
    _checks.positive("alpha", alpha)
    return max(1, int(round(float(alpha) * float(width))))


def solve_point(
    task,
    static: Mapping[str, Any],
    key: PRNGKeyArray,
    data: "TaskPair | None",
    numbers: Mapping[str, Float[Array, ""]],
    source: "SingleTaskSolution | None" = None,
) -> "dict[str, Array]":
    """The transfer theory at one point, with everything `OUTPUTS` names (a pure function of
    `key`, `data`, `numbers` and `source`, to be vmapped; `static` and `task` are fixed Python
    values).

    - `static`: the static parameters (sizes, options, `activation`; `alpha` already turned
      into Pt). `data`: the pair when `task` is a `TaskPair` (then `key` is unused).
    - `numbers`: theory parameters and knobs, float64 scalars.
    - `source`: the source's solve (`solve_source`) when it is shared by many points; solved
      here if None.
    """
    pair = _pair(task, static, key, data, numbers)
    if source is None:
        source = solve_source(task, static, key, data, numbers)
    sol = solve_target(source, pair.Xt, pair.yt, numbers["coupling"], False)
    error = sol.test_error(pair.X0, pair.y0)  # NaN unless converged to a physical point
    benefit = benefit_given_error(sol, pair.X0, pair.y0, error.total)  # the error computed once
    values = dict(
        Q_s=sol.Q_s, Q_t=sol.Q_t, Q_tt=sol.Q_tt, Q_st=sol.Q_st,
        test_error=error.total, bias2=error.bias2, variance=error.variance,
        benefit=benefit.total, benefit_prior=benefit.prior, benefit_source=benefit.source,
    )  # fmt: skip
    values = {n: jnp.where(sol.converged, v, jnp.nan) for n, v in values.items()}
    return values | dict(converged=sol.converged, status=sol.result._value, num_steps=sol.num_steps)


def solve_source(task, static, key, data, numbers) -> SingleTaskSolution:
    """The source's single-task solve at one point (`solve_point`'s arguments): it depends on
    the source data and on width, temperature, lambda0, lambda1 and activation only."""
    pair = _pair(task, static, key, data, numbers)
    theory = [numbers[n] for n in ("width", "temperature", "lambda0", "lambda1")]
    return solve_single_task(pair.Xs, pair.ys, *theory, get_activation(static["activation"], "activation"), False)


def _pair(task, static, key, data, numbers) -> TaskPair:
    if data is not None:
        return data
    generator = {n: v for n, v in static.items() if n != "activation"}
    generator.update({n: v for n, v in numbers.items() if n not in THEORY})
    return task(key, **generator)


class Point(NamedTuple):
    """One problem with the task and the static parameters fixed: `solve(key, data, numbers,
    source=None)` is `solve_point` and `source(key, data, numbers)` is `solve_source`."""

    solve: Callable[..., "dict[str, Array]"]
    source: Callable[..., SingleTaskSolution]


def point_function(task, static: Mapping[str, Any]) -> Point:
    """`solve_point` and `solve_source` with the task and the static parameters fixed. The same
    functions for the same (task, static) when they are hashable, so that jitted callers of
    them compile once per shape, not once per call."""
    try:
        return _cached_point_function(task, tuple(static.items()))
    except TypeError:  # a TaskPair task, or an unhashable option
        return _point_function(task, static)


@functools.lru_cache(maxsize=64)
def _cached_point_function(task, static_items):
    return _point_function(task, dict(static_items))


def _point_function(task, static):
    static = dict(static)
    if "alpha" in static:
        static["Pt"] = target_size(static.pop("alpha"), static["width"])
    fixed = {"width": static.pop("width")} if "width" in static else {}

    def full(numbers):
        return {n: jnp.asarray(v, float) for n, v in {**fixed, **numbers}.items()}

    def solve(key, data, numbers, source=None):
        return solve_point(task, static, key, data, full(numbers), source)

    def source(key, data, numbers):
        return solve_source(task, static, key, data, full(numbers))

    return Point(solve, source)


def label(ds, task, fixed: Mapping[str, Any], kind: Mapping[str, str]):
    """Add the fixed parameters to a result Dataset (numbers as scalar coordinates, the rest
    as `attrs`), the task's name, and a `long_name` to each output variable."""
    for n, v in fixed.items():
        if isinstance(v, NUMBERS):
            ds = ds.assign_coords({n: float(v) if kind[n] != "static" else v})
        else:
            ds.attrs[n] = str(v)
    ds.attrs["task"] = task_name(task)
    for name, description in DESCRIPTIONS.items():
        if name in ds:
            ds[name].attrs["long_name"] = description
    if "status" in ds:  # CF flags: the outcome codes and their names (jaxtl.RESULTS)
        ds["status"].attrs.update(flag_values=np.arange(len(RESULTS)), flag_meanings=" ".join(STATUS))
    return ds


STATUS = tuple(sorted(RESULTS._name_to_item, key=lambda n: int(RESULTS._name_to_item[n]._value)))
"""The names of the outcomes (`jaxtl.RESULTS`), indexed by the code in a sweep's `status`."""
