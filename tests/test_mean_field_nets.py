"""jaxtl.nets.sample_mean_field and transfer_mean_field: mean-field networks by Langevin dynamics.

The reference is a Langevin chain written here directly on the mean-field energy
E = -log p = (N g^2 / (2T)) sum_mu (f(x_mu) - y_mu)^2 + lambda0/2 |W|^2 + lambda1/2 |w|^2,
f(x) = w . erf(W x / sqrt(D)) / (g N), with no use of the standard parametrization. A jaxtl
chain of step eta on U = T E is this chain with step eps = eta T, so that, started from the
prior, both have the same distribution after the same number of steps, equilibrated or not:
the tests compare them (and single-task against joint chains) at equal times over many short
chains, one kept sample each, within 5 standard errors. That also makes every estimate a
function of the chains' last networks, checked exactly against the mean-field formulas.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.special

from jaxtl import nets
from jaxtl.nets._joint_sampling import _joint_posterior, _PairNetwork
from jaxtl.theory._activation import get_activation

ERF = get_activation("erf")

G, T, N, LAMBDA0, LAMBDA1 = 0.7, 0.2, 4, 1.3, 0.8  # N g^2 / T = 9.8: the likelihood matters
ETA = 0.01  # std-units step, eta x curvature well below 1 for these data (checked)
CHAINS, STEPS = 256, 1000  # chains of 1000 steps, one kept sample each: 9 blocks of 100 steps, then 1
SAMPLER = nets.Langevin(n_chains=CHAINS, burn_in=900, n_samples=1, thin=100, step_size=ETA)


def data(seed, P=4, D=3, P0=2):
    rng = np.random.default_rng(seed)
    X, X0 = rng.standard_normal((P, D)), rng.standard_normal((P0, D))
    teacher = rng.standard_normal(D)
    return X, np.tanh(X @ teacher), X0, np.tanh(X0 @ teacher)


def mean_field_output(W, w, X):
    """f(x) = (1/(g N)) sum_i w_i erf(W_i . x / sqrt(D)) for networks (..., N, D), (..., N)."""
    h = np.einsum("...nd,pd->...pn", W, X) / np.sqrt(X.shape[1])
    return np.einsum("...pn,...n->...p", scipy.special.erf(h), w) / (G * W.shape[-2])


def feature_kernel(W, X1, X2):
    phi = lambda X: scipy.special.erf(np.einsum("...nd,pd->...pn", W, X) / np.sqrt(X.shape[1]))
    return np.einsum("...pn,...qn->...pq", phi(X1), phi(X2)) / W.shape[-2]


def direct_chains(key, X, y, eps, steps, chains):
    """Unadjusted Langevin on E (module docstring), theta <- theta - eps grad E + sqrt(2 eps) xi,
    from the prior; the chains' last (W, w)."""
    D = X.shape[1]

    def energy(W, w):
        f = jax.scipy.special.erf(X @ W.T / np.sqrt(D)) @ w / (G * N)
        return N * G**2 / (2 * T) * jnp.sum((f - y) ** 2) + LAMBDA0 / 2 * jnp.sum(W**2) + LAMBDA1 / 2 * jnp.sum(w**2)

    def chain(key):
        k_W, k_w, k_run = jax.random.split(key, 3)
        theta = (jax.random.normal(k_W, (N, D)) / np.sqrt(LAMBDA0), jax.random.normal(k_w, (N,)) / np.sqrt(LAMBDA1))

        def step(theta, k):
            grads = jax.grad(energy, argnums=(0, 1))(*theta)
            noise = [jax.random.normal(kk, p.shape) for kk, p in zip(jax.random.split(k), theta)]
            return tuple(p - eps * g + np.sqrt(2 * eps) * xi for p, g, xi in zip(theta, grads, noise)), None

        return jax.lax.scan(step, theta, jax.random.split(k_run, steps))[0]

    W, w = jax.jit(jax.vmap(chain))(jax.random.split(key, chains))
    return np.asarray(W), np.asarray(w)


