"""jaxtl.plot on small synthetic datasets with the layouts of jaxtl.sweep and jaxtl.optimize."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import xarray as xr  # noqa: E402
from matplotlib.collections import QuadMesh  # noqa: E402

import jaxtl  # noqa: E402
from jaxtl import _problem, plot  # noqa: E402
from jaxtl.tasks import teacher_pair  # noqa: E402

VARIABLES = tuple(o.name for o in jaxtl.theory.THEORIES["transfer"].outputs)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def sweep(coords, benefit, converged=None, **fixed):
    """A jaxtl.sweep-shaped Dataset: dims/coords from `coords` (ordered dict), `benefit` on the
    grid, the other variables derived from it, fixed parameters as scalar coordinates."""
    dims = tuple(coords)
    benefit = np.asarray(benefit, float)
    data = {name: (dims, benefit * (i + 1) + 0.1 * i) for i, name in enumerate(VARIABLES)}
    data["benefit"] = (dims, benefit)
    data["test_error"] = (dims, 0.5 - benefit)
    data["converged"] = (dims, np.ones(benefit.shape, bool) if converged is None else converged)
    data["num_steps"] = (dims, np.full(benefit.shape, 5))
    fixed = {k: v for k, v in {"width": 200.0, "temperature": 0.05, **fixed}.items() if k not in coords}
    ds = xr.Dataset(data, coords={**{k: np.asarray(v, float) for k, v in coords.items()}, **fixed},
                    attrs={"activation": "erf"})
    return _problem.label(ds, teacher_pair, jaxtl.theory.THEORIES["transfer"], {}, {})  # names and units, as jaxtl.sweep


def gids(artists, gid):
    return [a for a in artists if a.get_gid() == gid]


def mesh_of(ax):
    (mesh,) = [c for c in ax.collections if isinstance(c, QuadMesh)]
    return mesh


GAMMA = np.logspace(-2, 2, 9)  # four decades
RHO = np.linspace(0.0, 1.0, 6)


def test_benefit_map_image_is_the_data_and_scales():
    b = np.arange(GAMMA.size * RHO.size, dtype=float).reshape(GAMMA.size, RHO.size) - 20
    ds = sweep({"coupling": GAMMA, "rho": RHO}, b)
    ax = plot.benefit_map(ds)
    image = np.asarray(mesh_of(ax).get_array()).reshape(RHO.size, GAMMA.size)
    np.testing.assert_array_equal(image, b.T)  # x = coupling (first dim), y = rho
    assert ax.get_xscale() == "log" and ax.get_yscale() == "linear"
    assert "coupling" in ax.get_xlabel() and "ρ" in ax.get_ylabel()
    assert "labels" in mesh_of(ax).colorbar.ax.get_ylabel()
    # Cells are centred on the grid values in the axis' scale: geometric midpoints in gamma.
    coords = mesh_of(ax).get_coordinates()  # (ny+1, nx+1, 2)
    np.testing.assert_allclose(coords[0, 1:-1, 0], np.sqrt(GAMMA[1:] * GAMMA[:-1]))
    np.testing.assert_allclose(coords[1:-1, 0, 1], (RHO[1:] + RHO[:-1]) / 2)

    # Swapped axes, unsorted coordinates: the image follows the sorted coordinates.
    order = np.array([3, 0, 5, 1, 4, 2])
    ax = plot.benefit_map(ds.isel(rho=order), x="rho", y="coupling")
    np.testing.assert_array_equal(np.asarray(mesh_of(ax).get_array()).reshape(GAMMA.size, RHO.size), b)
    assert ax.get_xscale() == "linear" and ax.get_yscale() == "log"


def test_benefit_map_symlog_for_a_coupling_grid_with_zero():
    gamma = np.concatenate([[0.0], np.logspace(-2, 3, 6)])
    ds = sweep({"coupling": gamma, "rho": RHO}, np.ones((gamma.size, RHO.size)))
    ax = plot.benefit_map(ds)
    assert ax.get_xscale() == "symlog"
    assert plot._scale(np.array([0.0, 0.5, 1.0]))[0] == "linear"
    assert plot._scale(np.array([1.0, 10.0, 100.0]))[0] == "linear"  # exactly two decades
    assert plot._scale(np.array([1.0, 10.0, 101.0]))[0] == "log"
    assert plot._scale(np.array([-1.0, 1.0, 1000.0]))[0] == "linear"


@pytest.mark.parametrize("var", ["benefit", "benefit_prior", "benefit_source"])
def test_benefit_norm_is_centred_on_zero(var):
    b = np.linspace(0.01, 0.3, GAMMA.size * RHO.size).reshape(GAMMA.size, RHO.size)  # all positive
    norm = mesh_of(plot.benefit_map(sweep({"coupling": GAMMA, "rho": RHO}, b), var=var)).norm
    assert norm(0.0) == pytest.approx(0.5)
    assert norm.vmin == pytest.approx(-norm.vmax) and norm.vmax >= b.max()


def test_other_variables_are_not_centred():
    b = np.linspace(0.01, 0.3, GAMMA.size * RHO.size).reshape(GAMMA.size, RHO.size)
    ds = sweep({"coupling": GAMMA, "rho": RHO}, b)
    ax = plot.benefit_map(ds, var="test_error")
    norm = mesh_of(ax).norm
    assert norm.vmin == pytest.approx(0.5 - 0.3) and norm.vmax == pytest.approx(0.5 - 0.01)
    assert not gids(ax.collections, "zero contour")  # test_error has no zero contour


def test_zero_contour_where_the_benefit_changes_sign():
    G, R = np.meshgrid(GAMMA, RHO, indexing="ij")
    ax = plot.benefit_map(sweep({"coupling": GAMMA, "rho": RHO}, R - 0.45))
    (contour,) = gids(ax.collections, "zero contour")
    points = np.concatenate(contour.get_segments())
    np.testing.assert_allclose(points[:, 1], 0.45)  # linear in rho: exactly at 0.45
    assert points[:, 0].min() == pytest.approx(GAMMA[0]) and points[:, 0].max() == pytest.approx(GAMMA[-1])

    # On the log axis the line is interpolated in log gamma: log10(gamma) = 0.5.
    ax = plot.benefit_map(sweep({"coupling": GAMMA, "rho": RHO}, np.log10(G) - 0.5))
    points = np.concatenate(gids(ax.collections, "zero contour")[0].get_segments())
    np.testing.assert_allclose(points[:, 0], 10**0.5)


def test_no_zero_contour_without_a_sign_change():
    G, R = np.meshgrid(GAMMA, RHO, indexing="ij")
    ax = plot.benefit_map(sweep({"coupling": GAMMA, "rho": RHO}, 1 + G * R))
    assert not gids(ax.collections, "zero contour")
    # Zero at gamma = 0 (as the benefit always is) next to positive values: no border either.
    gamma = np.concatenate([[0.0], GAMMA])
    b = np.vstack([np.zeros((1, RHO.size)), np.full((GAMMA.size, RHO.size), 0.1)])
    ax = plot.benefit_map(sweep({"coupling": gamma, "rho": RHO}, b))
    assert not gids(ax.collections, "zero contour")
    b[0] = np.where(np.arange(RHO.size) % 2, 1e-17, -1e-17)  # rounding noise, as jaxtl.transfer gives
    ax = plot.benefit_map(sweep({"coupling": gamma, "rho": RHO}, b))
    assert not gids(ax.collections, "zero contour")
    # ... but with negative values elsewhere, only the real border is drawn.
    b[1:, :3] = -0.1  # rho <= 0.4 negative, rho >= 0.6 positive
    ax = plot.benefit_map(sweep({"coupling": gamma, "rho": RHO}, b))
    points = np.concatenate(gids(ax.collections, "zero contour")[0].get_segments())
    np.testing.assert_allclose(points[:, 1], 0.5)  # midway between rho = 0.4 and 0.6


def test_non_converged_points_are_marked():
    converged = np.ones((GAMMA.size, RHO.size), bool)
    bad = [(0, 5), (4, 2), (8, 0)]
    for i, j in bad:
        converged[i, j] = False
    ds = sweep({"coupling": GAMMA, "rho": RHO}, np.ones(converged.shape), converged)
    (marks,) = gids(plot.benefit_map(ds).collections, "not converged")
    got = sorted(map(tuple, np.asarray(marks.get_offsets()).tolist()))
    np.testing.assert_allclose(got, sorted((GAMMA[i], RHO[j]) for i, j in bad))
    assert not gids(plot.benefit_map(sweep({"coupling": GAMMA, "rho": RHO}, np.ones(converged.shape))).collections,
                    "not converged")


def test_unphysical_points_are_hatched_and_counted_apart_from_other_failures():
    """Cells whose status is a "no physical stationary point" outcome are hatched (and blank:
    their values are NaN), other failures get an "x"; the legend counts each kind."""
    from jaxtl._problem import STATUS

    converged = np.ones((GAMMA.size, RHO.size), bool)
    status = np.zeros(converged.shape, int)
    benefit = np.ones(converged.shape)
    for (i, j), name in {(0, 5): "overlap_not_psd", (4, 2): "field_not_psd", (8, 0): "nonlinear_max_steps_reached"}.items():
        converged[i, j], status[i, j], benefit[i, j] = False, STATUS.index(name), np.nan
    ds = sweep({"coupling": GAMMA, "rho": RHO}, benefit, converged)
    ds["status"] = (("coupling", "rho"), status, {"flag_meanings": " ".join(STATUS)})
    ax = plot.benefit_map(ds)
    hatched = [p for p in ax.patches if p.get_hatch() == "////"]
    assert len(hatched) == 2
    def holds(p, x, y):
        return p.get_x() < x < p.get_x() + p.get_width() and p.get_y() < y < p.get_y() + p.get_height()

    for x, y in [(GAMMA[0], RHO[5]), (GAMMA[4], RHO[2])]:
        assert sum(holds(p, x, y) for p in hatched) == 1
    (marks,) = gids(ax.collections, "not converged")
    np.testing.assert_allclose(marks.get_offsets(), [(GAMMA[8], RHO[0])])
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "no physical stationary point (2)" in labels and "not converged (1)" in labels
    assert np.ma.count_masked(mesh_of(ax).get_array()) == 3


def test_benefit_map_errors():
    ds = sweep({"coupling": GAMMA, "rho": RHO}, np.zeros((GAMMA.size, RHO.size)))
    with pytest.raises(ValueError, match=r"'benefit_total'.*benefit_prior"):
        plot.benefit_map(ds, var="benefit_total")
    with pytest.raises(ValueError, match=r"'gamma'.*coupling, rho"):
        plot.benefit_map(ds, x="gamma")
    with pytest.raises(ValueError, match="two"):
        plot.benefit_map(ds.isel(rho=0))
    three = sweep({"coupling": GAMMA, "rho": RHO, "temperature": [0.01, 0.1]},
                  np.zeros((GAMMA.size, RHO.size, 2)), width=100.0)
    with pytest.raises(ValueError, match=r"temperature \(2 values\)"):
        plot.benefit_map(three)
    ax = plot.benefit_map(three.sel(temperature=[0.1]))  # a dimension of length 1 is fine
    assert "temperature=0.1" in ax.get_title()  # ... and named in the title
    assert "width=100" in ax.get_title()
    acts = sweep({"coupling": GAMMA, "rho": RHO}, np.zeros((GAMMA.size, RHO.size)))
    acts = acts.assign_coords(rho=[f"a{i}" for i in range(RHO.size)])
    with pytest.raises(ValueError, match=r"'rho' is not numeric"):
        plot.benefit_map(acts)
    with pytest.raises(ValueError, match="non-finite"):
        plot.benefit_map(sweep({"coupling": np.append(GAMMA, np.inf), "rho": RHO},
                               np.zeros((GAMMA.size + 1, RHO.size))))


def test_benefit_map_draws_into_the_given_axes_and_prints_nothing(capsys):
    fig, (left, right) = plt.subplots(1, 2)
    ds = sweep({"coupling": GAMMA, "rho": RHO}, np.ones((GAMMA.size, RHO.size)))
    assert plot.benefit_map(ds, ax=right) is right
    assert not left.collections and len(fig.axes) == 3  # two panels and the colour bar
    assert capsys.readouterr() == ("", "")


ALPHA = np.logspace(-1, 2, 12)  # three decades
TEMPS = np.array([0.01, 0.1])


def theory_dataset():
    error = 0.3 / (1 + np.outer(ALPHA, 1 / TEMPS) / 100)
    return xr.Dataset({"test_error": (("alpha", "temperature"), error),
                       "converged": (("alpha", "temperature"), np.ones(error.shape, bool))},
                      coords={"alpha": ALPHA, "temperature": TEMPS})


def test_error_vs_alpha_curves_and_error_bars():
    theory = theory_dataset()
    net_alpha = np.array([0.5, 5.0, 50.0])
    stderr = np.array([[0.01, 0.02], [0.003, 0.004], [0.005, 0.006]])
    nets = xr.Dataset({"test_error": (("alpha", "temperature"), np.full((3, 2), 0.1)),
                       "test_error_stderr": (("alpha", "temperature"), stderr)},
                      coords={"alpha": net_alpha, "temperature": TEMPS})
    ax = plot.error_vs_alpha(theory, nets)
    curves = gids(ax.lines, "theory")
    assert len(curves) == 2 and ax.get_xscale() == "log"
    for k, line in enumerate(curves):
        np.testing.assert_array_equal(line.get_xdata(), ALPHA)
        np.testing.assert_array_equal(line.get_ydata(), theory.test_error.values[:, k])
        assert line.get_label() == f"theory, temperature = {TEMPS[k]:g}"
    assert len(ax.containers) == 2
    for k, container in enumerate(ax.containers):
        data_line, _, (bars,) = container.lines
        np.testing.assert_array_equal(data_line.get_xdata(), net_alpha)
        assert data_line.get_color() == curves[k].get_color()
        segments = np.asarray(bars.get_segments())  # (3, 2, 2): [[x, y - e], [x, y + e]]
        np.testing.assert_allclose((segments[:, 1, 1] - segments[:, 0, 1]) / 2, stderr[:, k])
        np.testing.assert_allclose(segments[:, 0, 0], net_alpha)


def test_error_vs_alpha_one_curve_and_linear_axis():
    theory = theory_dataset().sel(temperature=0.1)
    theory = theory.assign_coords(alpha=np.linspace(0, 1, ALPHA.size))
    nets = xr.Dataset({"test_error": ("alpha", [0.2, 0.1]), "test_error_stderr": ("alpha", [0.01, 0.02])},
                      coords={"alpha": [0.25, 0.75]})
    ax = plot.error_vs_alpha(theory, nets, label="kernel renormalization")
    (curve,) = gids(ax.lines, "theory")
    assert curve.get_label() == "kernel renormalization" and ax.get_xscale() == "linear"
    (container,) = ax.containers
    segments = np.asarray(container.lines[2][0].get_segments())
    np.testing.assert_allclose(segments[:, 1, 1] - segments[:, 0, 1], [0.02, 0.04])


def test_error_vs_alpha_errors():
    theory = theory_dataset()
    with pytest.raises(ValueError, match=r"'Pt'.*alpha, temperature"):
        plot.error_vs_alpha(theory, x="Pt")
    with pytest.raises(ValueError, match=r"'error'.*test_error"):
        plot.error_vs_alpha(theory, var="error")
    nets = xr.Dataset({"test_error": ("alpha", [0.2])}, coords={"alpha": [1.0]})
    with pytest.raises(ValueError, match="test_error_stderr"):
        plot.error_vs_alpha(theory, nets)
    wide = theory.expand_dims(width=[100.0, 200.0])
    with pytest.raises(ValueError, match="width"):
        plot.error_vs_alpha(wide)


def trajectory_dataset(params, objective="benefit", steps=8):
    data = {name: ("step", values) for name, values in params.items()}
    value = np.linspace(0.0, 0.05, steps)
    data.update(objective=("step", value), test_error=("step", 0.3 - value), benefit=("step", value),
                converged=("step", np.ones(steps, bool)))
    if objective == "test_error":
        data["objective"] = ("step", 0.3 - value)
    for name in ("Q_s", "Q_t", "Q_tt", "Q_st", "bias2", "variance", "benefit_prior", "benefit_source", "num_steps"):
        data[name] = ("step", np.ones(steps))  # jaxtl.optimize records every sweep output too
    return xr.Dataset(data, coords={"step": np.arange(steps)},
                      attrs={"over": " ".join(params), "objective": objective, "maximize": objective == "benefit",
                             "evaluations": 24})


def test_trajectory_over_a_two_parameter_grid():
    G, R = np.meshgrid(GAMMA, RHO, indexing="ij")
    grid = sweep({"coupling": GAMMA, "rho": RHO}, R - 0.45)
    path = {"rho": np.linspace(0.1, 0.9, 8), "coupling": np.logspace(-1, 1, 8)}
    traj = trajectory_dataset(path)
    ax = plot.trajectory(traj, grid)
    (line,) = gids(ax.lines, "trajectory")
    np.testing.assert_allclose(line.get_xdata(), path["coupling"])  # the grid's order: x = coupling
    np.testing.assert_allclose(line.get_ydata(), path["rho"])
    (start,), (end,) = gids(ax.lines, "start"), gids(ax.lines, "end")
    assert (start.get_xdata()[0], start.get_ydata()[0]) == (path["coupling"][0], path["rho"][0])
    assert (end.get_xdata()[0], end.get_ydata()[0]) == (path["coupling"][-1], path["rho"][-1])
    np.testing.assert_array_equal(np.asarray(mesh_of(ax).get_array()).reshape(RHO.size, GAMMA.size), (R - 0.45).T)
    assert gids(ax.collections, "zero contour") and "24 theory evaluations" in ax.get_title()

    # Minimizing the test error: the map shows the grid's test error.
    ax = plot.trajectory(trajectory_dataset(path, objective="test_error"), grid)
    np.testing.assert_array_equal(np.asarray(mesh_of(ax).get_array()).reshape(RHO.size, GAMMA.size),
                                  grid.test_error.values.T)
    assert "minimize test_error" in ax.get_title()


def test_trajectory_over_a_one_parameter_grid():
    grid = sweep({"coupling": GAMMA}, np.sin(np.log(GAMMA)), rho=0.5)
    traj = trajectory_dataset({"coupling": np.linspace(0.1, 3, 8)})
    ax = plot.trajectory(traj, grid)
    (curve,), (line,) = gids(ax.lines, "grid"), gids(ax.lines, "trajectory")
    np.testing.assert_allclose(curve.get_xdata(), GAMMA)
    np.testing.assert_allclose(curve.get_ydata(), grid.benefit.values)
    np.testing.assert_allclose(line.get_xdata(), traj.coupling.values)
    np.testing.assert_allclose(line.get_ydata(), traj.objective.values)
    assert ax.get_xscale() == "log"
    (end,) = gids(ax.lines, "end")
    assert end.get_ydata()[0] == traj.objective.values[-1]


def test_trajectory_without_grid():
    traj = trajectory_dataset({"coupling": np.linspace(0.1, 3, 8), "temperature": np.linspace(0.1, 0.2, 8)})
    traj["converged"][3] = False
    ax = plot.trajectory(traj)
    (line,) = gids(ax.lines, "trajectory")
    np.testing.assert_array_equal(line.get_xdata(), np.arange(8))
    np.testing.assert_array_equal(line.get_ydata(), traj.objective.values)
    (bad,) = gids(ax.lines, "not converged")
    np.testing.assert_array_equal(bad.get_xdata(), [3])  # along the bottom: failed steps have no value
    assert "maximize benefit over coupling, temperature (" in ax.get_title()  # no outputs as parameters


def test_trajectory_errors():
    grid = sweep({"coupling": GAMMA, "rho": RHO}, np.zeros((GAMMA.size, RHO.size)))
    with pytest.raises(ValueError, match=r"\['coupling', 'temperature'\].*lacks \['temperature'\]"):
        plot.trajectory(trajectory_dataset({"coupling": np.ones(8), "temperature": np.ones(8)}), grid)
    with pytest.raises(ValueError, match=r"\['coupling'\].*\['coupling', 'rho'\]"):
        plot.trajectory(trajectory_dataset({"coupling": np.ones(8)}), grid)
    with pytest.raises(ValueError, match=r"'objective'"):
        plot.trajectory(trajectory_dataset({"coupling": np.ones(8)}).drop_vars("objective"))
    traj = trajectory_dataset({"coupling": np.ones(8), "rho": np.ones(8)})
    with pytest.raises(ValueError, match=r"'benefit'.*test_error"):
        plot.trajectory(traj, grid.drop_vars("benefit"))


def test_learning_curves_draw_means_and_standard_errors():
    rng = np.random.default_rng(0)
    values = rng.random((3, 4))
    ds = xr.Dataset({"a": (("Pt", "seed"), values, {"long_name": "theory a"}), "b": (("Pt", "seed"), values + 1)},
                    coords={"Pt": [10, 100, 2000], "seed": np.arange(4)})  # fmt: skip
    ax = jaxtl.plot.learning_curves(ds, lines=["a"], points=["b"])
    (line,) = [l for l in ax.lines if l.get_gid() == "line"]
    np.testing.assert_allclose(line.get_ydata(), values.mean(1))
    assert ax.get_xscale() == "log" and line.get_label() == "theory a"
    (container,) = ax.containers
    segments = container.lines[2][0].get_segments()
    np.testing.assert_allclose([s[1, 1] - s[0, 1] for s in segments], values.std(1))  # two standard errors: 2 std / sqrt(4)
    with pytest.raises(ValueError, match="unknown variable 'c'"):
        jaxtl.plot.learning_curves(ds, lines=["c"])
