"""Figures of sweeps, error curves and optimization trajectories (matplotlib).

Every function draws into a matplotlib Axes (a new figure when `ax` is None) and returns it;
none calls `plt.show()`, saves or prints. Inputs are the `xarray.Dataset`s that jaxtl returns:
- `benefit_map`: a two-axis sweep (`jaxtl.sweep`) as an image, zero contour included.
- `error_vs_alpha`: test error vs alpha (or any one parameter): theory curves and network
  points with error bars.
- `trajectory`: a `jaxtl.optimize` trajectory, alone or drawn over the sweep grid it searched.
- `learning_curves`: outputs of `jaxtl.learning_curves` against Pt, mean and standard error
  over seeds, as lines (theories) or points (simulations).

Axis scales are chosen from the coordinate values: log when every value is positive and they
span more than two decades (max/min > 100); symlog (linear below the smallest positive value)
when the values are zero and positives spanning more than two decades, as for couplings
gamma = 0, 0.01, ..., 1000; linear otherwise. Coordinates must be finite (a sweep with
gamma = inf is plotted after `ds.drop_sel(coupling=numpy.inf)`).

Units: order parameters Q are dimensionless; test errors, bias2, variance and the benefits
are in labels squared (the benefit is error(gamma = 0) - error(gamma): positive where
transfer helps).
"""

import matplotlib.colors as mcolors
import matplotlib.patches as mpatches
import numpy as np
import xarray as xr
from matplotlib.collections import LineCollection

from .theory._solve import NO_PHYSICAL_ROOT

__all__ = ["benefit_map", "error_vs_alpha", "learning_curves", "trajectory"]

# Axis labels of the task generators' parameters. A theory's parameters and outputs carry
# their own labels (`long_name`, `units`: from the theory's declaration, set by jaxtl.sweep and
# jaxtl.optimize).
_TASK_PARAMETERS = {
    "Ps": "source training set size Ps",
    "Pt": "target training set size Pt",
    "alpha": "load α = P / N1",
    "rho": "teacher overlap ρ",
    "gain": "gain",
    "noise": "label noise",
    "shift": "input shift",
    "feature_perturbation": "feature perturbation",
    "replaced_fraction": "replaced fraction",
    "teacher_perturbation": "teacher perturbation",
    "step": "optimizer step",
}


def _is_benefit(var):
    return str(var).startswith("benefit")


def _parameter_label(name, ds=None):
    """The label of a parameter axis: its coordinate's "long_name" (a theory's parameter), else
    the task's name for it, else its name."""
    if ds is not None and name in ds.coords and "long_name" in ds[name].attrs:
        return str(ds[name].attrs["long_name"])
    return _TASK_PARAMETERS.get(name, str(name))


def _variable_label(name, da=None):
    """The label of a variable: its "long_name" attribute with its "units" (unless
    dimensionless), else its name."""
    attrs = da.attrs if da is not None else {}
    label = str(attrs.get("long_name", name))
    units = attrs.get("units", "1")
    return label if units == "1" else f"{label} ({units})"


def _new_axes(ax):
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt  # only when a figure is made here

    return plt.subplots(constrained_layout=True)[1]


def _variable(ds, var):
    """ds[var] as a DataArray, or a ValueError naming var and the variables there are."""
    if isinstance(ds, xr.DataArray):
        ds = ds.to_dataset(name=ds.name if ds.name is not None else var)
    if not isinstance(ds, xr.Dataset):
        raise TypeError(f"expected an xarray.Dataset, got {type(ds).__name__}")
    if var not in ds.data_vars:
        raise ValueError(f"unknown variable {var!r}; the dataset has: {', '.join(map(str, ds.data_vars)) or 'none'}")
    return ds, ds[var]


def _check_dim(name, dims, what="dimension"):
    if name not in dims:
        raise ValueError(f"unknown {what} {name!r}; the data have: {', '.join(map(str, dims)) or 'none'}")


