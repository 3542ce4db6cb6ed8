"""The readout theory on frozen features (jaxtl.features) against ridge readouts fitted on
sampled jointly Gaussian data, its limits, its derivatives and its checks."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize
import scipy.special

import jaxtl
from jaxtl.features import learning_curve

K, D = 200, 100


def feature_model(seed=0, K=K, D=D, noise=0.5):
    """Features v = A u + z, u ~ N(0, I_D), z ~ N(0, diag(s)): Omega = A A^T + diag(s),
    Phi = A. Returns (Omega, Phi, theta, A, s)."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((K, D)) / np.sqrt(D)
    s = noise * (1 + rng.random(K))
    return A @ A.T + np.diag(s), A, rng.standard_normal(D), A, s


def samples_of(A, s, theta, samples, seed, P0=3000):
    """`samples` training and P0 test samples of (v, y) from the feature model of A, s."""
    K, D = A.shape
    rng = np.random.default_rng(seed)
    u, u0 = rng.standard_normal((samples, D)), rng.standard_normal((P0, D))
    v = u @ A.T + rng.standard_normal((samples, K)) * np.sqrt(s)
    v0 = u0 @ A.T + rng.standard_normal((P0, K)) * np.sqrt(s)
    return v, np.sign(u @ theta), v0, np.sign(u0 @ theta)


def mean_and_stderr(rows):
    rows = np.array(rows)
    return rows.mean(0), rows.std(0, ddof=1) / np.sqrt(len(rows))


def simulate(A, s, theta, samples, ridge, seeds=12):
    """Ridge readouts fitted on `samples` sampled (u, v): the mean and standard error over
    seeds of (classification error, test mean squared error, training loss), each measured
    directly (fresh test samples; the fitted w)."""
    K = A.shape[0]
    rows = []
    for seed in range(seeds):
        v, y, v0, y0 = samples_of(A, s, theta, samples, 1000 + seed)
        w = np.linalg.solve(v.T @ v / K + ridge * np.eye(K), v.T @ y / np.sqrt(K))
        out0 = v0 @ w / np.sqrt(K)
        rows.append((np.mean(np.sign(out0) != y0), np.mean((y0 - out0) ** 2), 0.5 * np.mean((y - v @ w / np.sqrt(K)) ** 2)))
    return mean_and_stderr(rows)


@pytest.mark.parametrize("alpha", [0.25, 0.5, 1.0, 2.0, 4.0])
def test_matches_ridge_readouts_fitted_on_samples(alpha):
    """Five values of P/K at K = 200, D = 100, ridge 0.3: classification error, test MSE and
    training loss within 3 standard errors (about 1-2%) of the fitted readouts."""
    Omega, Phi, theta, A, s = feature_model()
    curve = learning_curve(Omega, Phi, theta, samples=alpha * K, ridge=0.3)
    assert curve.converged
    mean, stderr = simulate(A, s, theta, int(alpha * K), 0.3)
    theory = np.array([curve.classification_error, curve.test_mse, curve.training_loss])
    assert np.all(np.abs(theory - mean) < 3 * stderr + 0.005 * mean), (theory, mean, stderr)


def simulate_logistic(A, s, theta, samples, ridge, seeds=8):
    """Logistic readouts (L-BFGS to gradient 1e-9) fitted on `samples` sampled (u, v): the
    mean and standard error over seeds of (classification error, training loss)."""
    K = A.shape[0]
    rows = []
    for seed in range(seeds):
        v, y, v0, y0 = samples_of(A, s, theta, samples, 2000 + seed)

        def objective(w):
            z = y * (v @ w) / np.sqrt(K)
            gradient = -(v.T @ (y * scipy.special.expit(-z))) / np.sqrt(K) + ridge * w
            return np.sum(np.logaddexp(0, -z)) + ridge / 2 * w @ w, gradient

        w = scipy.optimize.minimize(objective, np.zeros(K), jac=True, method="L-BFGS-B",
                                    options=dict(maxiter=10_000, gtol=1e-9)).x
        rows.append((np.mean(np.sign(v0 @ w) != y0), np.mean(np.logaddexp(0, -y * (v @ w) / np.sqrt(K)))))
    return mean_and_stderr(rows)


