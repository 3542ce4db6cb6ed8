import os
import pathlib
import subprocess
import sys

import jax
import numpy as np
import pytest
import xarray as xr

import jaxtl
from jaxtl._sweep import _block_shape
from jaxtl.tasks import teacher_pair

SIZES = dict(Ps=60, Pt=20, P0=40, N0=20)
THEORY = dict(width=50.0, temperature=0.05)


def direct(rho=1.0, coupling=1.0, Pt=20, **theory):
    """The same point by `jaxtl.transfer` on a pair made by hand."""
    pair = teacher_pair(jax.random.key(0), **(SIZES | dict(Pt=Pt)), rho=rho)
    sol = jaxtl.transfer((pair.Xs, pair.ys), (pair.Xt, pair.yt), coupling=coupling, **(THEORY | theory))
    return sol, sol.test_error(pair.X0, pair.y0), sol.benefit(pair.X0, pair.y0)


@pytest.fixture(scope="module")
def grid():
    return jaxtl.sweep(teacher_pair, **SIZES, **THEORY, coupling=[0.3, 10.0, np.inf], rho=[0.0, 0.6], progress=False)


def test_grid_layout(grid):
    assert grid.test_error.dims == ("coupling", "rho")
    np.testing.assert_array_equal(grid.coupling, [0.3, 10.0, np.inf])
    np.testing.assert_array_equal(grid.rho, [0.0, 0.6])
    assert float(grid.width) == 50.0 and int(grid.Ps) == 60 and grid.attrs["activation"] == "erf"
    assert grid.attrs["task"] == "teacher_pair"
    assert bool(grid.converged.all())


@pytest.mark.parametrize("coupling, rho", [(10.0, 0.6), (np.inf, 0.0), (0.3, 0.0)])
def test_grid_matches_transfer(grid, coupling, rho):
    sol, error, benefit = direct(rho=rho, coupling=coupling)
    point = grid.sel(coupling=coupling, rho=rho)
    for name, value in dict(
        Q_s=sol.Q_s, Q_t=sol.Q_t, Q_tt=sol.Q_tt, Q_st=sol.Q_st, test_error=error.total, bias2=error.bias2,
        variance=error.variance, benefit=benefit.total, benefit_prior=benefit.prior, benefit_source=benefit.source,
        relatedness=sol.relatedness,
    ).items():
        np.testing.assert_allclose(float(point[name]), float(value), rtol=1e-10, atol=1e-14, err_msg=name)
    assert int(point.num_steps) == int(sol.num_steps)


def test_source_temperature_follows_the_temperature_unless_given():
    """Not given, the source temperature follows the temperature point by point: a temperature
    axis moves both (Q_s is the source's single-task Q* at each T), and no axis is added. (A
    source_temperature axis: tests/test_optimize.py.)"""
    pair = teacher_pair(jax.random.key(0), **SIZES)
    tied = jaxtl.sweep(pair, width=50.0, temperature=[0.02, 0.2], coupling=2.0, progress=False)
    assert "source_temperature" not in tied.coords and tied.test_error.dims == ("temperature",)
    for T in (0.02, 0.2):
        Q = jaxtl.single_task(pair.Xs, pair.ys, width=50.0, temperature=T).Q
        np.testing.assert_allclose(float(tied.Q_s.sel(temperature=T)), float(Q), rtol=1e-10)
    sol = jaxtl.transfer((pair.Xs, pair.ys), (pair.Xt, pair.yt), width=50.0, temperature=0.2, coupling=2.0)
    np.testing.assert_allclose(float(tied.test_error.sel(temperature=0.2)), sol.test_error(pair.X0, pair.y0).total,
                               rtol=1e-10)


def test_chunks_and_axis_order(grid):
    other = jaxtl.sweep(
        teacher_pair, **SIZES, **THEORY, rho=[0.0, 0.6], coupling=[0.3, 10.0, np.inf], chunk_size=2, progress=False
    )
    assert other.test_error.dims == ("rho", "coupling")
    xr.testing.assert_allclose(other.transpose("coupling", "rho"), grid, rtol=1e-12)


@pytest.mark.parametrize(
    "sizes, chunk, block",
    [((3, 2, 1), 16, (3, 2, 1)), ((100, 100, 1), 16, (1, 15, 1)), ((40, 25, 1), 32, (1, 25, 1)),
     ((50, 4, 1), 16, (4, 4, 1)), ((7,), 3, (3,)), ((2, 3), 1, (1, 1))],
)  # fmt: skip
def test_block_shape(sizes, chunk, block):
    assert _block_shape(sizes, chunk) == block
    assert np.prod(block) <= chunk