def agree(estimate, reference, reference_stderr):
    """|jaxtl - reference| < 5 combined standard errors, entrywise."""
    gap = np.abs(np.asarray(estimate.mean) - reference)
    return np.all(gap < 5 * np.hypot(np.asarray(estimate.stderr), reference_stderr))


def over_chains(x):
    return x.mean(0), x.std(0, ddof=1) / np.sqrt(len(x))


@pytest.fixture(scope="module")
def single():
    X, y, X0, y0 = data(0)
    r = nets.sample_mean_field(jax.random.key(1), X, y, feature_strength=G, temperature=T, width=N, lambda0=LAMBDA0,
                               lambda1=LAMBDA1, sampler=SAMPLER, X_test=X0)
    return (X, y, X0, y0), r


def test_estimates_are_the_mean_field_formulas_on_the_last_networks(single):
    """One kept sample per chain: every estimate is a chain average over the last networks of
    the mean-field f = f_std / (g sqrt N), Phi, h and the loss in mean-field units."""
    (X, y, X0, y0), r = single
    W, w = np.asarray(r.samples.final.W), np.asarray(r.samples.final.v)  # (chains, N, D), (chains, N)
    assert r.units == CHAINS and r.width == N and r.scale == pytest.approx(G * np.sqrt(N))
    f0, f = mean_field_output(W, w, X0), mean_field_output(W, w, X)
    np.testing.assert_allclose(np.asarray(jax.vmap(lambda net: net(X0))(r.samples.final)) / (G * np.sqrt(N)), f0, rtol=1e-12)
    prediction = r.predict().mean
    np.testing.assert_allclose(prediction.mean, f0.mean(0), rtol=1e-10)
    np.testing.assert_allclose(prediction.variance, f0.var(0, ddof=1), rtol=1e-10)  # jackknife: unbiased
    np.testing.assert_allclose(r.test_error(y0).mean.total, ((f0 - y0) ** 2).mean(), rtol=1e-10)
    np.testing.assert_allclose(r.train_loss.mean, (0.5 * ((f - y) ** 2).sum(1)).mean(), rtol=1e-10)
    np.testing.assert_allclose(r.kernel.mean, feature_kernel(W, X, X).mean(0), rtol=1e-10)
    np.testing.assert_allclose(r.kernel.stderr, feature_kernel(W, X, X).std(0, ddof=1) / np.sqrt(CHAINS), rtol=1e-8)
    np.testing.assert_allclose(r.kernel_test.mean, feature_kernel(W, X0, X).mean(0), rtol=1e-10)
    h = np.einsum("cnd,kd->ckn", W, np.stack([X[0], X0[0]])) / np.sqrt(3)
    np.testing.assert_allclose(r.preactivations, h, rtol=1e-12)
    assert not r.samples.diverged.any() and r.samples.curvature * ETA < 0.5


def test_sampled_posterior_is_that_of_the_mean_field_energy(single):
    """The wrapper's chains (jaxtl's sampler on rescaled labels) against chains written directly
    on the mean-field energy, at equal times: outputs, their second moments, kernels, loss."""
    (X, y, X0, _), r = single
    W, w = direct_chains(jax.random.key(2), X, y, ETA * T, STEPS, CHAINS)
    f0, f = mean_field_output(W, w, X0), mean_field_output(W, w, X)
    prediction = r.predict()
    assert agree(nets.Estimate(prediction.mean.mean, prediction.stderr.mean), *over_chains(f0))
    second = r.samples.mean_output_sq / r.scale**2  # per chain <f(x0)^2>
    assert agree(nets.Estimate(second.mean(0), second.std(0, ddof=1) / np.sqrt(CHAINS)), *over_chains(f0**2))
    assert agree(r.kernel, *over_chains(feature_kernel(W, X, X)))
    assert agree(r.kernel_test, *over_chains(feature_kernel(W, X0, X)))
    assert agree(r.train_loss, *over_chains(0.5 * ((f - y) ** 2).sum(1)))
    # the test is sharp: the prior's kernel (no data) is far outside these error bars
    prior = feature_kernel(np.asarray(jax.random.normal(jax.random.key(3), (4096, N, 3))) / np.sqrt(LAMBDA0), X, X)
    assert not agree(r.kernel, *over_chains(prior))


