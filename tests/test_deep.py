"""jaxtl.deep.single_task: L = 1 against jaxtl.single_task, the deep linear closed form at
T -> 0, the action against an independent NumPy evaluation (dense solves, the layer recursion
written out), gradients against finite differences. Deep networks (`nets.DeepNetwork`,
`nets.sample_deep`): L = 1 against the one-layer network and sampler, the forward pass and
the prior against NumPy, the sampled posterior against quadrature, and the theory."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize
import scipy.special

import jaxtl
from helpers import teacher_data
from jaxtl import nets


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

    if action == "full":
        K = numpy_full_kernel(Q, C, lambdas, kappa)
    else:
        for l in range(len(widths)):
            C = (Q[l] if action == "nested" else 1.0) / lambdas[l + 1] * kappa(C)
        K = C * (np.prod(Q) if action == "vanilla" else 1.0)
    A = T * np.eye(len(y)) + K
    return np.sum(np.asarray(widths) * (Q - np.log(Q))) + np.linalg.slogdet(A)[1] + y @ np.linalg.solve(A, y)


def numpy_full_kernel(Q, C0, lambdas, kappa):
    """The "full" K_R on the P x P matrix: f_L(C) = Q_L kappa(C) / lambda_L, then inwards
    f_l(C) = f_(l+1)(K) + (Q_l - 1) d/ds f_(l+1)(s K) at s = 1, K = kappa(C) / lambda_l, the
    derivative by a five-point finite difference of the matrix map (diagonal included)."""

    def along_itself(f, K, h=1e-3):
        g = lambda t: f((1 + t) * K)  # noqa: E731
        return (8 * (g(h) - g(-h)) - (g(2 * h) - g(-2 * h))) / (12 * h)

    def linearized(f, l):
        def f_l(C):
            K = kappa(C) / lambdas[l + 1]
            return f(K) + (Q[l] - 1) * along_itself(f, K)

        return f_l

    f = lambda C: Q[-1] * kappa(C) / lambdas[-1]  # noqa: E731
    for l in reversed(range(len(Q) - 1)):
        f = linearized(f, l)
    return f(C0)


@pytest.mark.parametrize("activation", ["erf", "identity"])
@pytest.mark.parametrize("action", jaxtl.deep.ACTIONS)
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
    for action in jaxtl.deep.ACTIONS:
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


@pytest.mark.parametrize("L", [2, 3])
def test_full_solution_is_a_minimum_of_the_numpy_action(data, L):
    X, y, _, _ = data
    widths, T, lambdas = (25.0, 40.0, 30.0)[:L], 0.05, (1.0, 1.2, 0.9, 1.1)[: L + 1]
    sol = jaxtl.deep.single_task(X, y, widths=widths, temperature=T, lambdas=lambdas, action="full")
    assert bool(sol.converged)
    Q = np.asarray(sol.Q)
    F = lambda q: numpy_action(q, X, y, widths, T, lambdas, "erf", "full")  # noqa: E731
    h = 1e-3  # the finite-difference kernel is good to ~1e-10, so steps well above it
    for l in range(L):  # a minimum along each layer, and the stationarity in log Q by finite differences
        up, down = Q.copy(), Q.copy()
        up[l], down[l] = Q[l] * np.exp(h), Q[l] * np.exp(-h)
        assert F(Q) < min(F(up), F(down))
        assert abs(F(up) - F(down)) / (2 * h) < 1e-5 * widths[l]


def test_actions_differ_for_erf_and_agree_for_the_identity(data):
    X, y, X0, y0 = data
    for activation, same in (("erf", False), ("identity", True)):
        Qs = [jaxtl.deep.single_task(X, y, widths=(25.0, 25.0), temperature=0.05, activation=activation,
                                     action=a).Q for a in jaxtl.deep.ACTIONS]  # fmt: skip
        for a, b in ((0, 1), (0, 2), (1, 2)):
            assert np.allclose(Qs[a], Qs[b], rtol=1e-10) == same, Qs


@pytest.mark.parametrize("L", [2, 3])
def test_full_kernel_is_the_nested_kernel_to_first_order(data, L):
    """At Q = 1 + eps v the full and nested K_R (training and test points, variances included)
    differ by O(eps^2): doubling eps multiplies the difference by 4, with prior precisions != 1."""
    X, y, X0, _ = data
    direction = jnp.array([1.0, -0.7, 0.4])[:L]

    @eqx.filter_jit
    def kernel(Q, action):  # a solution object at this Q, not solved: only its kernel is read
        sol = jaxtl.deep.DeepSingleTaskSolution(
            Q=Q, result=jaxtl.RESULTS.successful, num_steps=jnp.array(0), widths=jnp.full(L, 30.0),
            temperature=jnp.array(0.05), lambdas=jnp.array([1.1, 0.8, 1.3, 0.9])[: L + 1],
            activation=jaxtl.kernels.get_activation("erf"), action=action, inputs=X, labels=y)  # fmt: skip
        return sol.renormalized_kernel(X0, X)

    def difference(eps):
        kernels = [kernel(1 + eps * direction, a) for a in ("full", "nested")]
        return np.array([np.max(np.abs(a - b)) for a, b in zip(*kernels)])

    small, large = difference(0.01), difference(0.02)
    assert np.all(small > 1e-7), small  # the actions differ at second order
    np.testing.assert_allclose(large / small, 4.0, rtol=0.1)


@pytest.mark.parametrize("action", ["nested", "full"])
def test_gradients_match_finite_differences(data, action):
    X, y, X0, y0 = data
    base = dict(temperature=0.05, width=30.0, lambda1=1.1)

    def error(values):
        sol = jaxtl.deep.single_task(X, y, widths=(values["width"], 40.0), temperature=values["temperature"],
                                     lambdas=jnp.stack([1.0, values["lambda1"], 1.0]), action=action)  # fmt: skip
        return sol.test_error(X0, y0).total

    grads = jax.grad(error)({k: jnp.asarray(v) for k, v in base.items()})
    for name, value in base.items():
        h = 1e-5 * value
        fd = (error(base | {name: value + h}) - error(base | {name: value - h})) / (2 * h)
        np.testing.assert_allclose(grads[name], fd, rtol=1e-5, atol=1e-10, err_msg=name)


@pytest.mark.parametrize("action", ["vanilla", "full"])
def test_vmap_and_the_sweep_equal_direct_calls(data, action):
    X, y, X0, y0 = data
    kw = dict(widths=(30.0, 30.0), action=action)
    error = lambda T: jaxtl.deep.single_task(X, y, temperature=T, **kw).test_error(X0, y0).total  # noqa: E731
    temperatures = jnp.array([0.02, 0.1, 0.5])
    np.testing.assert_allclose(jax.vmap(error)(temperatures), [error(T) for T in temperatures], rtol=1e-10)
    from jaxtl.tasks import teacher_pair

    ds = jaxtl.sweep(teacher_pair, theory="deep_single_task", Ps=10, Pt=30, P0=40, N0=20, depth=2,
                     width=[20.0, 80.0], temperature=0.05, action=action, progress=False)  # fmt: skip
    pair = teacher_pair(jax.random.key(0), Ps=10, Pt=30, P0=40, N0=20)
    sol = jaxtl.deep.single_task(pair.Xt, pair.yt, widths=(80.0, 80.0), temperature=0.05, action=action)
    np.testing.assert_allclose(ds.test_error.sel(width=80.0), sol.test_error(pair.X0, pair.y0).total, rtol=1e-10)
    np.testing.assert_allclose(ds.Q.sel(width=80.0), sol.Q[-1], rtol=1e-10)


def test_bad_arguments_name_themselves(data):
    X, y, _, _ = data
    with pytest.raises(ValueError, match="widths"):
        jaxtl.deep.single_task(X, y, widths=(10.0, -1.0), temperature=0.1)
    with pytest.raises(ValueError, match="lambdas"):
        jaxtl.deep.single_task(X, y, widths=(10.0, 10.0), temperature=0.1, lambdas=(1.0, 1.0))
    with pytest.raises(ValueError, match="action"):
        jaxtl.deep.single_task(X, y, widths=(10.0,), temperature=0.1, action="linear")
    with pytest.raises(ValueError, match="temperature"):
        jaxtl.deep.single_task(X, y, widths=(10.0,), temperature=0.0)


def test_theory_norms_are_derivatives_of_the_minimum_in_the_lambdas(data):
    """norms_l = 1 + (lambda_l / N_l) dF*/dlambda_l, F* the action at its minimum, re-solved at
    each lambda and evaluated by the NumPy action (central differences in log lambda_l); the
    readout's is Q_L, and with the nested action every deeper layer's is Q_l."""
    X, y, _, _ = data
    widths, T, lambdas = (25.0, 40.0), 0.05, np.array([1.0, 1.2, 0.9])
    reads = (X.shape[1], *widths)
    for action in ("nested", "vanilla"):
        sol = jaxtl.deep.single_task(X, y, widths=widths, temperature=T, lambdas=lambdas, action=action)

        def minimum(lam):
            Q = jaxtl.deep.single_task(X, y, widths=widths, temperature=T, lambdas=lam, action=action).Q
            return numpy_action(np.asarray(Q), X, y, widths, T, lam, "erf", action)

        h = 1e-4
        fd = [(minimum(lambdas * np.exp(h * e)) - minimum(lambdas * np.exp(-h * e))) / (2 * h) for e in np.eye(3)]
        np.testing.assert_allclose(sol.norms, 1 + np.array(fd) / reads, rtol=1e-6, err_msg=action)
        np.testing.assert_allclose(sol.norms[-1], sol.Q[-1], rtol=1e-10)
        if action == "nested":
            np.testing.assert_allclose(sol.norms[1:], sol.Q, rtol=1e-10)
        else:
            assert abs(sol.norms[1] - sol.Q[0]) > 1e-3  # the vanilla kernel's lambda_1 is not in Q_1 / lambda_1


def test_deep_network_at_one_layer_is_the_network_and_deeper_ones_compose():
    """L = 1: the draw and the outputs of `Network`. L = 3: the forward pass written out in
    NumPy, and prior weights of standard deviation 1/sqrt(lambda_l) (4 x 10^4 draws per layer)."""
    X = np.random.default_rng(0).standard_normal((4, 6))
    one = nets.DeepNetwork.from_prior(jax.random.key(1), 6, (5,), lambdas=(2.0, 0.5))
    net = nets.Network.from_prior(jax.random.key(1), 6, 5, lambda0=2.0, lambda1=0.5)
    np.testing.assert_array_equal(one.layers[0], net.W)
    np.testing.assert_array_equal(one.v, net.v)
    np.testing.assert_allclose(one(X), net(X), rtol=1e-14)

    lambdas = (1.5, 0.5, 4.0, 2.0)
    deep = nets.DeepNetwork.from_prior(jax.random.key(2), 6, (100, 200, 50), lambdas=lambdas)
    h = X
    for W in deep.layers:
        h = scipy.special.erf(h @ np.asarray(W).T / np.sqrt(W.shape[1]))
    np.testing.assert_allclose(deep(X), h @ np.asarray(deep.v) / np.sqrt(50), rtol=1e-12)
    np.testing.assert_allclose(deep(X[2]), deep(X)[2], rtol=1e-14)
    for M, lam in zip(deep.weights, lambdas):
        second = float(np.mean(np.asarray(M) ** 2))
        assert abs(lam * second - 1) < 5 * np.sqrt(2 / M.size), (M.shape, lam)
    with pytest.raises(ValueError, match="lambdas"):
        nets.DeepNetwork.from_prior(jax.random.key(2), 6, (10, 10), lambdas=(1.0, 1.0))


def test_deep_sampler_at_one_layer_is_the_one_layer_sampler():
    """L = 1: `sample_deep` runs the chains of `sample` (same key, same step, same networks);
    the last layer norm is the readout norm measured with lambda_1 (1 - eta T lambda_1 / 2)."""
    X, y, X0, _ = teacher_data(3, 20, 6, P0=10)
    sampler = nets.Langevin(n_chains=2, burn_in=20, n_samples=10, thin=3)
    params = dict(temperature=0.1, X_test=X0, sampler=sampler)
    one = nets.sample(jax.random.key(1), X, y, width=5, lambda0=1.3, lambda1=0.7, **params)
    deep = nets.sample_deep(jax.random.key(1), X, y, widths=(5,), lambdas=(1.3, 0.7), **params)
    assert deep.step_size == one.step_size and deep.curvature == one.curvature
    np.testing.assert_allclose(deep.final.layers[0], one.final.W, rtol=1e-12)
    np.testing.assert_allclose(deep.mean_output, one.mean_output, rtol=1e-12)
    np.testing.assert_allclose(deep.readout_norm, one.readout_norm, rtol=1e-12)
    np.testing.assert_allclose(deep.layer_norms[..., -1], one.readout_norm * (1 - one.step_size * 0.1 * 0.7 / 2),
                               rtol=1e-12)  # fmt: skip
    assert deep.layer_norms.shape == (2, 10, 2)


def test_prior_layer_norms_are_one_once_the_step_is_accounted_for():
    """No data (P = 0): the chains sample the prior, every layer norm averages 1. Without the
    step's correction (`_layer_norms`) the inner layers' would be 1 + N_(l+1) eta T lambda_l / 2,
    here over 10 standard errors away."""
    lambdas, widths, T = np.array([1.5, 1.5, 2.0]), (20, 10), 0.1
    s = nets.sample_deep(jax.random.key(3), np.zeros((0, 40)), np.zeros(0), widths=widths, temperature=T,
                         lambdas=lambdas, sampler=nets.Langevin(n_chains=8, burn_in=300, n_samples=400, thin=10))  # fmt: skip
    norms = s.norms
    assert np.all(np.abs(norms.mean - 1) < 5 * norms.stderr), norms
    uncorrected_excess = np.array([*widths, 1]) * s.step_size * T * lambdas / 2
    assert np.all(uncorrected_excess[:2] > 10 * norms.stderr[:2]), (uncorrected_excess, norms)


def test_two_layer_sampler_matches_quadrature_of_the_exact_posterior():
    """N0 = N_1 = N_2 = 1, erf: f(x) = v erf(w2 erf(w1 x)), p ∝ exp(-L/T - sum_l lambda_l w_l^2 / 2)
    integrated on a 3-D grid: the output's mean and variance at a test input and every layer's
    lambda_l <w_l^2> against the chains (5 standard errors)."""
    X, y, x0 = np.array([[1.5], [-0.7]]), np.array([0.8, -0.5]), 1.1
    T, lambdas = 0.1, np.array([1.3, 0.9, 0.7])
    s = nets.sample_deep(jax.random.key(5), X, y, widths=(1, 1), temperature=T, lambdas=lambdas, X_test=[[x0]],
                         sampler=nets.Langevin(n_chains=8, burn_in=2000, n_samples=2000, thin=20))  # fmt: skip
    grid = np.linspace(-6, 6, 241)
    w1, w2, v = np.meshgrid(grid, grid, grid, indexing="ij", sparse=True)
    f = lambda x: v * scipy.special.erf(w2 * scipy.special.erf(w1 * x))  # noqa: E731
    loss = 0.5 * sum((y_mu - f(x_mu)) ** 2 for x_mu, y_mu in zip(X[:, 0], y))
    log_p = -loss / T - (lambdas[0] * w1**2 + lambdas[1] * w2**2 + lambdas[2] * v**2) / 2
    p = np.exp(log_p - log_p.max())
    p /= p.sum()
    exact_mean = (p * f(x0)).sum()
    exact_var = (p * f(x0) ** 2).sum() - exact_mean**2
    exact_norms = np.array([lam * (p * w**2).sum() for lam, w in zip(lambdas, (w1, w2, v))])  # n_l = N_l = 1
    prediction = s.predict()
    assert abs(prediction.mean.mean[0] - exact_mean) < 5 * prediction.stderr.mean[0]
    assert abs(prediction.mean.variance[0] - exact_var) < 5 * prediction.stderr.variance[0]
    assert np.all(np.abs(s.norms.mean - exact_norms) < 5 * s.norms.stderr), (s.norms, exact_norms)


def test_compare_shows_one_row_per_layer_and_bad_arguments_name_themselves():
    X, y, X0, y0 = teacher_data(4, 15, 5, P0=8)
    s = nets.sample_deep(jax.random.key(0), X, y, widths=(6, 7), temperature=0.1, X_test=X0,
                         sampler=nets.Langevin(n_chains=2, burn_in=10, n_samples=4, thin=2))  # fmt: skip
    theory = jaxtl.deep.single_task(X, y, widths=(6.0, 7.0), temperature=0.1)
    c = nets.compare(theory, s, X0, y0)
    assert c.names == ("test error", "bias^2", "variance", "norms[0]", "norms[1]", "norms[2]")
    np.testing.assert_allclose(c.theory[3:], theory.norms, rtol=1e-6)
    np.testing.assert_allclose(c.networks[3:], s.norms.mean, rtol=1e-6)
    assert repr(s).startswith("DeepSamples(norms=Estimate(mean=[")
    for widths, lambdas, match in (((6, 0), None, "widths"), (6, None, "widths"), ((), None, "widths"),
                                   ((6, 7), (1.0, 1.0), "lambdas"), ((6, 7), (1.0, -1.0, 1.0), "lambdas")):  # fmt: skip
        with pytest.raises(ValueError, match=match):
            nets.sample_deep(jax.random.key(0), X, y, widths=widths, lambdas=lambdas, temperature=0.1)
    with pytest.raises(ValueError, match="temperature"):
        nets.sample_deep(jax.random.key(0), X, y, widths=(6,), temperature=-1.0)


def test_full_kernel_far_from_one_is_no_covariance_and_is_reported():
    from jaxtl.theory._activation import get_activation
    from jaxtl.theory._deep_single_task import _kernel_is_physical, _state

    pair = jaxtl.tasks.teacher_pair(jax.random.key(0), Ps=10, Pt=60, P0=10, N0=50)
    state = _state(pair.Xt, pair.yt, jnp.array([50.0, 50.0, 50.0]), 0.05, jnp.ones(4), get_activation("erf"), "full")
    assert bool(_kernel_is_physical(jnp.zeros(3), state))  # Q = 1: the NNGP kernel
    far = jnp.log(jnp.array([0.01, 0.01, 30.0]))  # the linearization's K_R has a negative eigenvalue here
    assert not bool(_kernel_is_physical(far, state))
    sol = jaxtl.deep.single_task(pair.Xt, pair.yt, widths=(50, 50, 50), temperature=0.05, action="full")
    assert bool(sol.converged) and bool(_kernel_is_physical(jnp.log(sol.Q), state))