def test_source_changed_by_a_swept_knob():
    # gain changes the source labels: the source is solved per point, not once for the grid
    ds = jaxtl.sweep(teacher_pair, **SIZES, **THEORY, coupling=[1.0, 10.0], gain=[1.0, 3.0], rho=0.6, chunk_size=3,
                     progress=False)
    assert float(ds.Q_s.sel(gain=1.0)[0]) != float(ds.Q_s.sel(gain=3.0)[0])
    pair = teacher_pair(jax.random.key(0), **SIZES, rho=0.6, gain=3.0)
    sol = jaxtl.transfer((pair.Xs, pair.ys), (pair.Xt, pair.yt), coupling=10.0, **THEORY)
    point = ds.sel(coupling=10.0, gain=3.0)
    np.testing.assert_allclose([float(point.Q_s), float(point.test_error)],
                               [float(sol.Q_s), float(sol.test_error(pair.X0, pair.y0).total)], rtol=1e-10)


def test_static_axes():
    ds = jaxtl.sweep(teacher_pair, Ps=60, P0=40, N0=20, alpha=[0.2, 0.4], width=50.0, temperature=0.05, coupling=3.0,
                     progress=False)
    np.testing.assert_array_equal(ds.Pt, [10, 20])
    for alpha, Pt in ((0.2, 10), (0.4, 20)):
        _, error, _ = direct(coupling=3.0, Pt=Pt)
        np.testing.assert_allclose(float(ds.test_error.sel(alpha=alpha)), float(error.total), rtol=1e-10)
    by_size = jaxtl.sweep(teacher_pair, **(SIZES | dict(Pt=[10, 20])), **THEORY, coupling=3.0, progress=False)
    np.testing.assert_allclose(by_size.test_error.values, ds.test_error.values, rtol=1e-12)


def test_task_pair_and_theory_axes():
    pair = teacher_pair(jax.random.key(0), **SIZES, rho=0.6)
    ds = jaxtl.sweep(pair, width=50.0, temperature=[0.05, 0.2], coupling=10.0, lambda1=[1.0, 2.0], progress=False)
    assert ds.test_error.dims == ("temperature", "lambda1") and ds.attrs["task"] == "TaskPair"
    _, error, _ = direct(rho=0.6, coupling=10.0, temperature=0.2, lambda1=2.0)
    np.testing.assert_allclose(float(ds.test_error.sel(temperature=0.2, lambda1=2.0)), float(error.total), rtol=1e-10)
    with pytest.raises(ValueError, match="'rho'"):
        jaxtl.sweep(pair, width=50.0, temperature=0.05, coupling=1.0, rho=[0.0, 1.0], progress=False)


def test_failed_points_are_kept_marked_and_hold_no_value():
    # Label noise of 1e200 overflows the action (labels squared): the source's solve fails
    # there, at every width; at N1 = 10 (Ps / N1 = 6) and gamma = 100 the ordinary labels
    # have a physical root, which the solver reaches.
    ds = jaxtl.sweep(teacher_pair, **SIZES, width=[10.0, 50.0], temperature=0.05, coupling=100.0,
                     noise=[0.1, 1e200], progress=False)
    np.testing.assert_array_equal(ds.converged, [[True, False], [True, False]])
    meanings = ds.status.attrs["flag_meanings"].split()
    assert [meanings[c] for c in ds.status.values.ravel()] == ["successful", "source_failed"] * 2
    assert ds.status.attrs["flag_values"][meanings.index("overlap_not_psd")] == int(jaxtl.RESULTS.overlap_not_psd._value)
    for name in ("Q_t", "Q_st", "test_error", "benefit", "benefit_source"):
        assert np.all(np.isnan(ds[name].sel(noise=1e200))) and np.all(np.isfinite(ds[name].sel(noise=0.1))), name


@pytest.mark.parametrize(
    "change, name",
    [
        (dict(gamma=1.0), "'gamma'"),
        (dict(coupling=[1.0, -1.0]), "coupling"),
        (dict(rho=[0.0, 2.0]), "rho"),
        (dict(width=0.0), "width"),
        (dict(coupling=np.ones((2, 2))), "coupling"),
        (dict(Pt=[10, 0]), "Pt"),
        (dict(alpha=0.5), "alpha"),
        (dict(activation="relu"), "activation"),
        (dict(width="50"), "^width must be a real number, got '50'$"),
        (dict(temperature=["0.05", "0.1"]), r"^temperature must be a real number, got \['0.05', '0.1'\]$"),
        (dict(rho="1"), "^rho must be a real number, got '1'$"),
        (dict(rho=[np.nan, 1.0]), "^rho must be finite, got nan at entry 0$"),
    ],
)
def test_bad_parameters(change, name):
    parameters = SIZES | THEORY | dict(coupling=1.0) | change
    with pytest.raises(ValueError, match=name):
        jaxtl.sweep(teacher_pair, **parameters, progress=False)


