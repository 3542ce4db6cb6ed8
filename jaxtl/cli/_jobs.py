"""The command line's jobs on a TOML configuration: `jaxtl sweep|optimize|compare CONFIG`.

Each job reads and checks its configuration (`_config`: everything that can be checked is,
before computing), runs, writes `<output>.nc` (netCDF, an xarray Dataset, with the seed and
the jaxtl version in its attributes) and `<output>.png`, and prints a summary. `jaxtl <job>
--example` prints the job's complete configuration with every default; existing output files
are overwritten only with `--force`.
"""

import argparse
import importlib.metadata
import sys

import equinox as eqx
import jax
import jax.numpy as jnp
import matplotlib

matplotlib.use("Agg")  # the jobs only write files
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402

from . import _config  # noqa: E402

from .. import _problem, nets, plot  # noqa: E402
from .._optimize import optimize  # noqa: E402
from ..theory import THEORIES  # noqa: E402
from ..theory._solve import NO_PHYSICAL_ROOT  # noqa: E402
from .._sweep import sweep  # noqa: E402
from ..theory._transfer import transfer  # noqa: E402

JOBS = ("sweep", "optimize", "compare")


def run(job: str, argv: "list[str]") -> int:
    """Parse `jaxtl <job> ...` and run the job; 0 on success, 2 on a bad configuration."""
    parser = argparse.ArgumentParser(
        prog=f"jaxtl {job}",
        description=f"{DESCRIPTIONS[job][0].upper()}{DESCRIPTIONS[job][1:]}: writes <output>.nc (netCDF) and <output>.png, after "
        "checking the whole configuration.",
    )
    parser.add_argument("config", nargs="?", help="TOML configuration (see --example)")
    parser.add_argument("--example", action="store_true", help="print a complete configuration with every default")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--force", action="store_true",
                        help="overwrite <output>.nc and <output>.png if they exist (without it, the job stops before "
                        "computing)")
    args = parser.parse_args(argv)
    if args.example:
        print(_config.EXAMPLES[job], end="")
        return 0
    if args.config is None:
        parser.error("a CONFIG file is needed (jaxtl %s --example > %s.toml makes one)" % (job, job))
    try:
        config = _config.load(args.config, job, force=args.force)
        ds, figure = _JOBS[job](config, not args.no_progress)
    except ValueError as error:  # ConfigError (it names the file), or the library's naming the parameter
        where = "" if isinstance(error, _config.ConfigError) else f"{args.config}: "
        print(f"jaxtl {job}: error: {where}{error}", file=sys.stderr)
        return 2
    netcdf, png = _config.output_files(config["output"])
    ds.attrs.update(seed=config["seed"], jaxtl_version=_version())
    ds.to_netcdf(netcdf)
    figure.savefig(png, dpi=120, bbox_inches="tight")
    plt.close(figure)
    print(f"wrote {netcdf} and {png}")
    return 0


def _version() -> str:
    """The installed jaxtl's version (its package metadata), or the module's when jaxtl runs
    from a checkout that is not installed."""
    try:
        return importlib.metadata.version("jaxtl")
    except importlib.metadata.PackageNotFoundError:
        from .. import __version__

        return __version__


def _sweep(config, progress):
    task = _config.TASKS[config["task"]]
    ds = sweep(task, theory=config["theory"], key=jax.random.key(config["seed"]), chunk_size=config["sweep"]["chunk_size"] or None,
               progress=progress, **config["parameters"])
    variable = config["sweep"]["variable"]
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
    ds = optimize(task, theory=config["theory"], key=jax.random.key(config["seed"]), over=over, objective=settings["objective"],
                  steps=settings["steps"], learning_rate=settings["learning_rate"], progress=progress, **parameters)
    best = ds.isel(step=int(ds.objective.argmax("step") if ds.attrs["maximize"] else ds.objective.argmin("step")))
    where = ", ".join(f"{n} = {float(best[n]):.6g}" for n in over)
    print(f"{ds.attrs['evaluations']} evaluations; best {settings['objective']} = {float(best.objective):.6g} at {where}")
    figure, ax = plt.subplots(figsize=(6, 4.5))
    plot.trajectory(ds, ax=ax)
    return ds, figure


