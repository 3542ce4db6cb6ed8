"""The readout theory on frozen features (jaxtl.features) against ridge readouts fitted on
sampled jointly Gaussian data, its limits, its derivatives and its checks."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

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


def simulate(A, s, theta, samples, ridge, seeds=12, P0=3000):
    """Ridge readouts fitted on `samples` sampled (u, v): the mean and standard error over
    seeds of (classification error, test mean squared error, training loss), each measured
    directly (fresh test samples; the fitted w)."""
    K, D = A.shape
    rows = []
    for seed in range(seeds):
        rng = np.random.default_rng(1000 + seed)
        u, u0 = rng.standard_normal((samples, D)), rng.standard_normal((P0, D))
        v = u @ A.T + rng.standard_normal((samples, K)) * np.sqrt(s)
        v0 = u0 @ A.T + rng.standard_normal((P0, K)) * np.sqrt(s)
        y, y0 = np.sign(u @ theta), np.sign(u0 @ theta)
        w = np.linalg.solve(v.T @ v / K + ridge * np.eye(K), v.T @ y / np.sqrt(K))
        out0 = v0 @ w / np.sqrt(K)
        rows.append((np.mean(np.sign(out0) != y0), np.mean((y0 - out0) ** 2), 0.5 * np.mean((y - v @ w / np.sqrt(K)) ** 2)))
    rows = np.array(rows)
    return rows.mean(0), rows.std(0, ddof=1) / np.sqrt(seeds)


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


def test_implicit_gradients_match_finite_differences():
    Omega, Phi, theta, *_ = feature_model(3, K=60, D=30)

    def errors(x):  # x = (samples, ridge, scale of the covariances)
        c = learning_curve(x[2] * Omega, jnp.sqrt(x[2]) * Phi, theta, samples=x[0], ridge=x[1])
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
        (dict(loss="hinge"), "^loss must be one of 'square'"),
        (dict(loss="logistic"), "not implemented yet"),
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