def _drop_singletons(da, keep):
    """Select index 0 of every dimension of length 1 that is not in `keep`; a ValueError naming
    the other dimensions of length > 1."""
    extra = [d for d in da.dims if d not in keep and da.sizes[d] > 1]
    if extra:
        sizes = ", ".join(f"{d} ({da.sizes[d]} values)" for d in extra)
        raise ValueError(
            f"the data have other dimensions of length > 1: {sizes}; select one value first, "
            f"e.g. ds.sel({extra[0]}=...) or ds.isel({extra[0]}=0)"
        )
    return da.isel({d: 0 for d in da.dims if d not in keep})


def _coordinate(da, dim):
    """The values of dimension `dim` as float64 (its coordinate, or 0..n-1 if it has none)."""
    values = np.asarray(da[dim].values if dim in da.coords else np.arange(da.sizes[dim]))
    if not (np.issubdtype(values.dtype, np.number) or values.dtype == bool):
        raise ValueError(
            f"coordinate {dim!r} is not numeric ({values.tolist()}): it cannot be an axis; "
            f"select one value first, e.g. ds.sel({dim}={values[0]!r})"
        )
    values = values.astype(float)
    if not np.all(np.isfinite(values)):
        raise ValueError(
            f"coordinate {dim!r} has non-finite values ({values[~np.isfinite(values)].tolist()}): "
            f"they cannot be placed on an axis; drop them first, e.g. ds.drop_sel({dim}=numpy.inf)"
        )
    return values


def _scale(values):
    """("log", {}), ("symlog", {"linthresh": smallest positive}) or ("linear", {}) for an axis
    showing `values` (module docstring)."""
    values = np.asarray(values, float)
    positive = values[values > 0]
    if positive.size < 2 or np.any(values < 0) or positive.max() / positive.min() <= 100:
        return "linear", {}
    if positive.size == values.size:
        return "log", {}
    return "symlog", {"linthresh": float(positive.min())}


def _set_axis_scale(ax, which, values):
    name, kwargs = _scale(values)
    (ax.set_xscale if which == "x" else ax.set_yscale)(name, **kwargs)
    return name


def _edges(values, transform):
    """Cell edges around sorted cell centres `values`, midway in the axis' scale (so that cells
    look centred on a log axis too)."""
    t = transform.transform(values)
    if t.size == 1:
        edges = np.array([t[0] - 0.5, t[0] + 0.5])
    else:
        mid = (t[1:] + t[:-1]) / 2
        edges = np.concatenate([[t[0] - (t[1] - t[0]) / 2], mid, [t[-1] + (t[-1] - t[-2]) / 2]])
    return transform.inverted().transform(edges)


def _zero_contour(ax, x, y, Z, var):
    """The level-0 lines of Z (ny, nx) over the grid (x, y), interpolated in the axes' scales;
    None if Z does not change sign. Values within 1e-9 max|Z| of 0 count as 0, and a point at
    0 with no negative neighbour is left out: the benefit at gamma = 0 is 0 up to rounding
    (~1e-16), and that column next to positive values is no border between positive and
    negative transfer."""
    finite = np.abs(Z[np.isfinite(Z)])
    if finite.size == 0:
        return None
    Z = np.where(np.abs(Z) <= 1e-9 * finite.max(), 0.0, Z)
    if not (np.nanmin(Z) < 0 < np.nanmax(Z)):
        return None
    import contourpy  # a matplotlib dependency

    negative = np.pad(np.nan_to_num(Z) < 0, 1)
    near_negative = negative[:-2, 1:-1] | negative[2:, 1:-1] | negative[1:-1, :-2] | negative[1:-1, 2:]
    tx, ty = ax.xaxis.get_transform(), ax.yaxis.get_transform()
    generator = contourpy.contour_generator(
        tx.transform(x),
        ty.transform(y),
        np.ma.masked_where(~np.isfinite(Z) | ((Z == 0) & ~near_negative), Z),
        line_type=contourpy.LineType.Separate,
        corner_mask=False,
    )
    segments = [
        np.column_stack([tx.inverted().transform(line[:, 0]), ty.inverted().transform(line[:, 1])])
        for line in generator.lines(0.0)
        if len(line) > 1
    ]
    if not segments:
        return None
    lines = LineCollection(segments, colors="k", linewidths=1.2, gid="zero contour", label=f"{var} = 0")
    ax.add_collection(lines, autolim=False)
    return lines