@pytest.mark.parametrize("alpha, ridge", [(0.5, 0.1), (2.0, 0.1), (2.0, 1.0), (1.0, 0.01)])
def test_logistic_matches_readouts_fitted_on_samples(alpha, ridge):
    """The logistic readout at K = 200: classification error and training loss within 3
    standard errors + 2% of logistic regressions fitted on sampled data. At ridge 0.01 the
    response is large (V = 61): the proximal step must converge there (it cycled from
    x = omega, and the solve diverged)."""
    Omega, Phi, theta, A, s = feature_model()
    curve = learning_curve(Omega, Phi, theta, samples=alpha * K, ridge=ridge, loss="logistic")
    assert curve.converged and curve.loss == "logistic"
    mean, stderr = simulate_logistic(A, s, theta, int(alpha * K), ridge)
    theory = np.array([curve.classification_error, curve.training_loss])
    assert np.all(np.abs(theory - mean) < 3 * stderr + 0.02 * mean), (theory, mean, stderr)


def test_logistic_proximal_step_converges_at_any_response():
    """x* solves x - omega - V y sigmoid(-y x) = 0 to rounding for V from 10^-3 to 10^6 and
    omega over [-40, 40] (Newton from omega cycles for V > 11), and its implicit derivative in
    omega is the inverse function theorem's 1 / (1 + V l''(x*))."""
    from jaxtl.theory._readout import _logistic_prox

    prox_and_slope = jax.jit(jax.vmap(jax.value_and_grad(_logistic_prox), in_axes=(0, None, None)))
    omega = jnp.linspace(-40.0, 40.0, 2001)
    for V in (1e-3, 1.0, 12.0, 30.0, 1e3, 1e6):
        for y in (1.0, -1.0):
            x, slope = prox_and_slope(omega, jnp.asarray(y), jnp.asarray(V))
            s = jax.nn.sigmoid(-y * x)
            assert np.max(np.abs(x - omega - V * y * s)) < 1e-12 * (1 + V), (V, y)
            np.testing.assert_allclose(slope, 1 / (1 + V * s * (1 - s)), rtol=1e-10)


def test_no_samples_is_a_coin_toss():
    """alpha -> 0: m ~ alpha and q ~ alpha, so 1/2 - error ~ sqrt(alpha): tenfold closer to 1/2
    per hundredfold fewer samples."""
    Omega, Phi, theta, *_ = feature_model()
    gaps = [0.5 - learning_curve(Omega, Phi, theta, samples=P, ridge=1.0).classification_error for P in (1e-4, 1e-6)]
    assert 0 < gaps[1] < 1e-4 and 9.5 < gaps[0] / gaps[1] < 10.5
    more = learning_curve(Omega, Phi, theta, samples=4 * K, ridge=1.0)
    assert more.classification_error < 0.4  # the features do carry the label


def test_large_ridge_is_the_correlation_estimator():
    """lambda -> inf: the classification error of w ∝ sum_mu y_mu v_mu, from that estimator's
    moments over the samples (m = alpha c <t>/(gamma lambda), q = [alpha <omega^2> +
    alpha^2 c^2 <t omega>/gamma]/lambda^2), computed in NumPy."""
    Omega, Phi, theta, *_ = feature_model(1)
    alpha, lam = 1.5, 1e7
    curve = learning_curve(Omega, Phi, theta, samples=alpha * K, ridge=lam)
    omega, U = np.linalg.eigh(Omega)
    t = (U.T @ (Phi @ theta)) ** 2
    rho, gamma = theta @ theta / D, D / K
    c = np.sqrt(2 / (np.pi * rho))
    m = alpha * c * t.mean() / (gamma * lam)
    q = (alpha * np.mean(omega**2) + alpha**2 * c**2 * np.mean(t * omega) / gamma) / lam**2
    np.testing.assert_allclose(curve.classification_error, np.arccos(m / np.sqrt(rho * q)) / np.pi, rtol=1e-5)


def test_identity_features_are_ridge_on_gaussian_inputs():
    """Omega = Phi = I (v = u): V solves lambda V^2 + (lambda + alpha - 1) V - 1 = 0."""
    theta = np.random.default_rng(2).standard_normal(50)
    for alpha, lam in [(0.5, 0.1), (2.0, 1.0), (1.0, 1e-3)]:
        curve = learning_curve(np.eye(50), np.eye(50), theta, samples=alpha * 50, ridge=lam)
        b = lam + alpha - 1
        np.testing.assert_allclose(curve.V, (-b + np.sqrt(b**2 + 4 * lam)) / (2 * lam), rtol=1e-10)


