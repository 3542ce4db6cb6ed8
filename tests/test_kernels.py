import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.integrate
import scipy.special
import scipy.stats

import jaxtl
from jaxtl.kernels import Erf, Identity, Tanh, gram, gram_diag, nngp

# (s11, s22, s12) covariances of the pre-activation pair, including a perfectly correlated one.
COVARIANCES = [(1.0, 1.0, 0.5), (0.8, 1.3, -0.6), (0.3, 0.5, 0.1), (1.2, 1.2, 1.2), (1.5, 0.7, 0.9)]


def scipy_expectation(f, s11, s22, s12):
    """E[f(h1) f(h2)] by adaptive SciPy quadrature: 1-D when the pair is perfectly correlated."""
    if np.isclose(s12**2, s11 * s22):
        g = lambda z: f(np.sqrt(s11) * z) * f(np.sign(s12) * np.sqrt(s22) * z) * scipy.stats.norm.pdf(z)
        return scipy.integrate.quad(g, -14, 14, epsabs=1e-14, epsrel=1e-13)[0]
    cov = np.array([[s11, s12], [s12, s22]])
    pdf = scipy.stats.multivariate_normal(cov=cov).pdf
    g = lambda b, a: f(a) * f(b) * pdf([a, b])
    a, b = 11 * np.sqrt(s11), 11 * np.sqrt(s22)
    return scipy.integrate.dblquad(g, -a, a, -b, b, epsabs=1e-13, epsrel=1e-12)[0]


@pytest.mark.parametrize("s11, s22, s12", COVARIANCES)
def test_tanh_quadrature_matches_scipy_integral(s11, s22, s12):
    expected = scipy_expectation(np.tanh, s11, s22, s12)
    assert float(Tanh().kernel(s11, s22, s12)) == pytest.approx(expected, abs=1e-8, rel=1e-8)


@pytest.mark.parametrize("s11, s22, s12", COVARIANCES[:2])
def test_erf_closed_form_matches_scipy_integral(s11, s22, s12):
    expected = scipy_expectation(scipy.special.erf, s11, s22, s12)
    assert float(Erf().kernel(s11, s22, s12)) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("activation", ["erf", "identity", "tanh"])
def test_gram_matches_monte_carlo_over_finite_networks(activation):
    """The kernel of weights with variances (var1, var2) and covariance cov, against an average
    over 4e5 random correlated weight pairs: agreement within 5 standard errors."""
    rng = np.random.default_rng(0)
    n0, var1, var2, cov = 30, 0.8, 1.5, 0.6
    X1, X2 = rng.standard_normal((3, n0)), rng.standard_normal((4, n0))
    chol = np.linalg.cholesky(np.array([[var1, cov], [cov, var2]]))
    z = rng.standard_normal((400_000, 2, n0))
    w1, w2 = chol[0, 0] * z[:, 0], chol[1, 0] * z[:, 0] + chol[1, 1] * z[:, 1]
    sigma = {"erf": scipy.special.erf, "identity": lambda x: x, "tanh": np.tanh}[activation]
    samples = sigma(w1 @ X1.T / np.sqrt(n0))[:, :, None] * sigma(w2 @ X2.T / np.sqrt(n0))[:, None, :]
    mean, err = samples.mean(0), samples.std(0) / np.sqrt(len(samples))
    K = gram(X1, X2, var1=var1, var2=var2, cov=cov, activation=activation)
    assert K.shape == (3, 4)
    assert np.all(np.abs(np.asarray(K) - mean) < 5 * err)


@pytest.mark.parametrize("activation", ["erf", "identity", "tanh"])
def test_gram_diag_is_diagonal_of_gram(activation):
    X = np.random.default_rng(1).standard_normal((6, 10))
    kw = dict(var1=0.7, var2=1.1, cov=0.5, activation=activation)
    np.testing.assert_allclose(gram_diag(X, **kw), np.diag(gram(X, X, **kw)), rtol=1e-12)


def test_nngp_is_symmetric_and_erf_matches_numpy_formula():
    X = np.random.default_rng(2).standard_normal((7, 12))
    lambda0 = 2.0
    K = np.asarray(nngp(X, X, lambda0=lambda0))
    S = X @ X.T / 12 / lambda0
    d = np.diag(S)
    expected = 2 / np.pi * np.arcsin(2 * S / np.sqrt(np.outer(1 + 2 * d, 1 + 2 * d)))
    np.testing.assert_allclose(K, expected, rtol=1e-13)
    np.testing.assert_allclose(K, K.T, rtol=1e-13)
    assert K.dtype == np.float64


def test_identity_kernel_is_the_covariance():
    assert float(Identity().kernel(0.3, 0.5, -0.2)) == -0.2


def test_tanh_kernel_gradient_matches_finite_differences():
    """Price's-theorem derivatives of the quadrature against central differences."""
    X = np.random.default_rng(3).standard_normal((5, 20))

    def f(lambda0, scale):
        return nngp(X * scale, X, lambda0=lambda0, activation="tanh").sum()

    grads = jax.grad(f, argnums=(0, 1))(1.3, 0.9)
    h = 1e-5
    fd = ((f(1.3 + h, 0.9) - f(1.3 - h, 0.9)) / (2 * h), (f(1.3, 0.9 + h) - f(1.3, 0.9 - h)) / (2 * h))
    np.testing.assert_allclose(grads, fd, rtol=1e-5)


def test_kernels_vmap_and_jit_match_loop():
    X = np.random.default_rng(4).standard_normal((4, 8))
    lambdas = jnp.array([0.5, 1.0, 2.0])
    for activation in ("erf", "tanh"):
        batched = jax.jit(jax.vmap(lambda l: nngp(X, X, lambda0=l, activation=activation)))(lambdas)
        looped = np.stack([nngp(X, X, lambda0=l, activation=activation) for l in lambdas])
        np.testing.assert_allclose(batched, looped, rtol=1e-12)


def test_unknown_activation_is_a_value_error():
    with pytest.raises(ValueError, match="activation must be one of"):
        jaxtl.kernels.nngp(np.ones((2, 3)), np.ones((2, 3)), activation="relu")
    with pytest.raises(ValueError, match="order"):
        Tanh(order=7)