def _fixed_parameters(ds, skip):
    """'name=value' for the coordinates of ds with one value (the fixed parameters of a sweep,
    and dimensions of length 1)."""
    parts = []
    for name, coord in ds.coords.items():
        if name in skip or coord.size != 1 or coord.ndim > 1:
            continue
        value = coord.values.reshape(()).item()
        parts.append(f"{name}={value:.4g}" if isinstance(value, (int, float)) else f"{name}={value}")
    return parts


def _title(ds, skip):
    head = [str(ds.attrs[k]) for k in ("task", "activation") if k in ds.attrs]
    parts = head + _fixed_parameters(ds, skip)
    lines, line = [], ""
    for part in parts:  # wrap at ~70 characters
        if line and len(line) + len(part) > 70:
            lines.append(line)
            line = ""
        line = f"{line}, {part}" if line else part
    return "\n".join(lines + [line]) if line else ""


def benefit_map(ds, var="benefit", *, x=None, y=None, ax=None):
    """Draw one variable of a two-axis sweep as an image over its two swept parameters.

    Draws (matplotlib `pcolormesh`, one cell per grid point, cells centred on the grid
    values in the axis' scale):
    - the values of `var`; for the benefit variables (`benefit`, `benefit_prior`,
      `benefit_source`) a diverging colormap (blue: transfer helps, red: it hurts) with
      limits symmetric about 0, so that white is 0; for other variables "viridis";
    - the zero contour, the border between positive and negative values (black line, gid
      "zero contour"), when the values change sign (values within 1e-9 of the largest |value|
      of 0, such as the benefit at gamma = 0, count as 0; a region of zeros bordering only
      positive values is not outlined);
    - the points without a physical stationary point (`status` one of jaxtl's "no physical
      stationary point" outcomes) as hatched cells (gid "no physical stationary point"), and
      the other points that did not converge (`converged` false) as black "x" (gid "not
      converged"), each counted in the legend; failed points hold NaN, so their cells are
      left blank, never coloured;
    - a colour bar labelled with the variable and its units; a title with the dataset's
      "task" and "activation" attributes and its fixed (scalar-coordinate) parameters.

    **Arguments:**
    - `ds`: a `jaxtl.sweep` result, an `xarray.Dataset` whose variables (Q_s, Q_t, Q_tt, Q_st,
      test_error, bias2, variance, benefit, benefit_prior, benefit_source: float; converged:
      bool; num_steps: int) have one value per grid point, with a dimension per swept
      parameter (coordinate: its values). Exactly two dimensions may have length > 1; the
      others (length 1) are taken at their only value. Select the rest first
      (`ds.sel(rho=0.5)`).
    - `var`: the variable to draw (default "benefit"), in its own units (benefits and
      errors: labels squared).
    - `x`, `y`: the dimensions on the horizontal and vertical axes; by default the dimensions
      of length > 1 in the dataset's order. The axis is log-scaled when the coordinate is
      positive and spans more than two decades (module docstring).
    - `ax`: the matplotlib Axes to draw into (default: a new figure).

    **Returns:** the Axes. The image is `ax.collections[0]` (a `QuadMesh`; its array is
    `ds[var]` transposed to (y, x), sorted by coordinate), with its colour bar at
    `.colorbar`.

    Raises ValueError for an unknown `var` or dimension (naming it and the allowed ones), for
    dimensions of length > 1 other than `x` and `y` (naming them), and for non-finite
    coordinates.
    """
    ds, da = _variable(ds, var)
    for name in (x, y):
        if name is not None:
            _check_dim(name, da.dims)
    if x is not None and x == y:
        raise ValueError(f"x and y are both {x!r}; choose two different dimensions")
    long = [d for d in da.dims if da.sizes[d] > 1]
    candidates = [d for d in long + [d for d in da.dims if d not in long] if d not in (x, y)]
    if x is None:
        x = candidates.pop(0) if candidates else None
    if y is None:
        y = candidates.pop(0) if candidates else None
    if x is None or y is None:
        raise ValueError(f"{var!r} has dimensions {tuple(da.dims)}: a map needs two")
    da = _drop_singletons(da, (x, y)).sortby([x, y])
    xs, ys = _coordinate(da, x), _coordinate(da, y)
    Z = np.asarray(da.transpose(y, x).values, dtype=float)

    ax = _new_axes(ax)
    _set_axis_scale(ax, "x", xs)
    _set_axis_scale(ax, "y", ys)
    if _is_benefit(var):
        finite = np.abs(Z[np.isfinite(Z)])
        limit = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
        cmap, norm = "RdBu", mcolors.Normalize(vmin=-limit, vmax=limit)
    else:
        cmap, norm = "viridis", None
    mesh = ax.pcolormesh(
        _edges(xs, ax.xaxis.get_transform()),
        _edges(ys, ax.yaxis.get_transform()),
        np.ma.masked_invalid(Z),
        cmap=cmap,
        norm=norm,
        shading="flat",
    )
    ax.figure.colorbar(mesh, ax=ax, label=_variable_label(var, da))
    handles = []
    if _is_benefit(var):
        contour = _zero_contour(ax, xs, ys, Z, var)
        if contour is not None:
            handles.append(contour)
    handles += _mark_failures(ax, ds, x, y, xs, ys)
    if handles:
        ax.legend(handles=handles, loc="best", fontsize="small", framealpha=0.8)
    ax.set(xlabel=_parameter_label(x, da), ylabel=_parameter_label(y, da))
    ax.set_title(_title(ds, (x, y)), fontsize="small")
    return ax


