"""jaxtl.deep.single_task: L = 1 against jaxtl.single_task, the deep linear closed form at
T -> 0, the action against an independent NumPy evaluation (dense solves, the layer recursion
written out), gradients against finite differences."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize

import jaxtl
from helpers import teacher_data


@pytest.fixture(scope="module")
def data():
    return teacher_data(11, 40, 30, P0=50)


def numpy_action(Q, X, y, widths, T, lambdas, activation, action):
    """F(Q) of jaxtl/theory/README.md section 12 in NumPy: the kernel recursion on the full
    P x P covariance, then a dense log-determinant and solve."""
    C = X @ X.T / (lambdas[0] * X.shape[1])

    def kappa(C):
        if activation == "identity":
            return C
        d = np.diag(C)
        return 2 / np.pi * np.arcsin(2 * C / np.sqrt(np.outer(1 + 2 * d, 1 + 2 * d)))

    for l in range(len(widths)):
        C = (Q[l] if action == "nested" else 1.0) / lambdas[l + 1] * kappa(C)
    K = C * (np.prod(Q) if action == "vanilla" else 1.0)
    A = T * np.eye(len(y)) + K
    return np.sum(np.asarray(widths) * (Q - np.log(Q))) + np.linalg.slogdet(A)[1] + y @ np.linalg.solve(A, y)


@pytest.mark.parametrize("activation", ["erf", "identity"])
@pytest.mark.parametrize("action", ["vanilla", "nested"])
def test_one_layer_is_the_single_task(data, activation, action):
    X, y, X0, y0 = data
    kw = dict(temperature=0.05, activation=activation)
    single = jaxtl.single_task(X, y, width=30.0, lambda0=1.3, lambda1=0.7, **kw)
    deep = jaxtl.deep.single_task(X, y, widths=(30.0,), lambdas=(1.3, 0.7), action=action, **kw)
    np.testing.assert_allclose(deep.Q, [single.Q], rtol=1e-10)
    a, b = single.test_error(X0, y0), deep.test_error(X0, y0)
    np.testing.assert_allclose([b.total, b.bias2, b.variance], [a.total, a.bias2, a.variance], rtol=1e-9)


@pytest.mark.parametrize("L", [2, 3])
def test_deep_linear_zero_temperature_closed_form(data, L):
    X, y = data[0][:20], data[1][:20]  # P = 20 < N0 = 30: C0 invertible
    N, P = 35.0, 20
    a = y @ np.linalg.solve(X @ X.T / X.shape[1], y)
    alpha = P / N
    Q = scipy.optimize.brentq(lambda q: q**L * (q - 1 + alpha) - alpha * a / P, 1e-3, 1e3, xtol=1e-14)
    for action in ("vanilla", "nested"):
        sol = jaxtl.deep.single_task(X, y, widths=(N,) * L, temperature=1e-9, activation="identity", action=action)
        np.testing.assert_allclose(sol.Q, Q, rtol=1e-6)


@pytest.mark.parametrize("action", ["vanilla", "nested"])
def test_erf_solution_is_a_minimum_of_the_numpy_action(data, action):
    X, y, _, _ = data
    widths, T, lambdas = (25.0, 40.0), 0.05, (1.0, 1.2, 0.9)
    sol = jaxtl.deep.single_task(X, y, widths=widths, temperature=T, lambdas=lambdas, action=action)
    assert bool(sol.converged)
    Q = np.asarray(sol.Q)
    F = lambda q: numpy_action(q, X, y, widths, T, lambdas, "erf", action)  # noqa: E731
    for l in range(2):  # a minimum along each layer, and the stationarity in log Q by finite differences
        up, down = Q.copy(), Q.copy()
        up[l], down[l] = Q[l] * np.exp(1e-5), Q[l] * np.exp(-1e-5)
        assert F(Q) < min(F(up), F(down))
        assert abs(F(up) - F(down)) / 2e-5 < 1e-5 * widths[l]


def test_actions_differ_for_erf_and_agree_for_the_identity(data):
    X, y, X0, y0 = data
    for activation, same in (("erf", False), ("identity", True)):
        Qs = [jaxtl.deep.single_task(X, y, widths=(25.0, 25.0), temperature=0.05, activation=activation,
                                     action=a).Q for a in ("vanilla", "nested")]  # fmt: skip
        assert np.allclose(Qs[0], Qs[1], rtol=1e-9) == same, Qs


def test_gradients_match_finite_differences(data):
    X, y, X0, y0 = data
    base = dict(temperature=0.05, width=30.0, lambda1=1.1)

    def error(values):
        sol = jaxtl.deep.single_task(X, y, widths=(values["width"], 40.0), temperature=values["temperature"],
                                     lambdas=jnp.stack([1.0, values["lambda1"], 1.0]), action="nested")  # fmt: skip
        return sol.test_error(X0, y0).total

    grads = jax.grad(error)({k: jnp.asarray(v) for k, v in base.items()})
    for name, value in base.items():
        h = 1e-5 * value
        fd = (error(base | {name: value + h}) - error(base | {name: value - h})) / (2 * h)
        np.testing.assert_allclose(grads[name], fd, rtol=1e-5, atol=1e-10, err_msg=name)


def test_vmap_and_the_sweep_equal_direct_calls(data):
    X, y, X0, y0 = data
    error = lambda T: jaxtl.deep.single_task(X, y, widths=(30.0, 30.0), temperature=T).test_error(X0, y0).total  # noqa: E731
    temperatures = jnp.array([0.02, 0.1, 0.5])
    np.testing.assert_allclose(jax.vmap(error)(temperatures), [error(T) for T in temperatures], rtol=1e-10)
    from jaxtl.tasks import teacher_pair

    ds = jaxtl.sweep(teacher_pair, theory="deep_single_task", Ps=10, Pt=30, P0=40, N0=20, depth=2,
                     width=[20.0, 80.0], temperature=0.05, progress=False)  # fmt: skip
    pair = teacher_pair(jax.random.key(0), Ps=10, Pt=30, P0=40, N0=20)
    sol = jaxtl.deep.single_task(pair.Xt, pair.yt, widths=(80.0, 80.0), temperature=0.05)
    np.testing.assert_allclose(ds.test_error.sel(width=80.0), sol.test_error(pair.X0, pair.y0).total, rtol=1e-10)
    np.testing.assert_allclose(ds.Q.sel(width=80.0), sol.Q[-1], rtol=1e-10)


def test_bad_arguments_name_themselves(data):
    X, y, _, _ = data
    with pytest.raises(ValueError, match="widths"):
        jaxtl.deep.single_task(X, y, widths=(10.0, -1.0), temperature=0.1)
    with pytest.raises(ValueError, match="lambdas"):
        jaxtl.deep.single_task(X, y, widths=(10.0, 10.0), temperature=0.1, lambdas=(1.0, 1.0))
    with pytest.raises(ValueError, match="action"):
        jaxtl.deep.single_task(X, y, widths=(10.0,), temperature=0.1, action="full")
    with pytest.raises(ValueError, match="temperature"):
        jaxtl.deep.single_task(X, y, widths=(10.0,), temperature=0.0)