def test_missing_parameter():
    with pytest.raises(ValueError, match="temperature"):
        jaxtl.sweep(teacher_pair, **SIZES, width=50.0, coupling=1.0, progress=False)


_SHARDED = """
import sys, jax, numpy as np, jaxtl
assert len(jax.devices()) == 4, jax.devices()
ds = jaxtl.sweep(jaxtl.tasks.teacher_pair, Ps=60, Pt=20, P0=40, N0=20, width=50.0, temperature=0.05,
                 coupling=[0.3, 3.0, 30.0], rho=[0.0, 0.5, 1.0], chunk_size=2, progress=False)
ds.to_netcdf(sys.argv[1])
"""


def test_sharded_over_four_devices_equals_one_device(tmp_path: pathlib.Path):
    path = tmp_path / "sharded.nc"
    env = os.environ | {"XLA_FLAGS": "--xla_force_host_platform_device_count=4"}
    subprocess.run([sys.executable, "-c", _SHARDED, str(path)], env=env, check=True, timeout=600)
    sharded = xr.load_dataset(path)
    single = jaxtl.sweep(teacher_pair, **SIZES, **THEORY, coupling=[0.3, 3.0, 30.0], rho=[0.0, 0.5, 1.0],
                         devices=jax.devices()[:1], progress=False)
    xr.testing.assert_allclose(sharded, single, rtol=1e-12, atol=1e-15)


# The protocol: the single-task theory and a theory defined here go through the same code path.


def test_single_task_through_the_sweep_is_the_transfer_theory_at_zero_coupling(grid):
    ds = jaxtl.sweep(teacher_pair, theory="single_task", **SIZES, **THEORY, rho=[0.0, 0.6], progress=False)
    assert ds.attrs["theory"] == "single_task" and list(ds.data_vars)[:4] == ["Q", "test_error", "bias2", "variance"]
    assert "coupling" not in ds.coords and bool(ds.converged.all())
    transfer = jaxtl.sweep(teacher_pair, **SIZES, **THEORY, coupling=0.0, rho=[0.0, 0.6], progress=False)
    np.testing.assert_allclose(ds.test_error, transfer.test_error, rtol=1e-12)
    pair = teacher_pair(jax.random.key(0), **SIZES, rho=0.6)
    sol = jaxtl.single_task(pair.Xt, pair.yt, **THEORY)
    np.testing.assert_allclose(float(ds.Q.sel(rho=0.6)), float(sol.Q), rtol=1e-12)
    assert ds.test_error.attrs == {"long_name": "test error", "units": "labels^2"}
    with pytest.raises(ValueError, match="unknown parameter 'coupling' for the single_task theory"):
        jaxtl.sweep(teacher_pair, theory="single_task", **SIZES, **THEORY, coupling=1.0, progress=False)
    with pytest.raises(ValueError, match="theory must be one of 'transfer', 'single_task'"):
        jaxtl.sweep(teacher_pair, theory="mean_field", **SIZES, **THEORY, progress=False)


@pytest.mark.parametrize("chunk_size", [None, 2])
def test_single_task_grid_of_widths_and_temperatures_equals_direct_calls(chunk_size):
    """The single-task theory vmaps the width innermost (`SingleTask.innermost`) and shares the
    kernel's eigendecomposition and test kernels over the grid (`SingleTask.shared`): every
    point equals its own `jaxtl.single_task` call, in the axis order given, whatever the blocks."""
    pair = teacher_pair(jax.random.key(0), **SIZES, rho=0.6)
    widths, temperatures = [20.0, 50.0, np.inf], [0.02, 0.5]
    ds = jaxtl.sweep(pair, theory="single_task", width=widths, temperature=temperatures, chunk_size=chunk_size,
                     progress=False)
    assert ds.test_error.dims == ("width", "temperature") and bool(ds.converged.all())
    for N1 in widths:
        for T in temperatures:
            sol = jaxtl.single_task(pair.Xt, pair.yt, width=N1, temperature=T)
            error = sol.test_error(pair.X0, pair.y0)
            point = ds.sel(width=N1, temperature=T)
            for name, value in dict(Q=sol.Q, test_error=error.total, bias2=error.bias2, variance=error.variance).items():
                np.testing.assert_allclose(float(point[name]), float(value), rtol=1e-12, err_msg=name)


def test_every_task_pair_shares_one_point_function():
    """A sweep of a `TaskPair` passes the pair as data: two pairs (of one shape) get the same
    point function, so the sweep's jitted solve compiles once, not once per call."""
    from jaxtl._problem import point_function

    theory = jaxtl.theory.THEORIES["single_task"]
    one, two = (teacher_pair(jax.random.key(k), **SIZES) for k in (0, 1))
    assert point_function(one, theory, {}) is point_function(two, theory, {})


_CALLS = {"built": 0, "traced": 0}