def _failures(ds, x, y):
    """Boolean (y, x) masks of the points without a physical stationary point and of the other
    failed points, from `status` (its `flag_meanings`) and `converged` when present."""
    def grid(name):
        return np.asarray(_drop_singletons(ds[name], (x, y)).sortby([x, y]).transpose(y, x).values)

    if "converged" not in ds.data_vars:
        return None, None
    failed = ~grid("converged").astype(bool)
    unphysical = np.zeros_like(failed)
    if "status" in ds.data_vars and "flag_meanings" in ds["status"].attrs:
        meanings = ds["status"].attrs["flag_meanings"].split()
        codes = [i for i, m in enumerate(meanings) if m in NO_PHYSICAL_ROOT]
        unphysical = np.isin(grid("status"), codes) & failed
    return unphysical, failed & ~unphysical


def _mark_failures(ax, ds, x, y, xs, ys):
    """Hatch the cells without a physical stationary point and put an "x" on the other failed
    points of a map; returns the legend handles."""
    unphysical, other = _failures(ds, x, y)
    handles = []
    if unphysical is not None and unphysical.any():
        xe, ye = _edges(xs, ax.xaxis.get_transform()), _edges(ys, ax.yaxis.get_transform())
        for jy, jx in zip(*np.nonzero(unphysical)):
            ax.add_patch(mpatches.Rectangle((xe[jx], ye[jy]), xe[jx + 1] - xe[jx], ye[jy + 1] - ye[jy],
                                            fill=False, hatch="////", edgecolor="0.4", lw=0, zorder=2))
        handles.append(mpatches.Patch(fill=False, hatch="////", edgecolor="0.4", gid="no physical stationary point",
                                      label=f"no physical stationary point ({int(unphysical.sum())})"))
    if other is not None and other.any():
        jy, jx = np.nonzero(other)
        handles.append(ax.scatter(xs[jx], ys[jy], marker="x", c="k", s=25, linewidths=1, gid="not converged",
                                  label=f"not converged ({jx.size})", zorder=3))
    return handles


def _mark_failed_steps(ax, xs, bad, color, label):
    """Failed points of a curve (their values are NaN) as "x" along the bottom of the axes."""
    ax.plot(xs[bad], np.full(int(bad.sum()), 0.03), "x", color=color, transform=ax.get_xaxis_transform(),
            gid="not converged", label=label, clip_on=False)


