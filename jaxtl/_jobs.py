"""The command line's jobs on a TOML configuration: `jaxtl sweep|optimize|compare CONFIG`.

Each job reads its configuration (`_config`), runs, writes `<output>.nc` (netCDF, an xarray
Dataset) and `<output>.png`, and prints a summary. `jaxtl <job> --example` prints the job's
complete configuration with every default.
"""

import argparse
import pathlib
import sys

import equinox as eqx
import jax
import jax.numpy as jnp
import matplotlib

matplotlib.use("Agg")  # the jobs only write files
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402

from . import _config, _problem, nets, plot  # noqa: E402
from ._optimize import optimize  # noqa: E402
from ._solve import NO_PHYSICAL_ROOT  # noqa: E402
from ._sweep import sweep  # noqa: E402
from ._transfer import transfer  # noqa: E402

JOBS = ("sweep", "optimize", "compare")


def run(job: str, argv: "list[str]") -> int:
    """Parse `jaxtl <job> ...` and run the job; 0 on success, 2 on a bad configuration."""
    parser = argparse.ArgumentParser(prog=f"jaxtl {job}", description=_DESCRIPTIONS[job])
    parser.add_argument("config", nargs="?", help="TOML configuration (see --example)")
    parser.add_argument("--example", action="store_true", help="print a complete configuration with every default")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    if args.example:
        print(_config.EXAMPLES[job], end="")
        return 0
    if args.config is None:
        parser.error("a CONFIG file is needed (jaxtl %s --example > %s.toml makes one)" % (job, job))
    try:
        config = _config.load(args.config, job)
        ds, figure = _JOBS[job](config, not args.no_progress)
    except ValueError as error:  # ConfigError, and the library's ValueError naming the parameter
        print(f"jaxtl {job}: error: {args.config}: {error}", file=sys.stderr)
        return 2
    output = pathlib.Path(config["output"])
    ds.to_netcdf(output.with_suffix(".nc"))
    figure.savefig(output.with_suffix(".png"), dpi=120, bbox_inches="tight")
    plt.close(figure)
    print(f"wrote {output.with_suffix('.nc')} and {output.with_suffix('.png')}")
    return 0


def _sweep(config, progress):
    task = _config.TASKS[config["task"]]
    ds = sweep(task, key=jax.random.key(config["seed"]), chunk_size=config["sweep"]["chunk_size"] or None,
               progress=progress, **config["parameters"])
    variable = config["sweep"]["variable"]
    if variable not in _problem.OUTPUTS:
        raise _config.ConfigError(f"sweep.variable must be one of {', '.join(_problem.OUTPUTS)}, got {variable!r}")
    print(summary(ds, variable))
    figure, ax = plt.subplots(figsize=(6, 4.5))
    shown = ds.isel({d: 0 for d in ds[variable].dims[2:]})
    shown = shown.sel({d: np.isfinite(shown[d]) for d in shown[variable].dims if shown[d].dtype.kind == "f"})
    if shown[variable].ndim == 2:
        plot.benefit_map(shown, var=variable, ax=ax)
    elif shown[variable].ndim == 1:
        shown[variable].plot(ax=ax, marker="o")
    else:
        ax.set_title(f"{variable} = {float(shown[variable]):.6g} (a single point)")
    if shown[variable].ndim > 2:
        ax.set_title(f"{variable} at {', '.join(f'{d} = {shown[d].item()}' for d in ds[variable].dims[2:])}")
    return ds, figure


def summary(ds, variable: str) -> str:
    """One line on a sweep: how many points converged, how many failed and why (by outcome, as
    `status` names them), and the range of `variable` over the converged points only."""
    n, ok = ds.converged.size, int(ds.converged.sum())
    meanings = ds.status.attrs["flag_meanings"].split()
    codes, counts = np.unique(ds.status.values[~ds.converged.values], return_counts=True)
    why = {meanings[c]: int(k) for c, k in zip(codes, counts)}
    unphysical = sum(k for m, k in why.items() if m in NO_PHYSICAL_ROOT)
    line = f"{n} points, {ok} converged, {unphysical} without a physical stationary point, {n - ok - unphysical} not converged"
    if why:
        line += " (" + ", ".join(f"{m}: {k}" for m, k in why.items()) + ")"
    if ok == 0:
        return line + f"; {variable}: no value"
    values = ds[variable].values[ds.converged.values]
    return line + f"; {variable} over the converged points: min {values.min():.6g}, max {values.max():.6g}"


