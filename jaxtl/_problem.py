"""One problem: a theory on a task, named by its parameters. What `sweep`, `optimize` and the
command line run; the one place that resolves and checks parameters, converts alpha to a
training-set size, and names a result's variables.

A problem is a theory (a `jaxtl.theory.Theory`, by default the transfer theory), a task (a
`TaskPair`, or a generator of one such as `jaxtl.tasks.teacher_pair`) and values for the
parameters of both. The parameters fall into three kinds:

- **theory** (numbers, may vary per point under `jax.vmap`): the theory's `Number`s, e.g.
  width (N1), temperature (T), coupling (gamma), lambda0, lambda1;
- **knobs** (numbers, may vary per point): the generator's keyword arguments with a float
  default, e.g. rho, gain, noise, shift of `teacher_pair`, or the three perturbations of
  `hidden_manifold_pair`;
- **static** (fix the shapes or the code; each value is its own compiled program): the
  generator's other keyword arguments (sizes Ps, Pt, P0, N0, D, also those with an integer
  default such as `mnist_pair`'s; readout; digit classes; flags), the theory's `Option`s
  (activation), and `alpha` = P / N1, which sets the training-set size the theory names
  (`Theory.size`, Pt for both theories here) to round(alpha N1) and makes the width static
  too.

A generator argument whose name is taken by the theory (`hidden_manifold_pair`'s
`activation`) is set with `functools.partial(hidden_manifold_pair, activation=...)`.
"""

import functools
import inspect
import numbers
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from . import _checks, _threads
from .tasks._task_pair import TaskPair
from .theory import get as get_theory
from .theory._protocol import Number, Option, Theory, all_outputs, outputs
from .theory._solve import RESULTS

NUMBERS = (int, float, np.integer, np.floating)


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


def declared(theory: Theory) -> "dict[str, Number | Option]":
    """The theory's parameters by name."""
    return {p.name: p for p in theory.parameters}


def is_knob(parameter: inspect.Parameter) -> bool:
    """A generator argument that may vary per point: one with a real, non-integer default
    (an integer default, e.g. `mnist_pair`'s sizes and side, or a boolean marks it static)."""
    default = parameter.default
    return isinstance(default, numbers.Real) and not isinstance(default, numbers.Integral)


def kinds(task, theory: Theory, names) -> "dict[str, str]":
    """'theory', 'knob' or 'static' for each parameter name; a ValueError for an unknown one."""
    arguments, own = generator_arguments(task), declared(theory)
    allowed = list(dict.fromkeys([*own, *arguments] + (["alpha"] if theory.size in arguments else [])))
    out = {}
    for name in names:
        if name in own:
            out[name] = "theory" if isinstance(own[name], Number) else "static"
        elif name in arguments and is_knob(arguments[name]):
            out[name] = "knob"
        elif name in allowed:
            out[name] = "static"
        else:
            raise ValueError(f"unknown parameter {name!r} for the {theory.name} theory on task {task_name(task)}; "
                             f"allowed: {', '.join(allowed)}")
    return out


def resolve(task, theory, parameters: Mapping[str, Any]) -> "tuple[Theory, dict[str, Any], dict[str, str]]":
    """The theory (`jaxtl.theory.get`), the parameters with the theory's defaults added (in
    the order given, defaults last) and the kind of each (`kinds`; the width is static when
    `alpha` is given). A ValueError names an unknown or missing parameter."""
    theory = get_theory(theory)
    values = dict(parameters) | {p.name: p.default for p in theory.parameters
                                 if p.name not in parameters and p.default is not None}  # fmt: skip
    kind = kinds(task, theory, values)
    sizes = [n for n, p in generator_arguments(task).items() if p.default is inspect.Parameter.empty]
    required = [p.name for p in theory.parameters if p.default is None and not (isinstance(p, Number) and p.fallback)] + sizes
    missing = [n for n in required if n not in values and not (n == theory.size and "alpha" in values)]
    if missing:
        raise ValueError(f"missing parameter(s) {', '.join(missing)} for the {theory.name} theory on task {task_name(task)}")
    if "alpha" in values:
        if theory.size in values:
            raise ValueError(f"give alpha (= {theory.size} / width) or {theory.size}, not both")
        if "width" not in kind:
            raise ValueError(f"alpha = {theory.size} / width needs a theory with a width; {theory.name} has none")
        kind["width"] = "static"
    return theory, values, kind