def error_vs_alpha(theory, networks=None, *, x="alpha", var="test_error", ax=None, label="theory",
                   network_label="networks"):
    """Draw the test error against alpha (or another parameter): theory curves and network
    points with error bars.

    Draws a line per theory curve (points that did not converge, where `theory` has
    `converged`, which have no value, as "x" along the bottom of the axes, gid "not
    converged"), and the network measurements as points
    with error bars of one standard error (gid "networks"), in the colour of the theory curve
    of the same value of the extra dimension when both have it (black otherwise). The x axis
    is log-scaled when x is positive and spans more than two decades.

    **Arguments:**
    - `theory`: an `xarray.Dataset` (e.g. a `jaxtl.sweep` result) with dimension `x` and
      variable `var`, shape (n_x,) or, with one more dimension of length > 1, (n_x, n_curves)
      in any order: one curve per value of that dimension, labelled "label, dim = value".
      Other dimensions must have length 1.
    - `networks`: optional `xarray.Dataset` of network measurements: dimension `x` (its
      values need not be the theory's), variables `var` (mean over chains) and `var +
      "_stderr"` (its standard error), in labels squared; it may have the theory's extra
      dimension too (values among the theory's).
    - `x`: the dimension on the horizontal axis (default "alpha", alpha = P / N1).
    - `var`: the variable (default "test_error", labels squared).
    - `ax`: the matplotlib Axes to draw into (default: a new figure).
    - `label`, `network_label`: legend labels of the theory curves and the network points.

    **Returns:** the Axes. The theory curves are `ax.lines` with gid "theory"; the network
    points are `ax.containers` (`ErrorbarContainer`s).

    Raises ValueError for an unknown `var` or `x` (naming the allowed ones), a missing
    `var + "_stderr"` in `networks`, or more than one extra dimension of length > 1.
    """
    theory, da = _variable(theory, var)
    _check_dim(x, da.dims)
    extra = [d for d in da.dims if d != x and da.sizes[d] > 1]
    if len(extra) > 1:
        raise ValueError(
            f"the theory has more than one dimension besides {x!r} of length > 1: {extra}; "
            f"select all but one first (ds.sel(...))"
        )
    hue = extra[0] if extra else None
    keep = (x,) if hue is None else (x, hue)
    da = _drop_singletons(da, keep).sortby(x)
    converged = _drop_singletons(theory["converged"], keep).sortby(x) if "converged" in theory.data_vars else None
    xs = _coordinate(da, x)
    hues = [None] if hue is None else list(da[hue].values)

    if networks is not None:
        networks, mean = _variable(networks, var)
        if f"{var}_stderr" not in networks.data_vars:
            raise ValueError(
                f"networks has no {var + '_stderr'!r} (the standard error of {var!r}); it has: "
                f"{', '.join(map(str, networks.data_vars))}"
            )
        _check_dim(x, mean.dims)
        net_hue = hue if hue is not None and hue in mean.dims else None
        net_keep = (x,) if net_hue is None else (x, net_hue)
        mean = _drop_singletons(mean, net_keep).sortby(x)
        stderr = _drop_singletons(networks[f"{var}_stderr"], net_keep).sortby(x)
        net_xs = _coordinate(mean, x)
    else:
        net_xs = np.array([])

    ax = _new_axes(ax)
    _set_axis_scale(ax, "x", np.concatenate([xs, net_xs]))
    for i, value in enumerate(hues):
        color = f"C{i % 10}"
        curve = da if value is None else da.sel({hue: value})
        name = label if value is None else f"{label}, {hue} = {_format(value)}"
        ax.plot(xs, curve.values, "-", color=color, label=name, gid="theory")
        if converged is not None:
            bad = ~np.asarray(converged if value is None else converged.sel({hue: value}), bool)
            if bad.any():
                _mark_failed_steps(ax, xs, bad, color, "not converged (no value)" if i == 0 else None)
    if networks is not None:
        groups = [(None, "k")] if net_hue is None else [
            (v, f"C{hues.index(v) % 10}" if v in hues else "k") for v in mean[net_hue].values
        ]
        for j, (value, color) in enumerate(groups):
            m = mean if value is None else mean.sel({net_hue: value})
            e = stderr if value is None else stderr.sel({net_hue: value})
            ax.errorbar(net_xs, m.values, yerr=e.values, fmt="o", color=color, ms=4, capsize=3,
                        label=network_label if j == 0 else None, gid="networks")
    ax.set(xlabel=_parameter_label(x, da), ylabel=_variable_label(var, da))
    ax.legend(fontsize="small")
    title = _title(theory, keep)
    if title:
        ax.set_title(title, fontsize="small")
    return ax


