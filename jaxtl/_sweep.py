"""Sweeps: a theory over a grid of parameters, vmapped in chunks, sharded over devices."""

import itertools
import math
from collections.abc import Sequence
from typing import Any

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
from .tasks._task_pair import TaskPair
from .theory import Theory

_MEMORY = 2**31  # bytes per device a chunk may use, by the estimate of `_chunk_size`


def sweep(
    task,
    *,
    theory: "str | Theory" = "transfer",
    key: "PRNGKeyArray | None" = None,
    chunk_size: "int | None" = None,
    devices: "Sequence[jax.Device] | None" = None,
    progress: bool = True,
    **parameters,
) -> xr.Dataset:
    """A theory (by default the transfer theory, `jaxtl.transfer`) on every point of a grid of
    parameters.

    **Arguments:**
    - `task`: a task generator, e.g. `jaxtl.tasks.teacher_pair`, `hidden_manifold_pair`,
      `digits_pair`, `mnist_pair` or any function `(key, **kwargs) -> TaskPair`; or a fixed
      `TaskPair` (then only the theory's parameters can be swept).
    - `theory`: "transfer" (default), "single_task" (trained on the pair's target side, the
      coupling gamma = 0 of the transfer theory), or any `jaxtl.theory.Theory`
      (`jaxtl.theory.THEORIES` lists the built-in ones; a theory's `parameters` and `outputs`
      say what it takes and gives).
    - `key`: the generator's `jax.random` key (default `jax.random.key(0)`): every point
      uses the same key, so points differ by their parameters only.
    - `**parameters`: values of the generator's arguments and of the theory's (for the
      transfer theory `width`, `temperature` (the target's), `coupling` required;
      `source_temperature` = `temperature`, `lambda0` = `lambda1` = 1 and `activation` = "erf"
      by default), and `alpha` = Pt / width in place of `Pt`. A
      number fixes a parameter; a 1-D array or list makes it a grid axis. Numbers (theory
      parameters, and generator arguments with a float default such as `rho`, `gain`,
      `noise`, `feature_perturbation`) are vmapped; sizes and options (`Ps`, `Pt`, `alpha`, `readout`, `activation`, ...; the width
      too when `alpha` is given) are swept by a list, one compiled program per value.
    - `chunk_size`: points per device solved at once (default: the most that fit in about
      2 GiB per device by the theory's rough estimate, at most its `max_chunk`: 64 for the
      transfer theory, 4096 for the single task, 32 for the others). A chunk is a block of the grid,
      filled from the last axis: the work shared by its points (the source's solve, and each
      coupling's kernels and source-target products) is done once per block, not per point.
    - `devices`: the devices to shard the grid over (default: all, `jax.devices()`; over
      hosts too once `jax.distributed` is initialized). Each device solves its own blocks
      (`jax.shard_map`), with no communication while it solves.
    - `progress`: show a progress bar (tqdm).

    **Returns:** an `xarray.Dataset` with one dimension per axis (in the order given), every
    axis a coordinate and every fixed number a scalar coordinate (strings and options in
    `attrs`; with `alpha`, the Pt of each point as a coordinate). Variables per point: the
    theory's outputs (each with its `long_name` and `units`; for the transfer theory `Q_s`,
    `Q_t`, `Q_tt`, `Q_st` (order parameters), `test_error`, `bias2`, `variance` (target test
    error on the pair's test set, labels squared), `benefit`, `benefit_prior`,
    `benefit_source` (`jaxtl.TransferBenefit`)), then `converged` (bool: every solve
    succeeded and its root is physical), `status` (the outcome's code in `jaxtl.RESULTS`, its
    names in the attribute `flag_meanings`: why a point failed, e.g. `overlap_not_psd` for a
    transfer root with Q_st^2 > Q_s Q_tt) and `num_steps` (solver evaluations). Points that
    failed are kept, marked, with NaN in every value: nothing unphysical enters a map, a
    minimum or a maximum.

    A bad parameter raises a `ValueError` naming it before anything is compiled.
    """
    key = jax.random.key(0) if key is None else key
    devices = list(jax.devices() if devices is None else devices)
    if not devices:
        raise ValueError("devices must name at least one device")
    theory, values, kind = _problem.resolve(task, theory, parameters)
    axes = {n: _axis(n, v, kind[n]) for n, v in values.items() if _is_axis(v, kind[n])}
    fixed = {n: v for n, v in values.items() if n not in axes}
    _problem.check(task, theory, kind, fixed | axes)
    if chunk_size is not None:
        chunk_size = _checks.count("chunk_size", chunk_size)

    static_axes = [n for n in axes if kind[n] == "static"]
    number_axes = [n for n in axes if kind[n] != "static"]
    # Nesting order of the vmaps: theory parameters outside, knobs inside, so that a block
    # along a knob (rho) shares the work of one coupling; the theory's `innermost` last.
    nest = sorted(number_axes, key=lambda n: (n in theory.innermost, kind[n] != "theory"))
    order = [nest.index(n) for n in number_axes]
    numbers = {n: v for n, v in fixed.items() if kind[n] != "static"}
    n_points = math.prod(len(v) for v in axes.values())
    blocks, sizes = [], []
    with tqdm(total=n_points, disable=not progress, desc="jaxtl.sweep", unit="point") as bar:
        for combo in itertools.product(*(axes[n] for n in static_axes)):
            static = {n: v for n, v in fixed.items() if kind[n] == "static"} | dict(zip(static_axes, combo))
            point = _problem.point_function(task, theory, static)
            data = task if isinstance(task, TaskPair) else None
            chunk = chunk_size or _chunk_size(task, theory, key, static, number_axes)
            out = _run(point, key, data, {n: axes[n] for n in nest}, numbers, chunk, devices, bar)
            blocks.append({n: np.transpose(v, order).ravel() for n, v in out.items()})
            if point.size is not None:
                sizes.append(point.size)

    shape = tuple(len(axes[n]) for n in static_axes + number_axes)
    data_vars = {
        name: (static_axes + number_axes, np.stack([b[name] for b in blocks]).reshape(shape))
        for name in _problem.output_names(theory)
    }
    ds = xr.Dataset(data_vars, coords={n: _coordinate(axes[n]) for n in axes})
    ds = ds.transpose(*axes)
    if sizes:
        pt_dims = [n for n in static_axes if n in ("alpha", "width")]
        pt = np.array(sizes).reshape([len(axes[n]) for n in static_axes])
        other = tuple(i for i, n in enumerate(static_axes) if n not in pt_dims)
        ds = ds.assign_coords({theory.size: (pt_dims, pt.max(axis=other) if other else pt)})
    return _problem.label(ds, task, theory, fixed, kind)


