import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxtl
from jaxtl._optimize import Bounds
from jaxtl.tasks import teacher_pair

PROBLEM = dict(Ps=60, Pt=20, P0=40, N0=20, width=50.0, rho=1.0)


def test_reaches_the_grid_optimum_with_ten_times_fewer_evaluations():
    couplings, temperatures = np.logspace(-2, 3, 20), np.logspace(-3, 0, 20)
    grid = jaxtl.sweep(teacher_pair, **PROBLEM, coupling=couplings, temperature=temperatures, progress=False)
    assert bool(grid.converged.all())
    i, j = np.unravel_index(int(np.argmax(grid.benefit.values)), grid.benefit.shape)
    assert 0 < i < 19 and 0 < j < 19  # an interior optimum: the grid does bracket it

    path = jaxtl.optimize(teacher_pair, **PROBLEM, over=dict(coupling=(1e-2, 1e3), temperature=(1e-3, 1.0)),
                          steps=39, learning_rate=0.3, progress=False)
    assert path.attrs["evaluations"] == 40 and 10 * 40 <= grid.benefit.size
    assert bool(path.converged.all())
    best = path.isel(step=int(path.objective.argmax("step")))
    assert float(best.objective) >= float(grid.benefit.max()) - 1e-6
    np.testing.assert_allclose(float(best.objective), float(best.benefit))
    # within one grid cell (log spacing) of the grid's best point
    assert abs(np.log(float(best.coupling) / couplings[i])) < np.log(couplings[1] / couplings[0])
    assert abs(np.log(float(best.temperature) / temperatures[j])) < np.log(temperatures[1] / temperatures[0])


def test_gradient_step_is_the_derivative_of_the_objective():
    bounds, start, rate = Bounds(1e-2, 1e3), 2.0, 1e-3
    path = jaxtl.optimize(teacher_pair, **PROBLEM, temperature=0.05, coupling=start, over=dict(coupling=(1e-2, 1e3)),
                          steps=1, optimizer=optax.sgd(rate), progress=False)
    u0 = bounds.coordinate(start)
    slope = (bounds.coordinate(float(path.coupling[1])) - u0) / rate  # d benefit / du (maximized)
    h = 1e-4
    ends = [float(bounds.value(jnp.asarray(u0 + s))) for s in (-h, h)]
    grid = jaxtl.sweep(teacher_pair, **PROBLEM, temperature=0.05, coupling=ends, progress=False)
    finite_difference = float(grid.benefit[1] - grid.benefit[0]) / (2 * h)
    np.testing.assert_allclose(slope, finite_difference, rtol=1e-5)


def test_source_temperature_is_optimized_by_its_gradient():
    """One SGD step in the source temperature is the central difference of the benefit in the
    unconstrained coordinate (log scale), as for the other parameters."""
    bounds, start, rate = Bounds(1e-3, 1.0), 0.1, 1e-3
    path = jaxtl.optimize(teacher_pair, **PROBLEM, temperature=0.05, coupling=2.0, source_temperature=start,
                          over=dict(source_temperature=(1e-3, 1.0)), steps=1, optimizer=optax.sgd(rate), progress=False)
    slope = (bounds.coordinate(float(path.source_temperature[1])) - bounds.coordinate(start)) / rate
    h = 1e-4
    ends = [float(bounds.value(jnp.asarray(bounds.coordinate(start) + s))) for s in (-h, h)]
    grid = jaxtl.sweep(teacher_pair, **PROBLEM, temperature=0.05, coupling=2.0, source_temperature=ends, progress=False)
    np.testing.assert_allclose(slope, float(grid.benefit[1] - grid.benefit[0]) / (2 * h), rtol=1e-5)
    assert abs(slope) > 1e-4
    pair = teacher_pair(jax.random.key(0), **{k: PROBLEM[k] for k in ("Ps", "Pt", "P0", "N0", "rho")})
    sol = jaxtl.transfer((pair.Xs, pair.ys), (pair.Xt, pair.yt), width=50.0, temperature=0.05, coupling=2.0,
                         source_temperature=ends[1])  # the sweep's point along the source_temperature axis
    np.testing.assert_allclose([float(grid.Q_s[1]), float(grid.benefit[1])], [sol.Q_s, sol.benefit(pair.X0, pair.y0).total],
                               rtol=1e-10)


def test_bounds_are_kept():
    path = jaxtl.optimize(teacher_pair, **(PROBLEM | dict(rho=0.3)), temperature=0.05, coupling=10.0, over=dict(rho=(0.0, 0.9)),
                          steps=20, learning_rate=0.5, progress=False)
    rho = path.rho.values
    assert np.all((rho > 0) & (rho < 0.9))
    assert rho[-1] > 0.85 and path.objective[-1] > path.objective[0]  # pushed to the upper bound