def test_joint_reading_without_coupling_is_two_single_task_posteriors(single):
    """delta = 0: the joint chain is a source chain and a target chain side by side; at equal
    steps their measurements are those of single-task chains on each task."""
    (X, y, X0, y0), _ = single
    Xt, yt, _, _ = data(4)
    joint = nets.transfer_mean_field(jax.random.key(5), (X, y), (Xt, yt), feature_strength=G, coupling=0.0,
                                     temperature=T, width=N, reading="joint", lambda0=LAMBDA0, lambda1=LAMBDA1,
                                     X_test=X0, sampler=SAMPLER)
    common = dict(feature_strength=G, temperature=T, width=N, lambda0=LAMBDA0, lambda1=LAMBDA1, sampler=SAMPLER,
                  X_test=X0)
    alone = [nets.sample_mean_field(jax.random.key(k), X_, y_, **common) for k, (X_, y_) in ((6, (X, y)), (7, (Xt, yt)))]

    def close(a, b):
        return np.all(np.abs(a.mean - b.mean) < 5 * np.hypot(a.stderr, b.stderr))

    assert joint.reading == "joint" and joint.source.preactivations.shape == (CHAINS, 1, N)
    assert close(joint.source.kernel, alone[0].kernel) and close(joint.source.train_loss, alone[0].train_loss)
    assert close(joint.target.kernel, alone[1].kernel) and close(joint.target.kernel_test, alone[1].kernel_test)
    for field in ("mean", "variance"):
        assert close(*(nets.Estimate(getattr(p.mean, field), getattr(p.stderr, field))
                       for p in (joint.predict(), alone[1].predict())))
    assert close(*(nets.Estimate(e.mean.total, e.stderr.total) for e in (joint.test_error(y0), alone[1].test_error(y0))))
    assert not close(joint.target.kernel, alone[0].kernel)  # the two tasks' kernels do differ


def test_joint_reading_with_a_large_coupling_ties_the_first_layers(single):
    """delta = 1e4: u = W_t - W_s has -log p = delta/2 |u|^2 + lambda0/4 |u|^2 (+ data, 1e-4 of
    it here), so each entry has variance 1 / (delta + lambda0/2), inflated by the step eta to
    1 / ((delta + lambda0/2) (1 - eta T (delta + lambda0/2))): the coupling is not divided by T
    (that would give T / delta, five times smaller)."""
    (X, y, X0, _), _ = single
    Xt, yt, _, _ = data(4)
    delta = 1e4
    eta = 0.05 / (T * delta)
    sampler = nets.Langevin(n_chains=CHAINS, burn_in=900, n_samples=1, thin=100, step_size=eta)
    joint = nets.transfer_mean_field(jax.random.key(8), (X, y), (Xt, yt), feature_strength=G, coupling=delta,
                                     temperature=T, width=N, reading="joint", lambda0=LAMBDA0, lambda1=LAMBDA1,
                                     X_test=X0, sampler=sampler)
    u = np.asarray(joint.target.samples.final.W - joint.source.samples.final.W).ravel()
    c = delta + LAMBDA0 / 2
    expected = 1 / (c * (1 - eta * T * c))
    assert abs((u**2).mean() - expected) < 5 * (u**2).std() / np.sqrt(u.size)
    assert abs(u.mean()) < 5 * u.std() / np.sqrt(u.size)