def _optimize(config, progress):
    task = _config.TASKS[config["task"]]
    settings = config["optimize"]
    over = {n: tuple(b) for n, b in settings["over"].items()}
    parameters = {n: v for n, v in config["parameters"].items() if n not in over or np.ndim(v) == 0}
    ds = optimize(task, key=jax.random.key(config["seed"]), over=over, objective=settings["objective"],
                  steps=settings["steps"], learning_rate=settings["learning_rate"], progress=progress, **parameters)
    best = ds.isel(step=int(ds.objective.argmax("step") if ds.attrs["maximize"] else ds.objective.argmin("step")))
    where = ", ".join(f"{n} = {float(best[n]):.6g}" for n in over)
    print(f"{ds.attrs['evaluations']} evaluations; best {settings['objective']} = {float(best.objective):.6g} at {where}")
    figure, ax = plt.subplots(figsize=(6, 4.5))
    plot.trajectory(ds, ax=ax)
    return ds, figure


def _compare(config, progress):
    task = _config.TASKS[config["task"]]
    parameters = dict(config["parameters"])
    axes = [n for n, v in parameters.items() if isinstance(v, list)]
    if len(axes) > 1:
        raise _config.ConfigError(f"compare takes at most one list in [parameters], got {', '.join(axes)}")
    axis = axes[0] if axes else "point"
    values = parameters[axis] if axes else [0]
    kind = _problem.kinds(task, parameters)
    if kind.get(axis) == "static" and axis not in ("alpha", "Pt", "Ps"):
        raise _config.ConfigError(f"compare: {axis} cannot be a list here")
    settings = config["compare"]
    samplers = {
        side: nets.Langevin(n_chains=settings[f"{side}_chains"], burn_in=settings[f"{side}_burn_in"],
                            n_samples=settings[f"{side}_samples"], thin=settings[f"{side}_thin"], progress=progress)
        for side in ("source", "target")
    }
    key_task, key_nets = jax.random.split(jax.random.key(config["seed"]))
    rows = []
    for value in values:
        point, _ = _problem.resolve(task, parameters | ({axis: value} if axes else {}))
        for n in point:
            if kind.get(n, "static") != "static":
                _problem.check_numbers(task, n, np.asarray([point[n]]), point)
        width = point["width"]
        if not float(width).is_integer() or width < 1:
            raise _config.ConfigError(f"parameters.width must be a whole number of hidden units for the networks, got {width}")
        pair = task(key_task, **_problem.pair_arguments(task, point))
        theory = transfer((pair.Xs, pair.ys), (pair.Xt, pair.yt), **{n: point[n] for n in _problem.THEORY},
                          activation=point["activation"])
        if settings["float32"]:
            pair = eqx.tree_at(lambda p: (p.Xs, p.Xt, p.X0), pair, (pair.Xs.astype(jnp.float32),
                               pair.Xt.astype(jnp.float32), pair.X0.astype(jnp.float32)))
        networks = nets.transfer(key_nets, pair, **{n: point[n] for n in _problem.THEORY if n != "width"},
                                 width=int(width), activation=point["activation"],
                                 source_sampler=samplers["source"], target_sampler=samplers["target"])
        comparison = nets.compare(theory, networks, pair.X0, pair.y0)
        print(f"{axis} = {value}:" if axes else "", comparison, sep="\n")
        rows.append(comparison)
    names = list(rows[0].names)
    quantity = [n.replace("^", "").replace(" ", "_") for n in names]
    dims = (axis, "quantity")

    def stack(field):
        return (dims, np.array([np.asarray(getattr(r, field)) for r in rows]))

    ds = xr.Dataset({"theory": stack("theory"), "networks": stack("networks"), "stderr": stack("stderr")},
                    coords={axis: np.asarray(values, dtype=object if isinstance(values[0], str) else float),
                            "quantity": quantity})
    ds.attrs.update(task=config["task"], parameters=str(parameters))
    figure, ax = plt.subplots(figsize=(6, 4.5))
    error = ds.sel(quantity="test_error")
    finite = np.isfinite(error[axis].values) if error[axis].dtype.kind == "f" else slice(None)
    x = error[axis].values[finite]
    theory_curve = xr.Dataset({"test_error": ((axis,), error.theory.values[finite])}, coords={axis: x})
    measured = xr.Dataset({"test_error": ((axis,), error.networks.values[finite]),
                           "test_error_stderr": ((axis,), error.stderr.values[finite])}, coords={axis: x})
    plot.error_vs_alpha(theory_curve, measured, x=axis, ax=ax)
    return ds, figure


_JOBS = {"sweep": _sweep, "optimize": _optimize, "compare": _compare}
_DESCRIPTIONS = {
    "sweep": "The transfer theory over a grid of parameters (jaxtl.sweep): <output>.nc and a benefit map.",
    "optimize": "Gradient-based search of the best parameters (jaxtl.optimize): <output>.nc and the trajectory.",
    "compare": "The transfer theory against Langevin-sampled networks (jaxtl.nets): <output>.nc and a figure.",
}