def check(task, theory: Theory, kind: Mapping[str, str], candidates: Mapping[str, Any]) -> None:
    """Every value of every parameter, checked eagerly (before anything is compiled); a
    ValueError names the first bad one. `candidates` maps each parameter to its value, or to a
    1-D array (numbers) or list (static values) of the values it will take.

    The theory's numbers are checked against their intervals, its options by resolving them;
    the generator is called once (a pair built eagerly) per static value, and at the smallest
    and largest value of each knob, so that it checks its own arguments."""
    own = declared(theory)

    def every(value) -> list:  # the values a parameter takes
        return list(value) if isinstance(value, (list, np.ndarray)) else [value]

    for name, value in candidates.items():  # a single value as given: no "at entry 0" in a message
        array = np.asarray(value) if isinstance(value, (list, np.ndarray)) else value
        if name in own and isinstance(own[name], Number):
            own[name].check(array)
        elif name in own:
            for option in every(value):
                own[name].resolve(option)
        elif kind[name] == "knob":
            _checks.finite(name, array)
    first = {n: every(v)[0] for n, v in candidates.items()}
    settings = [first]
    for name, value in candidates.items():
        if name not in own:
            values = every(value)
            if kind[name] == "knob":
                values = [float(np.min(values)), float(np.max(values))]
            settings += [first | {name: v} for v in values]
    built = []  # each distinct set of the generator's arguments once (a pair built eagerly costs ~10 ms)
    for setting in settings:
        arguments = pair_arguments(task, theory, setting, build=False)
        if not any(_same(arguments, b) for b in built):
            pair_arguments(task, theory, setting)
            built.append(arguments)


