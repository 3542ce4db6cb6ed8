"""Sweeps: the transfer theory over a grid of parameters, vmapped in chunks, sharded over devices."""

import itertools
import math
from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from jaxtyping import PRNGKeyArray
from tqdm.auto import tqdm

from . import _checks, _problem
from ._task_pair import TaskPair

_MEMORY = 2**31  # bytes per device a chunk may use, by the estimate of `_chunk_size`
# At most this many points per device by default: on CPU (jaxlib 0.10.2) a 1000-point sweep at
# Ps = 1000, Pt = 200 hung for good (every thread idle) in its 4th chunk of 83 points, and ran
# through in chunks of 16.
_MAX_CHUNK = 16


def sweep(
    task,
    *,
    key: "PRNGKeyArray | None" = None,
    chunk_size: "int | None" = None,
    devices: "Sequence[jax.Device] | None" = None,
    progress: bool = True,
    **parameters,
) -> xr.Dataset:
    """The transfer theory (`jaxtl.transfer`) on every point of a grid of parameters.

    **Arguments:**
    - `task`: a task generator, e.g. `jaxtl.tasks.teacher_pair`, `hidden_manifold_pair`,
      `digits_pair` or any function `(key, **kwargs) -> TaskPair`; or a fixed `TaskPair`
      (then only the theory's parameters can be swept).
    - `key`: the generator's `jax.random` key (default `jax.random.key(0)`): every point
      uses the same key, so points differ by their parameters only.
    - `**parameters`: values of the generator's arguments and of the theory's (`width`,
      `temperature`, `coupling` required; `lambda0` = `lambda1` = 1 and `activation` = "erf" by
      default), and `alpha` = Pt / width in place of `Pt`. A number fixes a parameter; a 1-D
      array or list makes it a grid axis. Numbers (theory parameters, and generator arguments
      with a numeric default such as `rho`, `gain`, `noise`, `feature_perturbation`) are
      vmapped; sizes and options (`Ps`, `Pt`, `alpha`, `readout`, `activation`, ...; the width
      too when `alpha` is given) are swept by a list, one compiled program per value.
    - `chunk_size`: points per device solved at once (default: the most that fit in about
      2 GiB per device by a rough estimate, at most 16: larger batches of the vmapped solve
      have hung XLA's CPU runtime).
    - `devices`: the devices to shard the grid over (default: all, `jax.devices()`; over
      hosts too once `jax.distributed` is initialized).
    - `progress`: show a progress bar (tqdm).

    **Returns:** an `xarray.Dataset` with one dimension per axis (in the order given), every
    axis a coordinate and every fixed number a scalar coordinate (strings and options in
    `attrs`; with `alpha`, the Pt of each point as a coordinate). Variables per point: `Q_s`,
    `Q_t`, `Q_tt`, `Q_st` (order parameters), `test_error`, `bias2`, `variance` (target test
    error on the pair's test set, labels squared), `benefit`, `benefit_prior`,
    `benefit_source` (`jaxtl.TransferBenefit`), `converged` (bool: the source, prior-only and
    target solves all succeeded; other points are kept, with whatever values the solver
    stopped at) and `num_steps` (Newton steps of the target solve).

    A bad parameter raises a `ValueError` naming it before anything is compiled.
    """
    key = jax.random.key(0) if key is None else key
    devices = list(jax.devices() if devices is None else devices)
    if not devices:
        raise ValueError("devices must name at least one device")
    values, kind = _problem.resolve(task, parameters)
    axes = {n: _axis(n, v, kind[n]) for n, v in values.items() if _is_axis(v, kind[n])}
    fixed = {n: v for n, v in values.items() if n not in axes}
    _check(task, kind, axes, fixed)
    if chunk_size is not None:
        chunk_size = _checks.count("chunk_size", chunk_size)

    static_axes = [n for n in axes if kind[n] == "static"]
    number_axes = [n for n in axes if kind[n] != "static"]
    grid = np.meshgrid(*(axes[n] for n in number_axes), indexing="ij")
    varying = {n: g.ravel() for n, g in zip(number_axes, grid)}
    numbers = {n: v for n, v in fixed.items() if kind[n] != "static"}
    n_points = math.prod(len(v) for v in axes.values())
    blocks, sizes = [], []
    with tqdm(total=n_points, disable=not progress, desc="jaxtl.sweep", unit="point") as bar:
        for combo in itertools.product(*(axes[n] for n in static_axes)):
            static = {n: v for n, v in fixed.items() if kind[n] == "static"} | dict(zip(static_axes, combo))
            point = _problem.point_function(task, static)
            data = task if isinstance(task, TaskPair) else None
            chunk = chunk_size or _chunk_size(task, key, static, number_axes)
            blocks.append(_run(point, key, data, varying, numbers, chunk, devices, bar))
            if "alpha" in static:
                sizes.append(_problem.target_size(static["alpha"], static["width"]))

    shape = tuple(len(axes[n]) for n in static_axes + number_axes)
    data_vars = {
        name: (static_axes + number_axes, np.stack([b[name] for b in blocks]).reshape(shape))
        for name in _problem.OUTPUTS
    }
    ds = xr.Dataset(data_vars, coords={n: _coordinate(axes[n]) for n in axes})
    ds = ds.transpose(*axes)
    if sizes:
        pt_dims = [n for n in static_axes if n in ("alpha", "width")]
        pt = np.array(sizes).reshape([len(axes[n]) for n in static_axes])
        other = tuple(i for i, n in enumerate(static_axes) if n not in pt_dims)
        ds = ds.assign_coords(Pt=(pt_dims, pt.max(axis=other) if other else pt))
    return _problem.label(ds, task, fixed, kind)