def _is_axis(value, kind: str) -> bool:
    """Theory parameters and knobs: any 1-D array-like is an axis; static ones: a list."""
    if kind == "static":
        return isinstance(value, list)
    return np.ndim(value) > 0


def _axis(name: str, value, kind: str) -> np.ndarray:
    if kind == "static":
        axis = list(value)
    else:
        axis = np.asarray(_checks.real(name, value))
        if axis.ndim != 1:
            raise ValueError(f"{name} must be a number or a 1-D sequence of numbers, got shape {axis.shape}")
    if len(axis) == 0:
        raise ValueError(f"{name} must have at least one value")
    return axis


def _coordinate(axis) -> np.ndarray:
    if isinstance(axis, np.ndarray):
        return axis
    if all(isinstance(v, (*_problem.NUMBERS, str)) for v in axis):
        return np.asarray(axis)
    return np.asarray([str(v) for v in axis])


def _chunk_size(task, theory, key, static, number_axes) -> int:
    """Points per device whose vmapped solve should fit in `_MEMORY` by the theory's estimate
    (`Theory.point_bytes`), at most `Theory.max_chunk` (the transfer theory's 64: at
    Ps = 1000, Pt = 200, over 10 couplings x 50 rho, blocks of 50 points (each coupling's
    kernels built once) ran faster a point than blocks of 25, and blocks of 100 no faster;
    benchmarks/README.md, `benchmarks/transfer_sweep.py --chunk-sizes`)."""
    if isinstance(task, TaskPair):
        shapes = task
    else:
        arguments = tuple(_problem.pair_arguments(task, theory, static, build=False).items())
        shapes = _pair_shapes(task, arguments, jax.ShapeDtypeStruct(key.shape, key.dtype))
    Ps, Pt, P0 = shapes.Xs.shape[0], shapes.Xt.shape[0], shapes.X0.shape[0]
    per_point = theory.point_bytes(Ps, Pt, P0, tuple(number_axes))
    return int(np.clip(_MEMORY // per_point, 1, theory.max_chunk))


@_problem.cached_when_hashable
def _pair_shapes(task, arguments: "tuple[tuple[str, Any], ...]", key: jax.ShapeDtypeStruct):
    """The shapes of the pair `task` generates with `arguments` (traced once per arguments)."""
    return jax.eval_shape(lambda k: task(k, **dict(arguments)), key)


def _run(point, key, data, axes, numbers, chunk, devices, bar) -> "dict[str, np.ndarray]":
    """`point` on the grid spanned by the 1-D arrays `axes` (name -> values, outermost first),
    in blocks of at most `chunk` points per device, one block per device per call.

    A block is a sub-grid, solved by nested `jax.vmap`s, one per axis, so that what depends on
    the outer axes only (the kernels and the source-target products of one coupling) is
    computed once per block, not once per point; the theory's shared part (the source's solve),
    when no swept number changes it, once for the whole grid. Returns each output flattened over the grid."""
    axes = axes | {"_": np.zeros(1)}  # never empty
    names, sizes = list(axes), [len(v) for v in axes.values()]
    block = _block_shape(sizes, chunk)
    first = {n: jnp.asarray(v[0], float) for n, v in axes.items() if n != "_"}
    numbers = {n: jnp.asarray(v, float) for n, v in numbers.items()}
    shared = None
    varying = {n: jnp.asarray(v, float) for n, v in axes.items() if n != "_"}
    if _problem.shared_is_constant(point, key, data, numbers, varying):
        shared = _problem.shared(point, key, data, numbers | first)
    mesh = Mesh(np.asarray(devices), ("points",))
    sharding = NamedSharding(mesh, PartitionSpec("points"))
    grid = {}
    corners = list(itertools.product(*(range(0, n, b) for n, b in zip(sizes, block))))
    for start in range(0, len(corners), len(devices)):
        group = corners[start : start + len(devices)]
        group += [group[-1]] * (len(devices) - len(group))  # pad with copies
        index = [[np.minimum(c + np.arange(b), n - 1) for c, b, n in zip(corner, block, sizes)] for corner in group]
        values = [_shard(np.stack([axes[n][i[a]] for i in index]), sharding) for a, n in enumerate(names)]
        out = _solve(point, key, data, numbers, shared, tuple(names), mesh, values)
        if jax.process_count() > 1:
            out = multihost_utils.process_allgather(out, tiled=True)
        out = {n: np.asarray(v) for n, v in out.items()}
        grid = grid or {n: np.empty(sizes, v.dtype) for n, v in out.items()}
        for d, corner in enumerate(dict.fromkeys(group)):
            where = tuple(slice(c, min(c + b, n)) for c, b, n in zip(corner, block, sizes))
            for n in grid:
                grid[n][where] = out[n][d][tuple(slice(0, w.stop - w.start) for w in where)]
            bar.update(math.prod(w.stop - w.start for w in where))
    return {n: g[..., 0] for n, g in grid.items()}


def _block_shape(sizes: Sequence[int], chunk: int) -> "tuple[int, ...]":
    """A block of at most `chunk` points, filled from the innermost axis: an axis is split (in
    near-equal parts) only if it does not fit, and then every axis outside it has length 1."""
    block, room = [], chunk
    for n in reversed(sizes):
        b = -(-n // -(-n // room))  # n in ceil(n / room) near-equal parts
        block.append(b)
        room = room // b if b == n else 1
    return tuple(reversed(block))


@eqx.filter_jit
def _solve(point, key, data, numbers, shared, names, mesh, values):
    """`point` on a batch of blocks, one block per device of `mesh`: `values[a]`, the values
    of `names[a]`, has shape (blocks, block length along that axis).

    Each device solves its own blocks in its own loop (`jax.shard_map`): no collective inside
    the Newton iterations, whose stopping test would otherwise reduce over every device."""
    arrays, rest = eqx.partition((key, data, numbers, shared), eqx.is_array)

    def on_device(arrays, *values):
        key, data, numbers, shared = eqx.combine(arrays, rest)

        def at(*values):
            return point.solve(key, data, numbers | {n: v for n, v in zip(names, values) if n != "_"}, shared)

        return jax.vmap(_grid_map(at, len(names)))(*values)

    spec = PartitionSpec("points")
    in_specs = (PartitionSpec(), *(spec for _ in values))
    return jax.shard_map(on_device, mesh=mesh, in_specs=in_specs, out_specs=spec, check_vma=False)(arrays, *values)


def _grid_map(f, n_axes):
    """f(*values) over the outer product of `n_axes` 1-D arrays, one `jax.vmap` per axis
    (outermost first): outputs of shape (len(values[0]), len(values[1]), ...)."""
    for axis in reversed(range(n_axes)):
        f = jax.vmap(f, in_axes=tuple(0 if a == axis else None for a in range(n_axes)))
    return f


def _shard(x: np.ndarray, sharding: NamedSharding) -> jax.Array:
    return jax.make_array_from_callback(x.shape, sharding, lambda index: x[index])