def _compare(config, progress):
    task = _config.TASKS[config["task"]]
    axis, points = _config.compare_points(task, config["parameters"])  # every point checked before sampling
    settings = config["compare"]
    samplers = {
        side: nets.Langevin(n_chains=settings[f"{side}_chains"], burn_in=settings[f"{side}_burn_in"],
                            n_samples=settings[f"{side}_samples"], thin=settings[f"{side}_thin"], progress=progress)
        for side in ("source", "target")
    }
    key_task, key_nets = jax.random.split(jax.random.key(config["seed"]))
    source, rows = None, []
    for point in points:
        pair = task(key_task, **_problem.pair_arguments(task, THEORIES["transfer"], point))
        point = _problem.fallbacks(THEORIES["transfer"], point)  # the source temperature: T_t unless given
        theory = transfer((pair.Xs, pair.ys), (pair.Xt, pair.yt),
                          **{p.name: point[p.name] for p in THEORIES["transfer"].parameters})
        if settings["float32"]:
            pair = eqx.tree_at(lambda p: (p.Xs, p.Xt, p.X0), pair, (pair.Xs.astype(jnp.float32),
                               pair.Xt.astype(jnp.float32), pair.X0.astype(jnp.float32)))
        network = {n: point[n] for n in ("lambda0", "lambda1", "activation")}
        network["width"] = int(point["width"])
        if source is None or axis != "coupling":  # the source chains do not depend on the coupling: sampled once
            source = nets.sample_source(key_nets, pair, temperature=point["source_temperature"], **network,
                                        sampler=samplers["source"])
        networks = nets.transfer(key_nets, pair, coupling=point["coupling"], temperature=point["temperature"],
                                 source_temperature=point["source_temperature"], **network, source=source,
                                 target_sampler=samplers["target"])
        comparison = nets.compare(theory, networks, pair.X0, pair.y0)
        print(f"{axis} = {point[axis]}:" if axis else "", comparison, sep="\n")
        rows.append(comparison)
    name = axis or "point"
    quantity = [n.replace("^", "").replace(" ", "_") for n in rows[0].names]

    def stack(field):
        return ((name, "quantity"), np.array([np.asarray(getattr(r, field)) for r in rows]))

    ds = xr.Dataset({"theory": stack("theory"), "networks": stack("networks"), "stderr": stack("stderr")},
                    coords={name: np.array([p[axis] for p in points] if axis else [0], float), "quantity": quantity})
    ds.attrs.update(task=config["task"], parameters=str(config["parameters"]))
    return ds, compare_figure(ds, name)


def compare_figure(ds: xr.Dataset, axis: str):
    """The test error of theory and networks along `axis` (a `jaxtl compare` Dataset). Infinite
    values (coupling = inf), which have no place on the axis, are drawn across it: the theory as
    a dashed line, the networks as a band of one standard error, each labelled in the legend."""
    figure, ax = plt.subplots(figsize=(6, 4.5))
    error = ds.sel(quantity="test_error")
    values = error[axis].values
    finite = np.isfinite(values)
    if finite.any():
        x = values[finite]
        theory = xr.Dataset({"test_error": ((axis,), error.theory.values[finite])}, coords={axis: x})
        measured = xr.Dataset({"test_error": ((axis,), error.networks.values[finite]),
                               "test_error_stderr": ((axis,), error.stderr.values[finite])}, coords={axis: x})
        plot.error_vs_alpha(theory, measured, x=axis, ax=ax)
    else:
        ax.set(xlabel=axis, ylabel="test error")
    for i in np.flatnonzero(~finite):
        at = f"{axis} = {values[i]:g}"
        mean, stderr = float(error.networks[i]), float(error.stderr[i])
        ax.axhline(float(error.theory[i]), color="C1", ls="--", label=f"theory, {at}")
        ax.axhspan(mean - stderr, mean + stderr, color="C1", alpha=0.25, label=f"networks, {at}")
    if not finite.all():
        ax.legend(fontsize="small")
    return figure


_JOBS = {"sweep": _sweep, "optimize": _optimize, "compare": _compare}
DESCRIPTIONS = {
    "sweep": "a theory over a grid of parameters (jaxtl.sweep)",
    "optimize": "gradient-based search of the best parameters (jaxtl.optimize)",
    "compare": "the transfer theory against Langevin-sampled networks (jaxtl.nets)",
}