def test_joint_energy_is_the_mean_field_energy_of_both_tasks():
    """The joint chain's potential on rescaled labels is T times -log p of the two mean-field
    networks (the rescaling identity for N = 4, both tasks), the coupling delta/2 |W_t - W_s|^2
    included; at delta = inf the shared W carries both priors, lambda0 |W|^2."""
    X, y, _, _ = data(9)
    Xt, yt, _, _ = data(10)
    rng = np.random.default_rng(11)
    W_s, W_t = rng.standard_normal((2, N, 3))
    w_s, w_t = rng.standard_normal((2, N))
    s = G * np.sqrt(N)
    likelihood = lambda W, w, X_, y_: N * G**2 / (2 * T) * np.sum((mean_field_output(W, w, X_) - y_) ** 2)
    readouts = LAMBDA1 / 2 * (w_s @ w_s + w_t @ w_t)
    for delta in (0.0, 3.0, np.inf):
        post = _joint_posterior((jnp.asarray(X), jnp.asarray(s * y)), (jnp.asarray(Xt), jnp.asarray(s * yt)),
                                temperature=T, coupling=delta, lambda0=LAMBDA0, lambda1=LAMBDA1)
        if np.isinf(delta):
            net = _PairNetwork(jnp.asarray(W_s), jnp.asarray(w_s), None, jnp.asarray(w_t), ERF)
            energy = likelihood(W_s, w_s, X, y) + likelihood(W_s, w_t, Xt, yt) + LAMBDA0 * np.sum(W_s**2) + readouts
        else:
            net = _PairNetwork(*map(jnp.asarray, (W_s, w_s, W_t, w_t)), ERF)
            energy = (likelihood(W_s, w_s, X, y) + likelihood(W_t, w_t, Xt, yt) + LAMBDA0 / 2 * np.sum(W_s**2 + W_t**2)
                      + readouts + delta / 2 * np.sum((W_t - W_s) ** 2))
        assert float(post.potential(net, None)) / T == pytest.approx(energy, rel=1e-12), delta


def test_bad_arguments_are_value_errors():
    X, y, X0, _ = data(0)
    ok = dict(feature_strength=1.0, temperature=0.1, width=5)
    key = jax.random.key(0)
    for name, value, message in (
        ("feature_strength", 0.0, r"^feature_strength must lie in \(0, \+inf\), got 0.0$"),
        ("feature_strength", np.inf, r"^feature_strength must lie in \(0, \+inf\), got inf$"),
        ("temperature", -1.0, r"^temperature must lie in \(0, \+inf\)"),
        ("width", 0, r"^width must be an integer >= 1, got 0$"),
        ("width", 2.5, r"^width must be an integer >= 1"),
        ("lambda0", 0.0, r"^lambda0 must lie in \(0, \+inf\)"),
    ):
        with pytest.raises(ValueError, match=message):
            nets.sample_mean_field(key, X, y, **{**ok, name: value})
        with pytest.raises(ValueError, match=message):
            nets.transfer_mean_field(key, (X, y), (X, y), coupling=1.0, **{**ok, name: value})
    with pytest.raises(ValueError, match=r"^y must have shape \(P,\) = \(4,\), got \(3,\)$"):
        nets.sample_mean_field(key, X, y[:3], **ok)
    with pytest.raises(ValueError, match=r"^X must be finite, got nan at entry \(1, 2\)$"):
        nets.sample_mean_field(key, np.where(np.arange(12).reshape(4, 3) == 5, np.nan, X), y, **ok)
    with pytest.raises(ValueError, match=r"^X_test must have shape \(P0, D\) = \(2, 3\), got \(2, 2\)$"):
        nets.sample_mean_field(key, X, y, X_test=X0[:, :2], **ok)
    with pytest.raises(ValueError, match=r"^coupling must lie in \[0, \+inf\], got -1.0$"):
        nets.transfer_mean_field(key, (X, y), (X, y), coupling=-1.0, **ok)
    with pytest.raises(ValueError, match=r"^reading must be one of 'quenched', 'joint', got 'annealed'$"):
        nets.transfer_mean_field(key, (X, y), (X, y), coupling=1.0, reading="annealed", **ok)
    with pytest.raises(ValueError, match=r"^Xt must have shape \(Pt, D\) = \(4, 3\), got \(4, 2\)$"):
        nets.transfer_mean_field(key, (X, y), (X[:, :2], y), coupling=1.0, **ok)
    with pytest.raises(ValueError, match=r"^source_data must be a pair \(Xs, ys\)"):
        nets.transfer_mean_field(key, X, (X, y), coupling=1.0, **ok)
    with pytest.raises(ValueError, match=r"^ys must have shape \(Ps,\)"):
        nets.transfer_mean_field(key, (X, y[:2]), (X, y), coupling=1.0, **ok)
    with pytest.raises(ValueError, match="reading='quenched'"):
        nets.transfer_mean_field(key, (X, y), (X, y), coupling=1.0, reading="joint", source=object(), **ok)
    with pytest.raises(ValueError, match="target_sampler.n_chains"):
        nets.transfer_mean_field(key, (X, y), (X, y), coupling=1.0, target_sampler=nets.Langevin(n_chains=1), **ok)


