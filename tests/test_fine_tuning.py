"""The fine-tuning closed form of a two-layer linear network (`jaxtl.fine_tuning_loss`,
`jaxtl.richness_gain`; jaxtl/theory/README.md, section 11.7), against plain NumPy kernel
regression and against trained finite linear networks.

The networks: f(x) = (1/(gamma N)) w . (W x / sqrt(D)) = beta_eff . x / sqrt(D) with
beta_eff = W^T w / (gamma N), from a standard-normal initialization, trained by full-batch
gradient descent with a small step on the population loss of the source teacher under
isotropic Gaussian inputs, |beta_eff - beta_s|^2 / D (infinite source data). Teachers have
|beta|^2 = D; the source teacher is beta_s = sqrt(D) e_0.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxtl

STEP = 0.025  # gradient-descent step, as a fraction of the stable step (its bias on chi: about -0.002 at gamma1 = 2)
STEPS = 1000


@functools.partial(jax.jit, static_argnames="steps")
def _descend(W, w, beta, gamma, steps):
    N, D = W.shape
    # The loss's curvature along beta_s is 4 h sqrt(1 + gamma^2 D) / (gamma^2 N D) at the end:
    # the step h is STEP times the one that makes it 1.
    h = STEP * gamma**2 * N * D / (4 * jnp.sqrt(1 + gamma**2 * D))

    def step(_, params):
        W, w = params
        r = W.T @ w / (gamma * N) - beta  # beta_eff - beta_s; the loss is r . r / D
        return W - h * 2 / (gamma * N * D) * jnp.outer(w, r), w - h * 2 / (gamma * N * D) * (W @ r)

    W, w = jax.lax.fori_loop(0, steps, step, (W, w))
    r = W.T @ w / (gamma * N) - beta
    return W, r @ r / D


def train_source(D, N, gamma, seed=0, steps=STEPS):
    """A linear network trained on the source's population loss: its first-layer second
    moment W^T W / N (D, D) and its final loss."""
    kW, kw = jax.random.split(jax.random.key(seed))
    W, w = jax.random.normal(kW, (N, D)), jax.random.normal(kw, (N,))
    beta = jnp.zeros(D).at[0].set(np.sqrt(D))
    W, loss = _descend(W, w, beta, gamma, steps)
    return np.asarray(W.T @ W / N), float(loss)


def ridgeless_error(S, P, alpha, rng):
    """Test error of ridgeless regression with the kernel x^T S x' / D on P Gaussian inputs,
    for a target teacher beta_t = alpha beta_s + sqrt(1 - alpha^2) sqrt(D) u, beta_s = sqrt(D) e_0,
    averaged exactly over the direction u (uniform, orthogonal to e_0)."""
    D = S.shape[0]
    X = rng.standard_normal((P, D))
    # beta_t - beta_predicted = M beta_t (the predictor is S X^T (X S X^T)^{-1} X beta_t)
    M = np.eye(D) - S @ X.T @ np.linalg.solve(X @ S @ X.T, X)
    return alpha**2 * M[:, 0] @ M[:, 0] + (1 - alpha**2) * np.sum(M[:, 1:] ** 2) / (D - 1)


def spiked(D, chi):
    """I + (chi/D) beta_s beta_s^T for beta_s = sqrt(D) e_0."""
    S = np.eye(D)
    S[0, 0] += chi
    return S


@pytest.mark.parametrize("nu2, chi, alpha", [(0.3, 1.0, 0.5), (0.8, 1.0, 0.5), (0.5, 5.0, 0.9), (0.9, 20.0, -0.8)])
def test_closed_form_is_ridgeless_regression_with_the_spiked_kernel(nu2, chi, alpha):
    # D = 400, ten draws of the inputs: the standard error of the mean is 0.0001-0.005, and
    # the finite-D bias, measured at D = 200 and 400, below 0.5/D.
    D, draws = 400, 10
    rng = np.random.default_rng(0)
    errors = [ridgeless_error(spiked(D, chi), round(nu2 * D), alpha, rng) for _ in range(draws)]
    error = np.mean(errors)
    tolerance = 4 * np.std(errors) / np.sqrt(draws) + 0.5 / D
    assert abs(error - jaxtl.fine_tuning_loss(nu2, alpha, chi)) < tolerance


@pytest.mark.parametrize("D, N, gamma", [(36, 16000, 1 / 3), (100, 8000, 0.2), (100, 8000, 0.05), (36, 16000, 5 / 6)])
def test_trained_networks_gain_chi_with_gamma1_equal_to_gamma_sqrt_D(D, N, gamma):
    # The gain of W^T W / N along beta_s/|beta_s|. Measured at gamma1 = 2 over four seeds: sd
    # 0.011 at D = 25, N = 8000; 0.004 at D = 25, N = 32000; 0.003 at D = 50, N = 8000; and a
    # step bias of about -0.003 (-0.006 at twice the step): tolerance 0.015 (1 + chi).
    G, loss = train_source(D, N, gamma)
    assert loss < 1e-10
    chi = G[0, 0] - 1
    expected = jaxtl.richness_gain(gamma * np.sqrt(D))
    tolerance = 0.015 * (1 + expected)
    assert abs(chi - expected) < tolerance
    assert abs(chi - jaxtl.richness_gain(gamma)) > 5 * tolerance  # gamma1 = gamma would be far off
    # the directions orthogonal to beta_s keep the initialization's second moment, 1 on average
    assert abs(np.mean(np.diag(G)[1:]) - 1) < 0.01


def _pipeline(D, N, nus, alpha, gamma1, draws):
    """Networks trained on the source, then the lazy target stage on their empirical kernel,
    beside the same regression (same inputs) with the infinite-width kernel."""
    G, loss = train_source(D, N, gamma1 / np.sqrt(D))
    assert loss < 1e-10
    chi = jaxtl.richness_gain(gamma1)
    out = []
    for nu2 in nus:
        rng_net, rng_inf = np.random.default_rng(1), np.random.default_rng(1)
        net = np.array([ridgeless_error(G, round(nu2 * D), alpha, rng_net) for _ in range(draws)])
        inf = np.array([ridgeless_error(spiked(D, float(chi)), round(nu2 * D), alpha, rng_inf) for _ in range(draws)])
        out.append((nu2, net, inf, float(jaxtl.fine_tuning_loss(nu2, alpha, chi))))
    return out


def _check_pipeline(D, N, results, excess):
    for nu2, net, inf, formula in results:
        # the network's error on its own inputs: the formula within sampling error, plus a
        # finite-width excess of at most `excess` D/N
        se = np.std(net) / np.sqrt(len(net))
        assert abs(net.mean() - formula) < 4 * se + excess * D / N + 0.5 / D, (nu2, net.mean(), formula)
        # on common inputs, the finite width adds at most `excess` D/N (and removes none)
        difference = net - inf
        se = np.std(difference) / np.sqrt(len(difference))
        assert -4 * se < difference.mean() < excess * D / N + 4 * se, (nu2, difference.mean() * N / D)


def test_trained_network_then_lazy_fine_tuning_matches_the_closed_form():
    # D = 100, N = 10 D: measured finite-width excess (net - infinite width, same inputs)
    # 0.16 +- 0.02 D/N at nu2 = 0.3 and 0.09 +- 0.01 D/N at nu2 = 0.8.
    D, N = 100, 1000
    _check_pipeline(D, N, _pipeline(D, N, (0.3, 0.8), alpha=0.6, gamma1=2.0, draws=6), excess=0.3)


def test_wide_network_then_lazy_fine_tuning_matches_the_closed_form():
    # D = 200, N = 100 D, gamma1 = 3, alpha = 0.8: measured (net - formula) D = 4.8, 1.5, 0.1
    # at nu2 = 0.3, 0.6, 0.9 (standard errors 1.7, 0.9, 0.2 in the same units), and
    # (net - infinite width) N/D = -0.04 +- 0.07, 0.06 +- 0.04, 0.021 +- 0.007.
    D, N = 200, 100 * 200
    _check_pipeline(D, N, _pipeline(D, N, (0.3, 0.6, 0.9), alpha=0.8, gamma1=3.0, draws=6), excess=0.3)


def test_bad_arguments_raise_naming_the_argument_and_its_range():
    good = dict(nu2=0.5, alpha=0.5, chi=1.0)
    for name, bad, interval in [("nu2", -0.1, r"\[0, \+inf\)"), ("alpha", 1.5, r"\[-1, 1\]"),
                                ("alpha", -1.01, r"\[-1, 1\]"), ("chi", -1.0, r"\[0, \+inf\)"),
                                ("nu2", np.nan, r"\[0, \+inf\)"), ("alpha", np.nan, r"\[-1, 1\]"),
                                ("chi", np.nan, r"\[0, \+inf\)")]:  # fmt: skip
        with pytest.raises(ValueError, match=f"{name} must lie in {interval}"):
            jaxtl.fine_tuning_loss(**{**good, name: bad})
    for bad in (-0.5, np.nan, np.array([1.0, -2.0])):
        with pytest.raises(ValueError, match=r"gamma1 must lie in \[0, \+inf\)"):
            jaxtl.richness_gain(bad)
    with pytest.raises(ValueError, match="nu2 must be a real number"):
        jaxtl.fine_tuning_loss("0.5", 0.5, 1.0)
    # under jit the same check runs when the program does
    with pytest.raises(RuntimeError, match="chi must lie in"):
        jax.jit(jaxtl.fine_tuning_loss)(0.5, 0.5, -1.0)


def test_limits_and_bounds():
    nu2 = np.linspace(0, 0.99, 12)[:, None, None]
    alpha = np.linspace(-1, 1, 9)[None, :, None]
    chi = np.array([0.0, 0.1, 1.0, 10.0, 1e3])[None, None, :]
    loss = np.asarray(jaxtl.fine_tuning_loss(nu2, alpha, chi))
    assert loss.shape == (12, 9, 5) and loss.dtype == np.float64
    baseline = np.broadcast_to(1 - nu2, loss.shape)
    np.testing.assert_allclose(loss[..., 0], baseline[..., 0], atol=1e-15)  # chi = 0: no pretraining
    np.testing.assert_allclose(loss[:, 4], baseline[:, 4], atol=1e-15)  # alpha = 0: unrelated teachers
    assert np.all(loss <= baseline + 1e-15) and np.all(loss >= 0)
    np.testing.assert_allclose(loss, loss[:, ::-1], atol=1e-15)  # even in alpha
    # as chi -> inf, (1 - nu2)(1 - alpha^2) for nu2 > 0
    far = np.asarray(jaxtl.fine_tuning_loss(nu2[1:], alpha, 1e9))
    np.testing.assert_allclose(far, (1 - nu2[1:]) * (1 - alpha**2), atol=1e-7)
    # nu2 >= 1: a linear teacher interpolated from at least D samples
    assert np.all(np.asarray(jaxtl.fine_tuning_loss(np.array([1.0, 1.5, 40.0])[:, None, None], alpha, chi)) == 0)
    # chi = sqrt(1 + gamma1^2) - 1 >= 0, with chi(0) = 0 and chi ~ gamma1 - 1 for large gamma1
    gamma1 = np.array([0.0, 0.5, 3.0, 1e4])
    chi_of = np.asarray(jaxtl.richness_gain(gamma1))
    assert chi_of[0] == 0 and np.all(np.diff(chi_of) > 0)
    np.testing.assert_allclose((1 + chi_of[:3]) ** 2 - gamma1[:3] ** 2, 1, rtol=1e-12)
    np.testing.assert_allclose(chi_of[3], gamma1[3] - 1 + 1 / (2 * gamma1[3]), rtol=1e-12)


def test_jit_vmap_and_grad():
    nu2, alpha, chi = jnp.array([0.1, 0.5, 0.8, 1.2]), jnp.array([0.3, -0.6, 0.9, 0.5]), jnp.array([0.5, 2.0, 7.0, 1.0])
    direct = jaxtl.fine_tuning_loss(nu2, alpha, chi)
    np.testing.assert_allclose(jax.jit(jaxtl.fine_tuning_loss)(nu2, alpha, chi), direct, rtol=1e-15)
    np.testing.assert_allclose(jax.vmap(jaxtl.fine_tuning_loss)(nu2, alpha, chi), direct, rtol=1e-15)
    loop = [float(jaxtl.fine_tuning_loss(float(a), float(b), float(c))) for a, b, c in zip(nu2, alpha, chi)]
    np.testing.assert_allclose(direct, loop, rtol=1e-15)

    def through_gain(nu2, alpha, gamma1):
        return jaxtl.fine_tuning_loss(nu2, alpha, jaxtl.richness_gain(gamma1))

    value, gradient = jax.jit(through_gain), jax.jit(jax.grad(through_gain, argnums=(0, 1, 2)))
    eps = 1e-6
    for point in [(0.3, 0.5, 1.5), (0.8, -0.7, 4.0), (0.6, 0.2, 0.3)]:
        grads = jax.grad(through_gain, argnums=(0, 1, 2))(*point)
        for i, g in enumerate(grads):
            up, down = list(point), list(point)
            up[i] += eps
            down[i] -= eps
            fd = (float(value(*up)) - float(value(*down))) / (2 * eps)
            assert abs(float(g) - fd) < 1e-7 * (1 + abs(fd)), (point, i, float(g), fd)
        np.testing.assert_allclose(gradient(*point), grads, rtol=1e-12)
    # beyond interpolation the loss is flat, and its gradient 0 (not NaN)
    assert [float(g) for g in jax.grad(jaxtl.fine_tuning_loss, argnums=(0, 1, 2))(1.5, 0.5, 1.0)] == [0.0, 0.0, 0.0]
    assert float(jax.grad(jaxtl.richness_gain)(0.0)) == 0.0
