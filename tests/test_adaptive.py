"""The adaptive-kernel theories (jaxtl.adaptive_kernel, jaxtl.adaptive_transfer) against
independent NumPy evaluations of their closed forms, Monte Carlo against exact expectations,
and gradients against finite differences."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

import jaxtl
from helpers import nngp, teacher_data
from jaxtl.theory._single_site import draw_weights, gradient_and_hessian, sites

N0 = 40


def data(seed=0, P=24, P0=60):
    return teacher_data(seed, P, N0, P0=P0)


def numpy_linear_kernel(X, y, gamma0, lambda0=1.0, lambda1=1.0, T=0.0):
    """The identity activation's adapted kernel in NumPy: Phi = C + c (C a)(C a)^T with
    a = (t C + r I)^{-1} y and t = 1/(1 - g a^T C a), a scalar equation for t (brentq)."""
    import scipy.optimize

    C = X @ X.T / (lambda0 * X.shape[1])
    g, r = gamma0**2 * lambda1, lambda1 * T
    a_of = lambda t: np.linalg.solve(t * C + r * np.eye(len(y)), y)
    if g == 0:
        return C, a_of(1.0)
    t = scipy.optimize.brentq(lambda t: 1 - 1 / t - g * a_of(t) @ C @ a_of(t), 1.0, 1e6)
    a = a_of(t)
    Ca = C @ a
    return C + g * t * np.outer(Ca, Ca), a


@pytest.mark.parametrize("gamma0", [0.0, 0.7, 2.0])
def test_identity_kernel_is_the_closed_form(gamma0):
    X, y, _, _ = data()
    sol = jaxtl.adaptive_kernel(X, y, feature_strength=gamma0, activation="identity")
    C = X @ X.T / N0
    a = y @ np.linalg.solve(C, y)
    g = gamma0**2
    kappa = 2 * g / (1 + np.sqrt(1 + 4 * g * a))  # T = 0: Phi = C + kappa y y^T
    np.testing.assert_allclose(sol.kernel, C + kappa * np.outer(y, y), atol=1e-10, rtol=0)
    np.testing.assert_allclose(sol.conjugate, -0.5 * g * np.outer(*2 * [np.linalg.solve(C + kappa * np.outer(y, y), y)]),
                               atol=1e-10, rtol=0)  # fmt: skip
    assert bool(sol.converged) and np.isinf(sol.effective_samples)


def test_identity_with_ridge_and_its_predictor_match_numpy():
    X, y, X0, y0 = data(1)
    gamma0, lambda0, lambda1, T = 1.3, 0.8, 1.5, 0.05
    sol = jaxtl.adaptive_kernel(X, y, feature_strength=gamma0, lambda0=lambda0, lambda1=lambda1, temperature=T,
                                activation="identity")  # fmt: skip
    Phi, a = numpy_linear_kernel(X, y, gamma0, lambda0, lambda1, T)
    np.testing.assert_allclose(sol.kernel, Phi, atol=1e-10, rtol=0)
    np.testing.assert_allclose(sol.coefficients, a, atol=1e-9, rtol=0)
    # the test kernel: covariance of h(x0) and h(X) under the tilted Gaussian law of the weights
    g, C0 = gamma0**2 * lambda1, X0 @ X.T / (lambda0 * N0)
    t = 1 / (1 - g * a @ (X @ X.T / (lambda0 * N0)) @ a)
    Phi0 = C0 + g * t * np.outer(C0 @ a, X @ X.T / (lambda0 * N0) @ a)
    np.testing.assert_allclose(sol.predict(X0).mean, Phi0 @ a, atol=1e-9, rtol=0)
    np.testing.assert_allclose(sol.test_error(X0, y0).total, np.mean((y0 - Phi0 @ a) ** 2), atol=1e-9)


def test_no_feature_learning_is_the_nngp_kernel_exactly():
    X, y, X0, _ = data(2)
    sol = jaxtl.adaptive_kernel(X, y, feature_strength=0.0, activation="erf", neurons=500, temperature=0.1)
    K = nngp(X, X, 1.0, "erf")
    np.testing.assert_allclose(sol.kernel, K, atol=1e-12, rtol=0)  # the control variate is exact at g = 0
    K0 = nngp(X0, X, 1.0, "erf")
    np.testing.assert_allclose(sol.predict(X0).mean, K0 @ np.linalg.solve(K + 0.1 * np.eye(len(y)), y), atol=1e-10)


@pytest.mark.parametrize("exact", [True, False])
def test_hessian_is_the_jacobian_of_the_gradient(exact):
    X, y, _, _ = data(3, P=8)
    act = "identity" if exact else "tanh"
    sol = jaxtl.adaptive_kernel(X, y, feature_strength=0.8, activation=act, neurons=None if exact else 300,
                                temperature=0.2, throw=False)  # fmt: skip
    args = (sites(sol.weights, jnp.asarray(X)), jnp.asarray(y), 0.8**2, 0.2)
    alpha = 0.5 * sol.coefficients + 0.01
    H = gradient_and_hessian(alpha, args)[1]
    np.testing.assert_allclose(H, jax.jacfwd(lambda a: gradient_and_hessian(a, args)[0])(alpha), atol=1e-10, rtol=1e-9)


def test_monte_carlo_identity_matches_exact_within_its_error():
    X, y, X0, y0 = data(4, P=16)
    kw = dict(feature_strength=0.5, activation="identity", temperature=0.1)
    exact = jaxtl.adaptive_kernel(X, y, **kw)
    runs = [jaxtl.adaptive_kernel(X, y, **kw, neurons=4000, key=jax.random.key(k)) for k in range(8)]
    for name, f in (("test error", lambda s: s.test_error(X0, y0).total), ("Phi[0, 1]", lambda s: s.kernel[0, 1]),
                    ("alignment", lambda s: s.alignment)):  # fmt: skip
        values = np.array([float(f(s)) for s in runs])
        stderr = values.std(ddof=1) / np.sqrt(len(values))
        assert abs(values.mean() - float(f(exact))) < 4 * stderr + 1e-3, (name, values, float(f(exact)))


def test_feature_learning_raises_the_alignment_and_collapsing_weights_fail():
    X, y, _, _ = data(5)
    lazy, rich = (jaxtl.adaptive_kernel(X, y, feature_strength=g, neurons=4000, temperature=0.01) for g in (0.0, 1.0))
    assert rich.alignment > lazy.alignment + 0.1
    strong = jaxtl.adaptive_kernel(X, y, feature_strength=4.0, neurons=500, temperature=0.01, throw=False)
    assert strong.result == jaxtl.RESULTS.samples_collapsed and strong.effective_samples < 100
    assert np.isnan(strong.predict(X).mean).all()
    with pytest.raises(Exception, match="effective sample size"):
        jaxtl.adaptive_kernel(X, y, feature_strength=4.0, neurons=500, temperature=0.01)


def test_interpolation_with_a_singular_kernel_is_not_physical():
    X, y, _, _ = data(6, P=50)  # P > N0: the identity kernel has rank N0 < P
    sol = jaxtl.adaptive_kernel(X, y, feature_strength=0.5, activation="identity", throw=False)
    assert not bool(sol.converged)
    assert sol.result in (jaxtl.RESULTS.kernel_not_pd, jaxtl.RESULTS.nonlinear_divergence, jaxtl.RESULTS.not_a_root,
                          jaxtl.RESULTS.nonfinite)  # fmt: skip


def transfer_data():
    rng = np.random.default_rng(7)
    w_s = rng.standard_normal(N0)
    w_t = 0.8 * w_s + 0.6 * rng.standard_normal(N0)
    Xs, Xt, X0 = (rng.standard_normal((n, N0)) for n in (36, 16, 80))
    return (Xs, np.tanh(Xs @ w_s / np.sqrt(N0))), (Xt, np.tanh(Xt @ w_t / np.sqrt(N0))), (X0, np.tanh(X0 @ w_t / np.sqrt(N0)))


def test_identity_transfer_limits_and_the_gaussian_formula():
    (Xs, ys), (Xt, yt), (X0, y0) = transfer_data()
    kw = dict(feature_strength=0.9, lambda0=1.2, temperature=0.02, activation="identity")
    g, r, lambda0 = 0.9**2, 0.02, 1.2
    single = jaxtl.adaptive_kernel(Xt, yt, **kw)
    zero = jaxtl.adaptive_transfer((Xs, ys), (Xt, yt), coupling=0.0, **kw)
    np.testing.assert_allclose(zero.kernel, single.kernel, atol=1e-10, rtol=0)
    np.testing.assert_allclose(zero.benefit(X0, y0).total, 0.0, atol=1e-10)
    source = jaxtl.adaptive_kernel(Xs, ys, **kw)
    Phi_s = np.asarray(source.feature_kernel(Xt, Xt))  # the source-adapted kernel on the target inputs
    frozen = jaxtl.adaptive_transfer((Xs, ys), (Xt, yt), coupling=np.inf, **kw)
    np.testing.assert_allclose(frozen.kernel, Phi_s, atol=1e-10, rtol=0)
    a = np.linalg.solve(Phi_s + r * np.eye(len(yt)), yt)  # kernel regression with the frozen kernel
    np.testing.assert_allclose(frozen.predict(X0).mean, np.asarray(source.feature_kernel(X0, Xt)) @ a, atol=1e-9)
    # finite coupling: Phi_t = S' + S' S^-1 M S^-1 S', S = (lambda0/(lambda0+delta)) C_tt, S' = (S^-1 - g a a^T)^-1,
    # M = rho^2 Phi_s(Xt, Xt), at the solution a = (Phi_t + r I)^-1 y_t
    delta = 2.5
    sol = jaxtl.adaptive_transfer((Xs, ys), (Xt, yt), coupling=delta, **kw)
    a = np.asarray(sol.target.coefficients)
    S = Xt @ Xt.T / (N0 * (lambda0 + delta))
    M = (delta / (lambda0 + delta)) ** 2 * Phi_s
    S1 = np.linalg.inv(np.linalg.inv(S) - g * np.outer(a, a))
    Phi_t = S1 + S1 @ np.linalg.inv(S) @ M @ np.linalg.inv(S) @ S1
    np.testing.assert_allclose(sol.kernel, Phi_t, atol=1e-9, rtol=0)
    np.testing.assert_allclose((Phi_t + r * np.eye(len(yt))) @ a, yt, atol=1e-9)
    benefit = sol.benefit(X0, y0)
    np.testing.assert_allclose(benefit.prior + benefit.source, benefit.total, atol=1e-12)
    assert benefit.total > 0  # aligned teachers (overlap 0.8): transfer helps


def test_monte_carlo_transfer_matches_exact_within_its_error():
    (Xs, ys), (Xt, yt), (X0, y0) = transfer_data()
    kw = dict(feature_strength=0.5, temperature=0.05, activation="identity", coupling=2.0)
    exact = jaxtl.adaptive_transfer((Xs, ys), (Xt, yt), **kw).test_error(X0, y0).total
    runs = np.array([float(jaxtl.adaptive_transfer((Xs, ys), (Xt, yt), **kw, neurons=2000, target_draws=8,
                                                   key=jax.random.key(k)).test_error(X0, y0).total)
                     for k in range(6)])  # fmt: skip
    stderr = runs.std(ddof=1) / np.sqrt(len(runs))
    assert abs(runs.mean() - float(exact)) < 4 * stderr + 2e-3, (runs, float(exact))


def numpy_joint_residuals(sol, Xs, ys, Xt, yt, g, r, lambda0, delta):
    """The joint reading's stationarity conditions (Phi_bb + r I) alpha_b = y_b, with Phi from the
    tilted Gaussian law of the neuron pair written out in 2 N0 (delta = inf: N0) dimensions
    and inverted explicitly (no Woodbury identity, no 2 x 2 reduction)."""
    a_s, a_t = (np.asarray(a) for a in (sol.source.coefficients, sol.target.coefficients))
    b_s, b_t = Xs.T @ a_s / np.sqrt(N0), Xt.T @ a_t / np.sqrt(N0)
    eye = np.eye(N0)
    if np.isinf(delta):  # one shared W with both priors
        C = np.linalg.inv(2 * lambda0 * eye - g * (np.outer(b_s, b_s) + np.outer(b_t, b_t)))
        C_ss = C_tt = C
    else:
        precision = np.kron(np.array([[lambda0 + delta, -delta], [-delta, lambda0 + delta]]), eye)
        precision[:N0, :N0] -= g * np.outer(b_s, b_s)
        precision[N0:, N0:] -= g * np.outer(b_t, b_t)
        C = np.linalg.inv(precision)
        C_ss, C_tt = C[:N0, :N0], C[N0:, N0:]
    Phi_s, Phi_t = Xs @ C_ss @ Xs.T / N0, Xt @ C_tt @ Xt.T / N0
    residuals = [(Phi_s + r * np.eye(len(ys))) @ a_s - ys, (Phi_t + r * np.eye(len(yt))) @ a_t - yt]
    return np.concatenate(residuals), Phi_s, Phi_t


@pytest.mark.parametrize("delta", [0.7, 4.0, np.inf])
def test_joint_reading_solves_the_pair_equations(delta):
    (Xs, ys), (Xt, yt), (X0, y0) = transfer_data()
    kw = dict(feature_strength=0.9, lambda0=1.2, temperature=0.02, activation="identity")
    sol = jaxtl.adaptive_transfer((Xs, ys), (Xt, yt), coupling=delta, reading="joint", **kw)
    assert bool(sol.converged) and sol.reading == "joint"
    residuals, Phi_s, Phi_t = numpy_joint_residuals(sol, Xs, ys, Xt, yt, 0.9**2, 0.02, 1.2, delta)
    np.testing.assert_allclose(residuals, 0.0, atol=1e-9)
    np.testing.assert_allclose(sol.source.kernel, Phi_s, atol=1e-10, rtol=0)
    np.testing.assert_allclose(sol.kernel, Phi_t, atol=1e-10, rtol=0)
    quenched = jaxtl.adaptive_transfer((Xs, ys), (Xt, yt), coupling=delta, **kw)
    # the target's labels move the source's kernel only in the joint reading
    assert np.abs(np.asarray(sol.source.kernel) - np.asarray(quenched.source.kernel)).max() > 1e-3
    benefit = sol.benefit(X0, y0)
    np.testing.assert_allclose(benefit.prior + benefit.source, benefit.total, atol=1e-12)


def test_joint_reading_without_coupling_is_two_single_tasks():
    (Xs, ys), (Xt, yt), (X0, y0) = transfer_data()
    kw = dict(feature_strength=0.9, lambda0=1.2, temperature=0.02, activation="identity")
    sol = jaxtl.adaptive_transfer((Xs, ys), (Xt, yt), coupling=0.0, reading="joint", **kw)
    for network, (X, y) in ((sol.source, (Xs, ys)), (sol.target, (Xt, yt))):
        np.testing.assert_allclose(network.kernel, jaxtl.adaptive_kernel(X, y, **kw).kernel, atol=1e-10, rtol=0)
    np.testing.assert_allclose(sol.benefit(X0, y0).total, 0.0, atol=1e-10)


def test_joint_monte_carlo_hessian_is_the_jacobian_of_the_gradient():
    from jaxtl.theory._adaptive_transfer import paired_weights
    from jaxtl.theory._activation import get_activation

    (Xs, ys), (Xt, yt), _ = transfer_data()
    Xs, ys, Xt, yt = (jnp.asarray(v[:n]) for v, n in ((Xs, 7), (ys, 7), (Xt, 5), (yt, 5)))
    pairs = paired_weights(get_activation("tanh"), N0, 1.0, 2.0, 300, jax.random.key(1))
    args = (sites(pairs, (Xs, Xt)), jnp.concatenate([ys, yt]), 0.8**2, 0.2)
    alpha = 0.3 * jnp.concatenate([ys, yt]) + 0.01
    H = jax.jit(gradient_and_hessian)(alpha, args)[1]
    jacobian = jax.jit(jax.jacfwd(lambda a, args: gradient_and_hessian(a, args)[0]))(alpha, args)
    np.testing.assert_allclose(H, jacobian, atol=1e-10, rtol=1e-9)


def test_joint_monte_carlo_matches_exact_within_its_error():
    (Xs, ys), (Xt, yt), (X0, y0) = transfer_data()
    kw = dict(feature_strength=0.5, temperature=0.05, activation="identity", coupling=2.0, reading="joint")
    exact = jaxtl.adaptive_transfer((Xs, ys), (Xt, yt), **kw)
    runs = [jaxtl.adaptive_transfer((Xs, ys), (Xt, yt), **kw, neurons=6000, key=jax.random.key(k)) for k in range(6)]
    for name, f in (("test error", lambda s: s.test_error(X0, y0).total), ("Phi_s[0, 1]", lambda s: s.source.kernel[0, 1]),
                    ("Phi_t[0, 1]", lambda s: s.kernel[0, 1])):  # fmt: skip
        values = np.array([float(f(s)) for s in runs])
        stderr = values.std(ddof=1) / np.sqrt(len(values))
        assert abs(values.mean() - float(f(exact))) < 4 * stderr + 2e-3, (name, values, float(f(exact)))


@pytest.mark.parametrize("reading", ["quenched", "joint"])
def test_gradients_match_finite_differences(reading):
    (Xs, ys), (Xt, yt), (X0, y0) = transfer_data()
    base = dict(feature_strength=0.8, coupling=1.5, lambda0=1.1, lambda1=0.9, temperature=0.05)

    def error(values):
        sol = jaxtl.adaptive_transfer((Xs, ys), (Xt, yt), **values, activation="identity", reading=reading)
        return sol.test_error(X0, y0).total

    grads = jax.grad(error)({k: jnp.asarray(v) for k, v in base.items()})
    for name, value in base.items():
        h = 1e-5 * value
        fd = (error(base | {name: value + h}) - error(base | {name: value - h})) / (2 * h)
        np.testing.assert_allclose(grads[name], fd, rtol=1e-5, atol=1e-9, err_msg=name)


def test_monte_carlo_gradient_matches_finite_differences():
    X, y, X0, y0 = data(8, P=12)

    def error(gamma0):
        return jaxtl.adaptive_kernel(X, y, feature_strength=gamma0, neurons=2000, temperature=0.05).test_error(X0, y0).total

    h = 1e-5
    fd = (error(0.7 + h) - error(0.7 - h)) / (2 * h)
    np.testing.assert_allclose(jax.grad(error)(0.7), fd, rtol=1e-5)


def test_vmap_over_couplings_equals_a_loop():
    (Xs, ys), (Xt, yt), (X0, y0) = transfer_data()
    error = lambda d: jaxtl.adaptive_transfer((Xs, ys), (Xt, yt), feature_strength=0.6, coupling=d, temperature=0.05,
                                              activation="identity").test_error(X0, y0).total  # noqa: E731
    deltas = jnp.array([0.0, 0.5, 5.0, jnp.inf])
    np.testing.assert_allclose(jax.vmap(error)(deltas), [error(d) for d in deltas], atol=1e-12)


def test_bad_arguments_name_themselves():
    X, y, _, _ = data()
    with pytest.raises(ValueError, match="feature_strength"):
        jaxtl.adaptive_kernel(X, y, feature_strength=-1.0)
    with pytest.raises(ValueError, match="temperature"):
        jaxtl.adaptive_kernel(X, y, feature_strength=1.0, temperature=-0.1)
    with pytest.raises(ValueError, match="neurons"):
        jaxtl.adaptive_kernel(X, y, feature_strength=1.0, neurons=0)
    with pytest.raises(ValueError, match="y must have shape"):
        jaxtl.adaptive_kernel(X, y[:-1], feature_strength=1.0)
    with pytest.raises(ValueError, match="coupling"):
        jaxtl.adaptive_transfer((X, y), (X, y), feature_strength=1.0, coupling=-1.0)
    with pytest.raises(ValueError, match="target_draws"):
        jaxtl.adaptive_transfer((X, y), (X, y), feature_strength=1.0, coupling=1.0, target_draws=0)
    with pytest.raises(ValueError, match="reading must be one of"):
        jaxtl.adaptive_transfer((X, y), (X, y), feature_strength=1.0, coupling=1.0, reading="annealed")
    with pytest.raises(ValueError, match="source must be a pair"):
        jaxtl.adaptive_transfer(X, (X, y), feature_strength=1.0, coupling=1.0)


def test_sweep_and_optimize_serve_the_adaptive_theories():
    from jaxtl.tasks import teacher_pair

    sizes = dict(Ps=30, Pt=12, P0=40, N0=20, rho=0.9, temperature=0.05, activation="identity")
    ds = jaxtl.sweep(teacher_pair, theory="adaptive_transfer", **sizes, feature_strength=0.6,
                     coupling=[0.0, 3.0, np.inf], progress=False)  # fmt: skip
    assert bool(ds.converged.all()) and float(ds.benefit.sel(coupling=0.0)) == pytest.approx(0.0, abs=1e-10)
    pair = teacher_pair(jax.random.key(0), Ps=30, Pt=12, P0=40, N0=20, rho=0.9)
    sol = jaxtl.adaptive_transfer((pair.Xs, pair.ys), (pair.Xt, pair.yt), feature_strength=0.6, coupling=3.0,
                                  temperature=0.05, activation="identity")  # fmt: skip
    np.testing.assert_allclose(ds.test_error.sel(coupling=3.0), sol.test_error(pair.X0, pair.y0).total, atol=1e-10)
    joint = jaxtl.sweep(teacher_pair, theory="adaptive_transfer", **sizes, feature_strength=0.6, reading="joint",
                        coupling=[0.0, 3.0], progress=False)  # fmt: skip
    sol = jaxtl.adaptive_transfer((pair.Xs, pair.ys), (pair.Xt, pair.yt), feature_strength=0.6, coupling=3.0,
                                  temperature=0.05, activation="identity", reading="joint")  # fmt: skip
    np.testing.assert_allclose(joint.test_error.sel(coupling=3.0), sol.test_error(pair.X0, pair.y0).total, atol=1e-10)
    single = jaxtl.sweep(teacher_pair, theory="adaptive_kernel", **sizes, feature_strength=[0.0, 0.6], progress=False)
    assert single.alignment.sel(feature_strength=0.6) > single.alignment.sel(feature_strength=0.0)
    opt = jaxtl.optimize(teacher_pair, theory="adaptive_transfer", **sizes, feature_strength=0.6,
                         over={"coupling": (1e-2, 1e2)}, steps=5, progress=False)  # fmt: skip
    assert float(opt.objective[-1]) < float(opt.objective[0])


def test_preactivation_histogram_monte_carlo_matches_exact():
    X, y, X0, _ = data(9, P=16)
    kw = dict(feature_strength=0.5, activation="identity", temperature=0.05)
    exact = jaxtl.adaptive_kernel(X, y, **kw)
    sampled = jaxtl.adaptive_kernel(X, y, **kw, neurons=8000)
    w = np.asarray(draw_weights(sampled.weights, sampled.inputs, sampled.coefficients, sampled.tilt)).ravel()
    edges = np.linspace(-3, 3, 13)
    for x0 in (X[0], X0[0]):
        p, q = np.asarray(exact.preactivation_histogram(x0, edges)), np.asarray(sampled.preactivation_histogram(x0, edges))
        # the exact law is a Gaussian whose variance is the adapted kernel's diagonal at x0
        std = np.sqrt(float(exact.feature_kernel(x0[None], x0[None])[0, 0]))
        np.testing.assert_allclose(p, np.diff(scipy.stats.norm.cdf(edges / std)), atol=1e-12)
        # self-normalized importance sampling: var q_k = sum_i w_i^2 (1[h_i in bin k] - q_k)^2
        h = np.asarray(sampled.weights.samples).reshape(-1, N0) @ x0 / np.sqrt(N0)
        inside = (h[:, None] >= edges[None, :-1]) & (h[:, None] < edges[None, 1:])
        stderr = np.sqrt(np.sum(w[:, None] ** 2 * (inside - q) ** 2, axis=0))
        assert np.all(np.abs(q - p) < 4 * stderr + 1e-3), (p, q, stderr)
    # the labels' tilt widens the law along the learned direction: more mass in the tails than the prior's
    prior = jaxtl.adaptive_kernel(X, y, **kw | dict(feature_strength=0.0)).preactivation_histogram(X[0], edges)
    assert float(exact.preactivation_histogram(X[0], edges)[np.array([0, -1])].sum()) > float(prior[np.array([0, -1])].sum())
    with pytest.raises(ValueError, match="edges"):
        exact.preactivation_histogram(X[0], [1.0, 0.0])


def test_fitted_proposal_keeps_the_draws_effective():
    from jaxtl.theory._activation import get_activation
    from jaxtl.theory._adaptive_kernel import prior_weights, solve_adaptive

    X, y, X0, y0 = data(10, P=16)
    kw = dict(feature_strength=1.0, lambda0=1.0, lambda1=1.0, temperature=0.05)
    # identity: the tilted law is the prior stretched along X^T alpha, which the fitted proposal is
    exact = jaxtl.adaptive_kernel(X, y, **kw, activation="identity")
    fitted = jaxtl.adaptive_kernel(X, y, **kw, activation="identity", neurons=4000)
    assert float(fitted.effective_samples) > 0.9 * 4000
    np.testing.assert_allclose(fitted.test_error(X0, y0).total, exact.test_error(X0, y0).total, rtol=0.02)
    # erf: many times the prior draws' effective samples
    erf = get_activation("erf")
    weights = prior_weights(erf, N0, 1.0, 4000, jax.random.key(0))
    plain, moved = (solve_adaptive(weights, jnp.asarray(X), jnp.asarray(y), **kw, activation=erf, throw=False,
                                   fit_proposal=fit) for fit in (False, True))  # fmt: skip
    assert float(moved.effective_samples) > 3 * float(plain.effective_samples), (moved.effective_samples,
                                                                                 plain.effective_samples)


def test_fitted_pair_proposal_keeps_the_draws_effective():
    from jaxtl.theory._activation import get_activation
    from jaxtl.theory._adaptive_kernel import stationary_coefficients
    from jaxtl.theory._adaptive_transfer import paired_weights
    from jaxtl.theory._single_site import fitted_pair_proposal

    (Xs, ys), (Xt, yt), _ = transfer_data()
    X, y, g = (jnp.asarray(Xs), jnp.asarray(Xt)), jnp.concatenate([jnp.asarray(ys), jnp.asarray(yt)]), 0.8**2
    for delta in (2.0, np.inf):
        pairs = paired_weights(get_activation("erf"), N0, 1.0, delta, 4000, jax.random.key(0))
        plain = stationary_coefficients(pairs, X, y, g, 0.05)[4]
        current = pairs
        for _ in range(2):  # the solver's FIT_ROUNDS
            alpha = stationary_coefficients(current, X, y, g, 0.05)[0]
            current = fitted_pair_proposal(pairs, current, X, alpha, g)
        moved = stationary_coefficients(current, X, y, g, 0.05)
        assert float(moved[4]) > 3 * float(plain), (delta, moved[4], plain)
        assert moved[1] == jaxtl.RESULTS.successful
    # that the moved draws give the exact law's answer: test_joint_monte_carlo_matches_exact_within_its_error


def test_monte_carlo_error_is_the_spread_over_independent_draws():
    from jaxtl.theory._single_site import monte_carlo_error

    X, y, _, _ = data(11, P=16)
    X, y = jnp.asarray(X), jnp.asarray(y)
    g, r = 0.8**2, 0.05
    kw = dict(feature_strength=0.8, temperature=0.05)
    alpha = jaxtl.adaptive_kernel(X, y, **kw, neurons=40_000).coefficients  # one common point
    runs = [jaxtl.adaptive_kernel(X, y, **kw, neurons=2000, key=jax.random.key(k), throw=False).weights for k in range(16)]
    gradients = np.array([gradient_and_hessian(alpha, (sites(w, X), y, g, r))[0] for w in runs])
    spread = np.sqrt(np.mean(np.sum((gradients - gradients.mean(0)) ** 2, axis=1))) / np.linalg.norm(y)
    reported = np.mean([float(monte_carlo_error(w, X, alpha, y, g, r)) for w in runs])  # from one run's halves
    assert 0.6 < reported / spread < 1.5, (reported, spread)


def test_an_unresolved_estimate_fails_though_its_effective_samples_pass():
    from jaxtl.theory._activation import get_activation
    from jaxtl.theory._adaptive_kernel import prior_weights, solve_adaptive

    pair = jaxtl.tasks.teacher_pair(jax.random.key(0), Ps=40, Pt=40, P0=100, N0=30, readout="tanh", gain=2.0)
    erf = get_activation("erf")
    kw = dict(feature_strength=1.0, lambda0=1.0, lambda1=1.0, temperature=0.1, activation=erf, throw=False)
    weights = prior_weights(erf, 30, 1.0, 40_000, jax.random.key(0))
    plain = solve_adaptive(weights, pair.Xt, pair.yt, **kw)  # the prior's draws: a few heavy weights decide
    assert float(plain.effective_samples) >= 100 and float(plain.monte_carlo_error) > 0.1
    assert plain.result == jaxtl.RESULTS.monte_carlo_unresolved and np.isnan(plain.predict(pair.X0).mean).all()
    fitted = solve_adaptive(weights, pair.Xt, pair.yt, **kw, fit_proposal=True)
    assert fitted.converged and float(fitted.monte_carlo_error) < 0.5 * float(plain.monte_carlo_error)