# Slower (compilations of the quenched and the shared-layer chains): in conftest's slow list.


def test_quenched_reading_without_coupling_is_single_task_and_infinite_coupling_keeps_the_source(single):
    """Quenched, delta = 0: the target chains are single-task chains on the target (equal times
    again); delta = inf: the target's first layer is the source sample's, its preactivations
    and kernel those of the source weights."""
    (X, y, X0, _), _ = single
    Xt, yt, _, _ = data(4)
    common = dict(feature_strength=G, temperature=T, width=N, lambda0=LAMBDA0, lambda1=LAMBDA1, X_test=X0)
    source_sampler = nets.Langevin(n_chains=64, burn_in=500, n_samples=2, thin=100, step_size=ETA)
    target_sampler = nets.Langevin(n_chains=4, burn_in=900, n_samples=1, thin=100, step_size=ETA)
    free = nets.transfer_mean_field(jax.random.key(12), (X, y), (Xt, yt), coupling=0.0, source_sampler=source_sampler,
                                    target_sampler=target_sampler, **common)
    assert free.target.units == 64 and free.target.samples.mean_kernel.shape == (64 * 2 * 4, 4, 4)
    alone = nets.sample_mean_field(jax.random.key(13), Xt, yt, sampler=SAMPLER, **common)
    gap = np.abs(free.target.kernel.mean - alone.kernel.mean)
    assert np.all(gap < 5 * np.hypot(free.target.kernel.stderr, alone.kernel.stderr))
    frozen = nets.transfer_mean_field(jax.random.key(12), (X, y), (Xt, yt), coupling=np.inf, target_sampler=target_sampler,
                                      source=free.source, **common)
    assert frozen.source is free.source
    W_source = np.repeat(np.asarray(free.source.samples.params.W).reshape(128, N, 3), 4, axis=0)
    np.testing.assert_array_equal(frozen.target.samples.final.W, W_source)
    np.testing.assert_allclose(frozen.target.kernel.mean, feature_kernel(W_source, Xt, Xt).mean(0), rtol=1e-10)
    with pytest.raises(ValueError, match="feature_strength"):
        nets.transfer_mean_field(jax.random.key(12), (X, y), (Xt, yt), coupling=1.0, **{**common, "feature_strength": 1.0},
                                 source=free.source)


def test_joint_reading_with_infinite_coupling_shares_the_first_layer(single):
    """delta = inf: one first layer; W_s = W_t in every chain, and the target kernel on the
    source points would be the source kernel (here: the same data for both tasks)."""
    (X, y, X0, _), _ = single
    joint = nets.transfer_mean_field(jax.random.key(14), (X, y), (X, -y), feature_strength=G, coupling=np.inf,
                                     temperature=T, width=N, reading="joint", lambda0=LAMBDA0, lambda1=LAMBDA1,
                                     X_test=X0, sampler=SAMPLER)
    np.testing.assert_array_equal(joint.target.samples.final.W, joint.source.samples.final.W)
    np.testing.assert_allclose(joint.target.kernel.mean, joint.source.kernel.mean, rtol=1e-12)
    W = np.asarray(joint.source.samples.final.W)
    np.testing.assert_allclose(joint.source.kernel.mean, feature_kernel(W, X, X).mean(0), rtol=1e-10)
    assert not joint.target.samples.diverged.any()