def _same(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Whether two sets of a generator's arguments are the same values (arrays by value; values
    NumPy cannot compare as arrays, such as ragged tuples of classes, by ==; False if neither
    says they are equal)."""

    def equal(x, y) -> bool:
        try:
            return bool(np.array_equal(np.asarray(x), np.asarray(y)))
        except (ValueError, TypeError):
            try:
                return bool(x == y)
            except Exception:  # noqa: BLE001 (no verdict: build the pair again)
                return False

    return a.keys() == b.keys() and all(equal(a[n], b[n]) for n in a)


def pair_arguments(task, theory: Theory, values: Mapping[str, Any], *, build: bool = True) -> "dict[str, Any]":
    """The generator's arguments among `values` (alpha turned into the theory's size), after
    building the pair once with them, eagerly, so that the generator checks them (unless not
    `build`). {} for a `TaskPair` (or the class, `point_function`'s stand-in for every pair)."""
    if task is TaskPair or isinstance(task, TaskPair):
        return {}
    arguments = {n: v for n, v in values.items() if n in generator_arguments(task) and n not in declared(theory)}
    if "alpha" in values:
        arguments[theory.size] = training_size(values["alpha"], values["width"])
    if build:
        task(jax.random.key(0), **arguments)
    return arguments


def training_size(alpha, width) -> int:
    """P = round(alpha N1), at least 1: the one place alpha becomes a training-set size."""
    if not np.isfinite(width):
        raise ValueError("alpha = P / width needs a finite width")
    _checks.positive("alpha", alpha)
    return max(1, int(round(float(alpha) * float(width))))


class Point(NamedTuple):
    """One problem with the task, the theory and the static parameters fixed:
    `solve(key, data, numbers, shared=None)` gives every output at one point (a pure function,
    to be vmapped; `data` is the pair when the task is a `TaskPair`, else None and the pair is
    generated from `key`; `numbers` are the theory's numbers and the knobs, float64 scalars),
    `shared(key, data, numbers)` the part of the solve that points may share
    (`Theory.shared`), and `size` the training-set size alpha set (None without alpha)."""

    solve: Callable[..., "dict[str, Array]"]
    shared: Callable[..., Any]
    size: "int | None"


def cached_when_hashable(f):
    """`f` remembering its last 64 results by argument, for hashable arguments (`f` is called
    afresh on unhashable ones): one place for the caches that spare repeated sweeps of one
    problem their tracing and compilation."""
    cached = functools.lru_cache(maxsize=64)(f)

    @functools.wraps(f)
    def call(*args):
        try:
            hash(args)
        except TypeError:
            return f(*args)
        return cached(*args)

    return call


def point_function(task, theory: Theory, static: Mapping[str, Any]) -> Point:
    """The `Point` of (task, theory, static). The same functions for the same arguments when
    they are hashable, so that jitted callers of them compile once per shape, not per call. A
    `TaskPair` task reaches the point as its `data`, so every pair shares one function."""
    return _point_function(TaskPair if isinstance(task, TaskPair) else task, theory, tuple(static.items()))


@cached_when_hashable
def _point_function(task, theory, static_items):
    static = dict(static_items)
    own = declared(theory)
    generator = pair_arguments(task, theory, static, build=False)
    size = generator.get(theory.size) if "alpha" in static else None
    fixed = {n: jnp.asarray(v, float) for n, v in static.items() if kind_of(own, n) == "number"}  # width, with alpha
    options = {n: own[n].resolve(v) for n, v in static.items() if kind_of(own, n) == "option"}

    def parameters(numbers):
        numbers = {n: jnp.asarray(v, float) for n, v in {**fixed, **numbers}.items()}
        pair = {n: v for n, v in numbers.items() if n not in own}
        values = {n: v for n, v in numbers.items() if n in own} | options
        return fallbacks(theory, values), pair

    def pair(key, data, knobs):
        return data if data is not None else task(key, **generator, **knobs)

    def solve(key, data, numbers, shared=None):
        values, knobs = parameters(numbers)
        p = pair(key, data, knobs)
        return outputs(theory, p, values, theory.shared(p, values) if shared is None else shared)

    def share(key, data, numbers):
        values, knobs = parameters(numbers)
        return theory.shared(pair(key, data, knobs), values)

    return Point(solve, share, size)


def shared_is_constant(point: Point, key, data, numbers, varying: "Mapping[str, Array]") -> bool:
    """Whether the theory's shared part (`Theory.shared`) is the same for every value of the
    numbers in `varying` (name -> 1-D array of its values; the rest fixed in `numbers`): traced
    (nothing is computed) with those mapped, its output must not depend on them. The answer
    depends on the shapes alone: kept per (point, shapes, names), so that repeated sweeps of
    one problem trace it once."""
    leaves, tree = jax.tree.flatten((key, data, numbers))
    abstract = tuple(jax.ShapeDtypeStruct(x.shape, x.dtype) if eqx.is_array(x) else x for x in leaves)
    mapped = tuple((n, jnp.asarray(v).dtype) for n, v in varying.items())
    return _shared_is_constant(point, tree, abstract, mapped)


@cached_when_hashable
def _shared_is_constant(point: Point, tree, abstract, mapped) -> bool:
    where = [i for i, x in enumerate(abstract) if isinstance(x, jax.ShapeDtypeStruct)]

    def shared(arrays, values):
        leaves = list(abstract)
        for i, x in zip(where, arrays):
            leaves[i] = x
        key, data, numbers = jax.tree.unflatten(tree, leaves)
        return point.shared(key, data, numbers | values)

    values = {n: jax.ShapeDtypeStruct((1,), dtype) for n, dtype in mapped}
    try:
        jax.eval_shape(jax.vmap(shared, in_axes=(None, 0), out_axes=None), [abstract[i] for i in where], values)
    except ValueError:  # "vmap has mapped output but out_axes is None"
        return False
    return True


def shared(point: Point, key, data, numbers):
    """The theory's shared part at one point, compiled, computed with every thread of the
    LAPACK it calls (`_threads.every_thread_for_lapack`): it is made of few large calls (the
    source's or the target's kernel eigendecomposition)."""
    with _threads.every_thread_for_lapack():
        return jax.block_until_ready(_shared(point, key, data, numbers))


@eqx.filter_jit
def _shared(point: Point, key, data, numbers):
    return point.shared(key, data, numbers)


def fallbacks(theory: Theory, values: Mapping[str, Any]) -> "dict[str, Any]":
    """`values` with each `Number` that has a `fallback` and is not given set to the value of
    its fallback (the one place fallbacks are filled in)."""
    filled = dict(values)
    for p in theory.parameters:
        if isinstance(p, Number) and p.fallback is not None and p.name not in filled:
            filled[p.name] = filled[p.fallback]
    return filled


def kind_of(own: Mapping[str, "Number | Option"], name: str) -> "str | None":
    """'number' or 'option' for a parameter of the theory, None for the task's."""
    if name not in own:
        return None
    return "number" if isinstance(own[name], Number) else "option"


def label(ds, task, theory: Theory, fixed: Mapping[str, Any], kind: Mapping[str, str]):
    """Add the fixed parameters to a result Dataset (numbers as scalar coordinates, the rest
    as `attrs`), the task's and the theory's names, and to each output variable its
    `long_name` and `units` and to each theory parameter its `long_name` (the theory's
    declarations: what figures label their axes with)."""
    for n, v in fixed.items():
        if isinstance(v, NUMBERS):
            ds = ds.assign_coords({n: float(v) if kind[n] != "static" else v})
        else:
            ds.attrs[n] = str(v)
    ds.attrs.update(task=task_name(task), theory=theory.name)
    for output in all_outputs(theory):
        if output.name in ds:
            ds[output.name].attrs.update(long_name=output.description, units=output.unit)
    for parameter in theory.parameters:
        if parameter.name in ds.coords:
            ds[parameter.name].attrs["long_name"] = parameter.description
    if "status" in ds:  # CF flags: the outcome codes and their names (jaxtl.RESULTS)
        ds["status"].attrs.update(flag_values=np.arange(len(RESULTS)), flag_meanings=" ".join(STATUS))
    return ds


def output_names(theory: Theory) -> "list[str]":
    """The names of every output of the theory, in order (`STATUS_OUTPUTS` last)."""
    return [o.name for o in all_outputs(theory)]


def objectives(theory: Theory) -> "dict[str, bool]":
    """The outputs `optimize` can use: name -> whether it is maximized."""
    return {o.name: o.better == "higher" for o in theory.outputs if o.better is not None}


STATUS = tuple(sorted(RESULTS._name_to_item, key=lambda n: int(RESULTS._name_to_item[n]._value)))
"""The names of the outcomes (`jaxtl.RESULTS`), indexed by the code in a sweep's `status`."""

