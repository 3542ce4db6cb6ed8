"""Population covariances of a frozen layer's features on hidden-manifold data (README.md in
this folder, section 9.5): what `jaxtl.features.learning_curve` needs, in closed form by
Gaussian equivalence, or by Monte Carlo over the latent vectors as the reference.

Data of the hidden manifold model: latent c ~ N(0, I_D), inputs x = sigma(F^T c / sqrt(D))
(F of shape (D, N0), sigma odd, elementwise), features v = phi(W x / sqrt(N0)) of a frozen
first layer W (K, N0) with odd activation phi.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from .. import _checks
from .._repr import Readable
from ._activation import Activation, get_activation


class FeatureCovariances(Readable):
    """Omega = E[v v^T] (K, K) and Phi = E[v c^T] (K, D) of features v and latents c; by Monte
    Carlo also their standard errors (same shapes), None in closed form."""

    Omega: Float[Array, "K K"]
    Phi: Float[Array, "K D"]
    Omega_stderr: "Float[Array, 'K K'] | None" = None
    Phi_stderr: "Float[Array, 'K D'] | None" = None


def _slope(activation: Activation, s):
    """E[sigma'(h)] for h ~ N(0, s), from the kernel by Price's theorem:
    d/ds12 E[sigma(h1) sigma(h2)] at s12 = 0 is E[sigma'(h1)] E[sigma'(h2)]."""
    return jnp.sqrt(jax.grad(lambda s12: activation.kernel(s, s, s12))(jnp.zeros_like(s)))


def _checked(W, F, data_activation, activation):
    W, F = _checks.finite("W", W), _checks.finite("F", F)
    if F.ndim != 2 or min(F.shape) < 1:
        raise ValueError(f"F must have shape (D, N0) with D >= 1 and N0 >= 1, got {F.shape}")
    if W.ndim != 2 or W.shape[0] < 1:
        raise ValueError(f"W must have shape (K, N0) with K >= 1, got {W.shape}")
    _checks.shape("W", W, (W.shape[0], F.shape[1]), "(K, N0) with the N0 of F")
    return W, F, get_activation(data_activation, "data_activation"), get_activation(activation, "activation")


def feature_covariances(
    W: Float[ArrayLike, "K N0"],
    F: Float[ArrayLike, "D N0"],
    *,
    data_activation: "str | Activation" = "erf",
    activation: "str | Activation" = "erf",
) -> FeatureCovariances:
    """Omega and Phi in closed form by Gaussian equivalence (section 9.5).

    Each input coordinate sigma(z_j), z_j = F_j . c / sqrt(D) ~ N(0, s_j), is replaced by
    kappa1_j z_j + kappa*_j xi_j (xi independent standard Gaussians) with the same mean (0),
    covariance with c and variance; then h = W x / sqrt(N0) is Gaussian with covariance S and
    Cov(h, c) = C, and Omega_kl = E phi(h_k) phi(h_l) is the activation's Gaussian kernel at
    (S_kk, S_ll, S_kl), Phi = diag(E phi'(h)) C (Stein's lemma).

    **Arguments:** `W`: the frozen first layer, (K, N0). `F`: the feature matrix of the
    hidden manifold, (D, N0) (`hidden_manifold_pair`'s `params["F_t"]` for its target task).
    `data_activation`: sigma; `activation`: phi ("erf", "tanh", "identity" or an
    `Activation`). Differentiable in W and F (hence in the generator's knobs through F).
    """
    W, F, sigma, phi = _checked(W, F, data_activation, activation)
    return _closed_form(W, F, sigma, phi)


@eqx.filter_jit
def _closed_form(W, F, sigma, phi) -> FeatureCovariances:
    D, N0 = F.shape
    s = jnp.sum(F**2, axis=0) / D  # Var z_j
    kappa1 = jax.vmap(lambda v: _slope(sigma, v))(s)
    kappa_star2 = jax.vmap(lambda v: sigma.kernel(v, v, v))(s) - kappa1**2 * s
    A = W * kappa1 / jnp.sqrt(N0)
    FA = F @ A.T / jnp.sqrt(D)  # (D, K): Cov(c, h)
    S = FA.T @ FA + (W * kappa_star2) @ W.T / N0
    S = (S + S.T) / 2
    d = jnp.diag(S)
    Omega = phi.kernel(d[:, None], d[None, :], S)
    Phi = jax.vmap(lambda v: _slope(phi, v))(d)[:, None] * FA.T
    return FeatureCovariances(Omega=Omega, Phi=Phi)


def sampled_feature_covariances(
    key: PRNGKeyArray,
    W: Float[ArrayLike, "K N0"],
    F: Float[ArrayLike, "D N0"],
    *,
    samples: int,
    data_activation: "str | Activation" = "erf",
    activation: "str | Activation" = "erf",
    batch: int = 10_000,
) -> FeatureCovariances:
    """Omega and Phi by Monte Carlo over latents c, the reference for `feature_covariances`:
    `samples` latent vectors (rounded up to a whole number of batches of `batch`), drawn from
    `key`, pushed through the data model and the frozen layer, averaged; with the standard
    error of each entry (from the same samples' second moments). Memory O(batch (N0 + K + D))."""
    W, F, sigma, phi = _checked(W, F, data_activation, activation)
    samples, batch = _checks.count("samples", samples), _checks.count("batch", batch)
    batch = min(batch, samples)
    return _monte_carlo(key, W, F, sigma, phi, n_batches=-(-samples // batch), batch=batch)


@eqx.filter_jit
def _monte_carlo(key, W, F, sigma, phi, *, n_batches, batch) -> FeatureCovariances:
    D, N0 = F.shape

    def step(sums, k):
        c = jax.random.normal(k, (batch, D), F.dtype)
        v = phi(sigma(c @ F / jnp.sqrt(D)) @ W.T / jnp.sqrt(N0))
        v2 = v**2
        return jax.tree.map(jnp.add, sums, (v.T @ v, v2.T @ v2, v.T @ c, v2.T @ c**2)), None

    K = W.shape[0]
    zeros = (jnp.zeros((K, K)), jnp.zeros((K, K)), jnp.zeros((K, D)), jnp.zeros((K, D)))
    sums, _ = jax.lax.scan(step, zeros, jax.random.split(key, n_batches))
    n = n_batches * batch
    Omega, Omega2, Phi, Phi2 = (x / n for x in sums)
    return FeatureCovariances(
        Omega=Omega,
        Phi=Phi,
        Omega_stderr=jnp.sqrt(jnp.maximum(Omega2 - Omega**2, 0.0) / n),
        Phi_stderr=jnp.sqrt(jnp.maximum(Phi2 - Phi**2, 0.0) / n),
    )
