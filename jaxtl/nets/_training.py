"""Networks trained by gradient descent, where a theory describes training rather than a
posterior: the two-layer networks of the feature-transfer protocol (jaxtl/theory/README.md,
section 10) and the exact readout on frozen features that the readout theory describes.

The objective of a network f (a `Network`, f(x) = N1^{-1/2} v . phi(W x / sqrt(N0))) on P
points is the sum of the per-sample losses plus a weight decay,

    L(W, v) = sum_mu loss(y_mu, f(x_mu)) + (weight_decay / 2) (|W|^2 + |v|^2),

with loss(y, f) = (y - f)^2 / 2 ("square") or log(1 + exp(-y f)) ("logistic"), the same losses
and the same normalization as the readout theory (`jaxtl.features.learning_curve`).
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, Float

from ._network import Network


def sample_losses(loss: str, y: Float[Array, " P"], f: Float[Array, " P"]) -> Float[Array, " P"]:
    """loss(y_mu, f_mu) for each sample: (y - f)^2 / 2 or log(1 + exp(-y f))."""
    if loss == "square":
        return (y - f) ** 2 / 2
    return jnp.logaddexp(0.0, -y * f)


def train(
    network: Network,
    X: Float[Array, "P N0"],
    y: Float[Array, " P"],
    *,
    loss: str = "square",
    weight_decay: Float[Array, ""] = 1e-3,
    learning_rate: Float[Array, ""] = 1e-2,
    steps: int = 2000,
) -> Network:
    """`network` after `steps` full-batch Adam steps on the objective L(W, v) of the module
    docstring, both layers trained.

    The recipe: Adam (optax, default moments) at a constant `learning_rate` (its steps have
    the scale of the learning rate whatever the scale of L), full batch, a fixed number of
    steps (so that it runs under `jax.vmap` over seeds, data or hyperparameters). A pure
    function of its arguments (`steps` and `loss` static).

    **Arguments:** `network`: the starting point (from the prior for training from scratch,
    a trained network for fine-tuning); `X` (P, N0), `y` (P,): the training set; `loss`:
    "square" or "logistic"; `weight_decay` >= 0; `learning_rate` > 0; `steps` >= 0.

    **Returns:** the trained `Network` (same activation and shapes).
    """
    params, static = eqx.partition(network, eqx.is_inexact_array)
    optimizer = optax.adam(learning_rate)

    def objective(params):
        net = eqx.combine(params, static)
        penalty = sum(jnp.sum(p**2) for p in jax.tree.leaves(params))
        return jnp.sum(sample_losses(loss, y, net(X))) + weight_decay / 2 * penalty

    def step(carry, _):
        params, state = carry
        updates, state = optimizer.update(jax.grad(objective)(params), state)
        return (optax.apply_updates(params, updates), state), None

    (params, _), _ = jax.lax.scan(step, (params, optimizer.init(params)), None, length=steps)
    return eqx.combine(params, static)


def fit_readout(
    features: Float[Array, "P K"], y: Float[Array, " P"], *, ridge: Float[Array, ""], loss: str = "square"
) -> Float[Array, " K"]:
    """The readout w = argmin sum_mu loss(y_mu, w . v_mu / sqrt(K)) + (ridge / 2) |w|^2 on
    frozen features v (exactly: one linear solve for the square loss; Newton's method, 30
    steps from w = 0, for the strictly convex logistic objective). What
    `jaxtl.features.learning_curve` describes, fitted on one training set."""
    P, K = features.shape
    v = features / jnp.sqrt(K)
    if loss == "square":
        return jnp.linalg.solve(v.T @ v + ridge * jnp.eye(K), v.T @ y)

    def newton(w, _):
        s = jax.nn.sigmoid(-y * (v @ w))
        gradient = -(v.T @ (y * s)) + ridge * w
        hessian = (v.T * (s * (1 - s))) @ v + ridge * jnp.eye(K)
        return w - jnp.linalg.solve(hessian, gradient), None

    return jax.lax.scan(newton, jnp.zeros(K, features.dtype), None, length=30)[0]


def classification_error(y: Float[Array, " P"], f: Float[Array, " P"]) -> Float[Array, ""]:
    """The fraction of points with sign(f) != y (labels +-1)."""
    return jnp.mean(jnp.sign(f) != y)