def counted_pair(key, *, Ps, Pt, P0, N0, rho=1.0):
    """`teacher_pair`, counting the pairs built eagerly and the traces."""
    _CALLS["traced" if isinstance(key, jax.core.Tracer) else "built"] += 1
    return teacher_pair(key, Ps=Ps, Pt=Pt, P0=P0, N0=N0, rho=rho)


def test_a_sweep_builds_each_distinct_pair_once_and_a_repeated_sweep_traces_nothing():
    """The sweep's eager check builds the pair once per distinct set of the generator's
    arguments (here rho's first = smallest value and its largest: two, not one per parameter
    and end); called again with the same parameters, nothing is traced again (the shapes, the
    shared part's dependence and the compiled blocks are kept), and the values are the same."""
    parameters = dict(SIZES, theory="single_task", width=50.0, temperature=[0.05, 0.1], rho=[0.0, 0.3, 0.6], progress=False)
    _CALLS.update(built=0, traced=0)
    first = jaxtl.sweep(counted_pair, **parameters)
    assert _CALLS["built"] == 2 and _CALLS["traced"] > 0
    _CALLS.update(built=0, traced=0)
    again = jaxtl.sweep(counted_pair, **parameters)
    assert _CALLS == {"built": 2, "traced": 0}
    xr.testing.assert_identical(first, again)


def test_the_check_compares_ragged_generator_arguments():
    """The eager check tells argument sets apart by value, also where NumPy cannot make an
    array of a value (the ragged class tuples of `digits_pair`), and checks such a problem."""
    from jaxtl._problem import _same, check, resolve

    classes = ((0, 2, 4), (1, 3))
    assert _same({"source": classes, "Ps": 10}, {"source": ((0, 2, 4), (1, 3)), "Ps": 10})
    assert not _same({"source": classes}, {"source": ((0, 2), (1, 3))})
    assert _same({"rho": np.float64(0.5)}, {"rho": 0.5}) and not _same({"rho": 0.5}, {"rho": 0.6})
    assert not _same({"rho": 0.5}, {"gain": 0.5})
    parameters = dict(Ps=[10, 12], Pt=8, P0=8, source=classes, width=50.0, temperature=0.05)
    theory, values, kind = resolve(jaxtl.tasks.digits_pair, "single_task", parameters)
    check(jaxtl.tasks.digits_pair, theory, kind, values)


class Quadratic(jaxtl.theory.Theory):
    """A toy theory, V(Q) = Q^2 / 2 - h m Q with m = mean(ys^2), the source's label power (what
    points share): stationary at Q* = h m, physical only where Q* >= 0."""

    name = "quadratic"
    parameters = (jaxtl.theory.Number("field", "[-10, 10]", "field h"),)
    outputs = (jaxtl.theory.Output("Q", "order parameter Q*", "1", "higher"),)

    def shared(self, pair, parameters):
        return jax.numpy.mean(pair.ys**2)

    def evaluate(self, pair, parameters, shared):
        Q = parameters["field"] * shared
        result = jaxtl.RESULTS.where(Q >= 0, jaxtl.RESULTS.successful, jaxtl.RESULTS.not_a_minimum)
        return jaxtl.theory.Evaluation({"Q": Q}, result, 1)


def test_a_new_theory_needs_no_edit_of_jaxtl():
    ds = jaxtl.sweep(teacher_pair, theory=Quadratic(), **SIZES, field=[-1.0, 0.5, 2.0], gain=[1.0, 3.0], progress=False)
    assert ds.Q.dims == ("field", "gain") and ds.attrs["theory"] == "quadratic"
    for gain in (1.0, 3.0):
        ys = np.asarray(teacher_pair(jax.random.key(0), **SIZES, gain=gain).ys)
        np.testing.assert_allclose(ds.Q.sel(gain=gain)[1:], np.array([0.5, 2.0]) * np.mean(ys**2), rtol=1e-12)
    assert not ds.converged.sel(field=-1.0).any() and np.isnan(ds.Q.sel(field=-1.0)).all()
    meanings = ds.status.attrs["flag_meanings"].split()
    assert {meanings[int(s)] for s in ds.status.sel(field=-1.0)} == {"not_a_minimum"}
    assert ds.field.attrs["long_name"] == "field h" and ds.Q.attrs["long_name"] == "order parameter Q*"
    with pytest.raises(ValueError, match=r"field must lie in \[-10, 10\], got 20.0"):
        jaxtl.sweep(teacher_pair, theory=Quadratic(), **SIZES, field=[1.0, 20.0], progress=False)
    path = jaxtl.optimize(teacher_pair, theory=Quadratic(), **SIZES, over={"field": (0.0, 5.0)}, steps=30,
                          learning_rate=0.3, progress=False)
    assert path.attrs["objective"] == "Q" and float(path.field[-1]) > 4.5  # Q grows with h: pushed to the bound