@pytest.mark.parametrize("low, high", [(1e-3, 10.0), (-1.0, 2.0), (0.5, np.inf), (-np.inf, 3.0), (-np.inf, np.inf)])
def test_bounds_reparametrization(low, high):
    b = Bounds(low, high)
    values = b.value(jnp.linspace(-30.0, 30.0, 61))
    assert np.all((values >= low) & (values <= high))
    for v in (0.2, 1.5, 2.9):
        if low < v < high:
            np.testing.assert_allclose(float(b.value(jnp.asarray(b.coordinate(v)))), v, rtol=1e-12)


def test_non_convergence_stops_with_a_warning():
    # label noise of 1e200 overflows the source's action: its solve fails (see test_sweep)
    with pytest.warns(UserWarning, match="did not converge at step 0 .*: source_failed"):
        path = jaxtl.optimize(teacher_pair, **PROBLEM, noise=1e200, temperature=0.05, coupling=100.0,
                              over=dict(coupling=(1.0, 1e3)), steps=5, progress=False)
    assert path.sizes["step"] == 1 and not bool(path.converged[0]) and np.isnan(path.objective[0])


@pytest.mark.parametrize(
    "change, match",
    [
        (dict(objective="speed"), "objective"),
        (dict(over=dict(Ps=(10, 100))), "Ps"),
        (dict(over=dict(coupling=(10.0, 1.0))), "coupling"),
        (dict(over=dict(rho=(-2.0, 1.0))), "rho"),
        (dict(over=dict(coupling=(1.0, 10.0)), coupling=100.0), "coupling"),
        (dict(over=dict(gamma=(1.0, 10.0))), "gamma"),
        (dict(over={}), "over"),
        (dict(steps=-3), "^steps must be an integer >= 0, got -3$"),
        (dict(steps=2.0), "^steps must be an integer >= 0, got 2.0$"),
        (dict(learning_rate=np.nan), r"^learning_rate must lie in \(0, \+inf\), got nan$"),
        (dict(learning_rate=0.0), r"^learning_rate must lie in \(0, \+inf\), got 0.0$"),
        (dict(learning_rate=-0.1), r"^learning_rate must lie in \(0, \+inf\), got -0.1$"),
        (dict(learning_rate=np.inf), r"^learning_rate must lie in \(0, \+inf\), got inf$"),
        (dict(temperature="0.05"), "^temperature must be a real number, got '0.05'$"),
        (dict(coupling="1"), "^coupling must be a real number, got '1'$"),
        (dict(rho="1"), "^rho must be a real number, got '1'$"),
    ],
)
def test_bad_arguments(change, match):
    arguments = PROBLEM | dict(over=dict(coupling=(1e-2, 1e3)), coupling=1.0, temperature=0.05, progress=False) | change
    with pytest.raises(ValueError, match=match):
        jaxtl.optimize(teacher_pair, **arguments)


def test_gradient_at_a_failed_point_is_nan_not_an_error():
    import jax

    pair = teacher_pair(jax.random.key(0), **{n: PROBLEM[n] for n in ("Ps", "Pt", "P0", "N0")})

    def error(coupling, scale):  # source labels of 1e200 overflow the source's action: it fails
        sol = jaxtl.transfer((pair.Xs, scale * pair.ys), (pair.Xt, pair.yt), width=10.0, temperature=0.05,
                             coupling=coupling, throw=False)
        return sol.test_error(pair.X0, pair.y0).total, sol.converged

    for derivative in (jax.grad, jax.jacfwd):  # reverse and forward mode
        grads, converged = jax.vmap(derivative(error, has_aux=True), (None, 0))(100.0, jnp.array([1.0, 1e200]))
        np.testing.assert_array_equal(converged, [True, False])
        assert np.isfinite(grads[0]) and np.isnan(grads[1])


def test_single_task_through_the_same_path():
    """The single-task theory's test error, minimized over T: every step is the value a sweep
    of the same theory gives at that T."""
    sizes = dict(Ps=60, Pt=20, P0=40, N0=20, width=50.0)
    path = jaxtl.optimize(teacher_pair, theory="single_task", **sizes, over={"temperature": (1e-3, 1.0)}, steps=4,
                          progress=False)
    assert path.attrs["objective"] == "test_error" and path.attrs["maximize"] == 0 and path.attrs["over"] == "temperature"
    assert float(path.objective[-1]) < float(path.objective[0])
    grid = jaxtl.sweep(teacher_pair, theory="single_task", **sizes, temperature=path.temperature.values, progress=False)
    np.testing.assert_allclose(path.objective.values, grid.test_error.values, rtol=1e-10)
    with pytest.raises(ValueError, match="objective must be one of test_error, bias2, variance for the single_task"):
        jaxtl.optimize(teacher_pair, theory="single_task", **sizes, over={"temperature": (1e-3, 1.0)}, objective="benefit")