def learning_curves(ds, lines=(), points=(), *, x="Pt", ax=None):
    """Draw outputs of `jaxtl.learning_curves` against `x` (default "Pt"): the mean over the
    dimension "seed" and one standard error (std / sqrt(seeds)), as lines with a shaded band
    (the variables in `lines`, gid "line") or as points with error bars (`points`, gid
    "points"), each labelled by its variable's `long_name`. The x axis is log-scaled when the
    values span more than two decades.

    **Arguments:** `ds`: the Dataset, dimensions (x, "seed"); `lines`, `points`: names of its
    variables (at least one in all); `x`; `ax` (default: a new figure). **Returns:** the Axes.
    A ValueError names an unknown variable or dimension.
    """
    names = [*lines, *points]
    if not names:
        raise ValueError("learning_curves needs at least one variable in lines or points")
    for name in names:
        _, da = _variable(ds, name)
        _check_dim(x, da.dims)
        _check_dim("seed", da.dims)
    ax = _new_axes(ax)
    xs = _coordinate(ds, x)
    _set_axis_scale(ax, "x", xs)
    n = ds.sizes["seed"]
    for i, name in enumerate(names):
        da = _drop_singletons(ds[name], (x, "seed")).sortby(x)
        mean, stderr = da.mean("seed").values, da.std("seed").values / np.sqrt(n)
        label, color = str(da.attrs.get("long_name", name)), f"C{i % 10}"
        if name in lines:
            ax.plot(np.sort(xs), mean, "-", color=color, label=label, gid="line")
            ax.fill_between(np.sort(xs), mean - stderr, mean + stderr, color=color, alpha=0.2, lw=0)
        else:
            ax.errorbar(np.sort(xs), mean, yerr=stderr, fmt="o", color=color, ms=4, capsize=3, label=label,
                        gid="points")  # fmt: skip
    ax.set(xlabel=_parameter_label(x, ds), ylabel=f"mean over {n} seeds")
    ax.legend(fontsize="small")
    title = _title(ds, (x, "seed"))
    if title:
        ax.set_title(title, fontsize="small")
    return ax


def _format(value):
    try:
        return f"{float(value):.4g}"
    except (TypeError, ValueError):
        return str(value)


def _trajectory_parameters(traj):
    if not isinstance(traj, xr.Dataset) or "step" not in traj.dims:
        raise ValueError("expected a jaxtl.optimize trajectory: an xarray.Dataset with dimension 'step'")
    if "objective" not in traj.data_vars:
        raise ValueError(f"the trajectory has no 'objective' variable; it has: {', '.join(map(str, traj.data_vars))}")
    if "over" not in traj.attrs:
        raise ValueError("the trajectory has no attribute 'over' naming its optimized parameters")
    return str(traj.attrs["over"]).split()


def _mark_ends(ax, xs, ys):
    ax.plot(xs[:1], ys[:1], "o", ms=9, mfc="none", mec="k", mew=1.5, gid="start", label="start", zorder=4)
    ax.plot(xs[-1:], ys[-1:], "*", ms=13, color="gold", mec="k", gid="end", label="end", zorder=4)