def _is_axis(value, kind: str) -> bool:
    """Theory parameters and knobs: any 1-D array-like is an axis; static ones: a list."""
    if kind == "static":
        return isinstance(value, list)
    return np.ndim(value) > 0


def _axis(name: str, value, kind: str) -> np.ndarray:
    if kind == "static":
        axis = list(value)
    else:
        axis = np.asarray(value, float)
        if axis.ndim != 1:
            raise ValueError(f"{name} must be a number or a 1-D sequence of numbers, got shape {axis.shape}")
    if len(axis) == 0:
        raise ValueError(f"{name} must have at least one value")
    return axis


def _check(task, kind, axes, fixed) -> None:
    """Every value of every parameter, checked eagerly; the pair built once per static value."""
    first = fixed | {n: v[0] for n, v in axes.items()}
    for n in [*axes, *fixed]:
        if kind[n] != "static":
            _problem.check_numbers(task, n, axes.get(n, fixed.get(n)), first)
    if not isinstance(task, TaskPair):
        for n, values in axes.items():
            if kind[n] == "static" and n != "activation":
                for v in values:
                    _problem.pair_arguments(task, first | {n: v})
        if not any(kind[n] == "static" for n in axes):
            _problem.pair_arguments(task, first)
    for v in axes.get("activation", [fixed.get("activation")]):
        _checks.activation("activation", v)


def _coordinate(axis) -> np.ndarray:
    if isinstance(axis, np.ndarray):
        return axis
    if all(isinstance(v, (*_problem.NUMBERS, str)) for v in axis):
        return np.asarray(axis)
    return np.asarray([str(v) for v in axis])


def _chunk_size(task, key, static, number_axes) -> int:
    """Points per device whose vmapped solve should fit in `_MEMORY`: a rough count of the
    Pt x Pt, Pt x P0 and Pt x Ps arrays one point keeps (and Ps x Ps if lambda0 varies)."""
    if isinstance(task, TaskPair):
        shapes = task
    else:
        arguments = {n: v for n, v in static.items() if n in _problem.generator_arguments(task)}
        if "alpha" in static:
            arguments["Pt"] = _problem.target_size(static["alpha"], static["width"])
        shapes = jax.eval_shape(lambda k: task(k, **arguments), key)
    Ps, Pt, P0 = shapes.Xs.shape[0], shapes.Xt.shape[0], shapes.X0.shape[0]
    per_point = 8 * (40 * Pt**2 + 8 * Pt * P0 + 4 * Pt * Ps + (10 * Ps**2 if "lambda0" in number_axes else 0))
    return int(np.clip(_MEMORY // per_point, 1, _MAX_CHUNK))


def _run(point, key, data, varying, numbers, chunk, devices, bar) -> "dict[str, np.ndarray]":
    """`point` on every entry of the flattened axes `varying`, `chunk * len(devices)` at a time,
    each batch sharded over `devices` (padded with copies of the last point)."""
    mesh = Mesh(np.asarray(devices), ("points",))
    sharding = NamedSharding(mesh, PartitionSpec("points"))
    varying = varying | {"_": np.zeros(len(next(iter(varying.values()))) if varying else 1)}  # never empty
    n_points = len(varying["_"])
    batch = min(chunk, -(-n_points // len(devices))) * len(devices)
    numbers = {n: jnp.asarray(v, float) for n, v in numbers.items()}
    outputs = []
    for start in range(0, n_points, batch):
        index = np.minimum(np.arange(start, start + batch), n_points - 1)
        values = {n: _shard(np.asarray(v, float)[index], sharding) for n, v in varying.items()}
        out = _solve(point, key, data, values, numbers)
        if jax.process_count() > 1:
            out = multihost_utils.process_allgather(out, tiled=True)
        stop = min(batch, n_points - start)
        outputs.append({n: np.asarray(v)[:stop] for n, v in out.items()})
        bar.update(stop)
    return {n: np.concatenate([o[n] for o in outputs]) for n in _problem.OUTPUTS}


@eqx.filter_jit
def _solve(point, key, data, values, numbers):
    """`point` vmapped over the entries of `values` (the axis "_" only sets the batch size)."""

    def at(values):
        return point(key, data, numbers | {n: v for n, v in values.items() if n != "_"})

    return jax.vmap(at)(values)


def _shard(x: np.ndarray, sharding: NamedSharding) -> jax.Array:
    return jax.make_array_from_callback(x.shape, sharding, lambda index: x[index])