@pytest.mark.parametrize("loss", ["square", "logistic"])
def test_implicit_gradients_match_finite_differences(loss):
    Omega, Phi, theta, *_ = feature_model(3, K=60, D=30)

    def errors(x):  # x = (samples, ridge, scale of the covariances)
        c = learning_curve(x[2] * Omega, jnp.sqrt(x[2]) * Phi, theta, samples=x[0], ridge=x[1], loss=loss)
        return jnp.stack([c.classification_error, c.test_mse, c.training_loss])

    f, x, h = jax.jit(errors), jnp.array([90.0, 0.4, 1.3]), jnp.array([1e-3, 1e-6, 1e-6])
    fd = jnp.stack([(f(x + e) - f(x - e)) / (2 * e.sum()) for e in jnp.diag(h)], axis=1)
    np.testing.assert_allclose(jax.jacfwd(f)(x), fd, rtol=1e-5, atol=1e-10)
    np.testing.assert_allclose(jax.jacrev(f)(x), fd, rtol=1e-5, atol=1e-10)
    assert np.all(np.abs(fd) > 1e-4)  # every error moves with every argument


def test_vmap_over_samples_ridge_and_covariances_equals_loop():
    Omega, Phi, theta, *_ = feature_model(4, K=40, D=20)
    samples, ridges = jnp.array([10.0, 40.0, 160.0]), jnp.array([0.01, 0.3, 3.0])
    batched = jax.vmap(lambda P, r: learning_curve(Omega, Phi, theta, samples=P, ridge=r).classification_error)(samples, ridges)
    for i in range(3):
        one = learning_curve(Omega, Phi, theta, samples=samples[i], ridge=ridges[i]).classification_error
        np.testing.assert_allclose(batched[i], one, rtol=1e-12)
    models = [feature_model(seed, K=40, D=20)[:3] for seed in (5, 6)]
    stacked = [jnp.stack(a) for a in zip(*models)]
    many = jax.vmap(lambda O, F, t: learning_curve(O, F, t, samples=60.0, ridge=0.5).test_mse)(*stacked)
    np.testing.assert_allclose(many, [learning_curve(*m, samples=60.0, ridge=0.5).test_mse for m in models], rtol=1e-12)


def test_unphysical_solution_is_a_failure():
    """Omega - Phi Phi^T not positive semidefinite (features more correlated with the teacher
    than their own variance allows): m^2 > rho q at the root, reported as such, errors NaN."""
    Omega, Phi, theta, *_ = feature_model(7, K=40, D=20)
    curve = learning_curve(0.05 * Omega, Phi, theta, samples=200.0, ridge=0.1)
    assert not curve.converged and curve.result == jaxtl.RESULTS.readout_not_physical
    assert jaxtl.RESULTS[curve.result].startswith("no physical stationary point")
    assert np.isnan(curve.classification_error) and np.isnan(curve.test_mse)


@pytest.mark.parametrize(
    "change, match",
    [
        (dict(samples=0.0), "^samples must"),
        (dict(ridge=-1.0), "^ridge must"),
        (dict(loss="hinge"), "^loss must be one of 'square', 'logistic'"),
        (dict(Omega=np.ones((3, 4))), r"^Omega must have shape \(K, K\)"),
        (dict(Phi=np.ones((39, 20))), r"^Phi must have shape \(K, D\) = \(40, D\)"),
        (dict(theta=np.ones(19)), r"^theta must have shape \(D,\)"),
    ],
)
def test_bad_arguments(change, match):
    Omega, Phi, theta, *_ = feature_model(8, K=40, D=20)
    arguments = dict(Omega=Omega, Phi=Phi, theta=theta, samples=10.0, ridge=1.0) | change
    with pytest.raises(ValueError, match=match):
        learning_curve(arguments.pop("Omega"), arguments.pop("Phi"), arguments.pop("theta"), **arguments)


def test_repr_shows_the_numbers():
    Omega, Phi, theta, *_ = feature_model(9, K=40, D=20)
    text = repr(learning_curve(Omega, Phi, theta, samples=40.0, ridge=1.0))
    assert text.startswith("ReadoutCurve(classification_error=0.") and "converged=True" in text


# ------------------------------------------------- covariances of features on hidden-manifold data


def manifold(seed=0, N0=200, D=100, K=30):
    k = jax.random.split(jax.random.key(seed), 3)
    return jax.random.normal(k[0], (K, N0)), jax.random.normal(k[1], (D, N0)), jax.random.normal(k[2], (D,))