def trajectory(traj, grid=None, *, ax=None):
    """Draw a `jaxtl.optimize` trajectory, alone or over the sweep grid of its parameters.

    - Without `grid`: the objective against the optimizer step (line with points, gid
      "trajectory"; steps whose solve did not converge, which have no value, as "x" along
      the bottom of the axes, gid "not converged").
    - With a two-dimensional `grid` over the trajectory's two optimized parameters: the map
      `benefit_map(grid, var=objective)` (the grid variable named by the trajectory's
      "objective" attribute, "benefit" or "test_error"), with the path of the parameters drawn
      over it (gid "trajectory"), start (open circle, gid "start") and end (star, gid "end")
      marked. The axes follow the grid's dimension order.
    - With a one-dimensional `grid` over the trajectory's one optimized parameter: the grid's
      objective against that parameter (line, gid "grid") and the trajectory's (parameter,
      objective) points joined in step order (gid "trajectory"), start and end marked.

    **Arguments:**
    - `traj`: an `xarray.Dataset` with dimension "step" (0..n): one variable per optimized
      parameter (its value at each step, e.g. "coupling"), "objective" (the objective's value),
      "converged" (bool), and the theory's other outputs; attributes "over" (the optimized
      parameters' names, separated by spaces), "objective" (the output optimized, e.g.
      "benefit" or "test_error"), "maximize" (bool), "evaluations" (theory evaluations).
    - `grid`: optional `jaxtl.sweep` result over the trajectory's optimized parameters (one or
      two; other dimensions of length 1), holding the objective variable.
    - `ax`: the matplotlib Axes to draw into (default: a new figure).

    **Returns:** the Axes (one panel in every case).

    Raises ValueError when the grid does not hold the objective or does not span exactly the
    trajectory's optimized parameters (naming them).
    """
    params = _trajectory_parameters(traj)
    objective = traj.attrs.get("objective", "objective")
    verb = "maximize" if traj.attrs.get("maximize", objective == "benefit") else "minimize"
    summary = f"{verb} {objective} over {', '.join(params) or '?'}"
    if "evaluations" in traj.attrs:
        summary += f" ({int(traj.attrs['evaluations'])} theory evaluations)"
    values = np.asarray(traj["objective"].values, float)

    if grid is None:
        ax = _new_axes(ax)
        steps = np.asarray(traj["step"].values, float)
        ax.plot(steps, values, "-o", ms=3, gid="trajectory", label=objective)
        if "converged" in traj.data_vars:
            bad = ~np.asarray(traj["converged"].values, bool)
            if bad.any():
                _mark_failed_steps(ax, steps, bad, "k", "not converged (no value)")
                ax.legend(fontsize="small")
        ax.set(xlabel=_parameter_label("step"), ylabel=_variable_label(objective, traj.get(objective)))
        ax.set_title(summary, fontsize="small")
        return ax

    grid, field = _variable(grid, objective)
    long = [d for d in field.dims if field.sizes[d] > 1]
    missing = [p for p in params if p not in field.dims]
    if missing or not 1 <= len(params) <= 2 or set(long) - set(params):
        raise ValueError(
            f"the grid must span the trajectory's optimized parameters {params} (one or two); "
            f"its {objective!r} has dimensions of length > 1: {long}"
            + (f", and lacks {missing}" if missing else "")
        )
    if len(params) == 2:
        x, y = (d for d in field.dims if d in params)
        ax = benefit_map(grid, var=objective, x=x, y=y, ax=ax)
        xs, ys = np.asarray(traj[x].values, float), np.asarray(traj[y].values, float)
        ax.plot(xs, ys, "-o", color="k", ms=3, mfc="w", lw=1, gid="trajectory", label="trajectory", zorder=3)
        _mark_ends(ax, xs, ys)
    else:
        (x,) = params
        curve = _drop_singletons(field, (x,)).sortby(x)
        ax = _new_axes(ax)
        gx = _coordinate(curve, x)
        _set_axis_scale(ax, "x", np.concatenate([gx, np.asarray(traj[x].values, float)]))
        ax.plot(gx, curve.values, "-", color="C0", gid="grid", label=f"grid ({gx.size} points)")
        xs = np.asarray(traj[x].values, float)
        ax.plot(xs, values, "-o", color="C1", ms=3, lw=1, gid="trajectory", label="trajectory", zorder=3)
        _mark_ends(ax, xs, values)
        ax.set(xlabel=_parameter_label(x, traj), ylabel=_variable_label(objective, traj.get(objective)))
        ax.set_title(_title(grid, (x,)))
    ax.legend(fontsize="small", loc="best")
    ax.set_title("\n".join(t for t in (summary, ax.get_title()) if t), fontsize="small")
    return ax