@pytest.mark.parametrize("data_activation, activation", [("erf", "erf"), ("tanh", "erf"), ("erf", "tanh")])
def test_closed_form_covariances_match_monte_carlo(data_activation, activation):
    """Gaussian equivalence against 2 x 10^5 sampled latents: every entry of Omega and Phi
    within the Monte Carlo error (z-scores: root mean square below 1.5, none above 5)."""
    W, F, _ = manifold()
    acts = dict(data_activation=data_activation, activation=activation)
    exact = jaxtl.features.feature_covariances(W, F, **acts)
    sampled = jaxtl.features.sampled_feature_covariances(jax.random.key(1), W, F, samples=200_000, **acts)
    for name in ("Omega", "Phi"):
        z = (getattr(exact, name) - getattr(sampled, name)) / getattr(sampled, name + "_stderr")
        assert np.sqrt(np.mean(z**2)) < 1.5 and np.max(np.abs(z)) < 5, (name, float(np.sqrt(np.mean(z**2))))
    assert np.max(np.abs(exact.Phi)) > 10 * np.max(sampled.Phi_stderr)  # Phi is resolved, not noise


def test_linear_features_are_exact():
    """sigma = phi = identity: v = W F^T c / sqrt(D N0), so Omega = W F^T F W^T / (D N0) and
    Phi = W F^T / sqrt(D N0), exactly."""
    W, F, _ = manifold(2)
    cov = jaxtl.features.feature_covariances(W, F, data_activation="identity", activation="identity")
    M = np.asarray(W) @ np.asarray(F).T / np.sqrt(100 * 200)
    np.testing.assert_allclose(cov.Omega, M @ M.T, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(cov.Phi, M, rtol=1e-12, atol=1e-14)


def test_random_features_on_hidden_manifold_inputs():
    """The learning curve of random features (Gaussian W) on real hidden-manifold inputs, not
    the Gaussian surrogate: the theory on the closed-form covariances against ridge readouts
    fitted on sampled inputs (N0 = K = 200, D = 100; 8 seeds), within 3 standard errors + 1%."""
    N0, D, K, lam = 200, 100, 200, 0.1
    W, F, theta = manifold(3, N0=N0, D=D, K=K)
    cov = jaxtl.features.feature_covariances(W, F)
    Fn, Wn, th = (np.asarray(a) for a in (F, W, theta))
    features = lambda c: scipy.special.erf(scipy.special.erf(c @ Fn / np.sqrt(D)) @ Wn.T / np.sqrt(N0))  # noqa: E731
    for alpha in (0.5, 2.0):
        curve = learning_curve(cov.Omega, cov.Phi, theta, samples=alpha * K, ridge=lam)
        errors = []
        for seed in range(8):
            rng = np.random.default_rng(seed)
            c, c0 = rng.standard_normal((int(alpha * K), D)), rng.standard_normal((3000, D))
            v, v0 = features(c), features(c0)
            w = np.linalg.solve(v.T @ v / K + lam * np.eye(K), v.T @ np.sign(c @ th) / np.sqrt(K))
            errors.append(np.mean(np.sign(v0 @ w) != np.sign(c0 @ th)))
        mean, stderr = np.mean(errors), np.std(errors, ddof=1) / np.sqrt(8)
        assert abs(curve.classification_error - mean) < 3 * stderr + 0.01 * mean, (alpha, curve, mean, stderr)


def test_covariances_are_differentiable_in_the_manifold():
    W, F, _ = manifold(4, N0=50, D=20, K=10)
    direction = jax.random.normal(jax.random.key(5), F.shape)
    f = jax.jit(lambda t: jnp.sum(jaxtl.features.feature_covariances(W, F + t * direction).Omega ** 2))
    h = 1e-5
    np.testing.assert_allclose(jax.grad(f)(0.0), (f(h) - f(-h)) / (2 * h), rtol=1e-6)


def test_bad_covariance_arguments():
    W, F, _ = manifold(6, N0=20, D=10, K=5)
    with pytest.raises(ValueError, match=r"^W must have shape \(K, N0\) with the N0 of F"):
        jaxtl.features.feature_covariances(W[:, :-1], F)
    with pytest.raises(ValueError, match="^data_activation"):
        jaxtl.features.feature_covariances(W, F, data_activation="relu")
    with pytest.raises(ValueError, match="^samples must be an integer"):
        jaxtl.features.sampled_feature_covariances(jax.random.key(0), W, F, samples=0)
