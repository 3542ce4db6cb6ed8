"""The single-site measure of the adaptive-kernel theories (README.md in this folder, section 11):
the law of one hidden neuron's first-layer weights W (shape (N0,)) before the labels tilt it,
and the potential whose stationary point gives the adapted kernel.

At infinite width in the mean-field parametrization every neuron is an independent draw from
one law; the labels y (P,) of the task act on it through a tilt exp((g/2) (alpha . phi(h))^2)
of its preactivations h = X W / sqrt(N0) on the training inputs X (P, N0), normalized per
draw of the neuron's random mean (if it has one). alpha (P,) is the stationary point of

    V(alpha) = (1/g) E_mean log E_W[exp((g/2) (alpha . phi(h))^2) | mean] - alpha . y + (r/2) |alpha|^2,

a convex function, with gradient (Phi(alpha) + r I) alpha - y, where Phi(alpha) = <phi(h) phi(h)^T>
is the tilted kernel. Two representations of the law, one solver (`stationary_point`):

- `GaussianWeights` (identity activation, exact): W = mu + eps with mu ~ N(0, A_mu) random per
  neuron and eps ~ N(0, A_eps); every expectation is Gaussian algebra.
- `SampledWeights` (any activation, Monte Carlo): fixed weight samples in groups of equal mean
  (common random numbers, so V is a deterministic, differentiable function), each group's tilt
  normalized on its own, and the untilted kernel subtracted and added in closed form (a control
  variate: with g = 0 the Monte Carlo kernel is the exact NNGP kernel).
"""

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from ._activation import Activation
from ._kernel import gram


class GaussianWeights(eqx.Module):
    """Gaussian first-layer weights W = mu + eps of one neuron (identity activation): the
    tilt is normalized for each draw of the random mean mu.

    - `mean_covariance`: A_mu (N0, N0), the covariance of mu (0 for a single task; for a target
      coupled to a source, (delta/(lambda0 + delta))^2 times the source's weight covariance).
    - `noise_covariance`: A_eps (N0, N0), the covariance of eps (I/lambda0 for a single task).
    """

    mean_covariance: Float[Array, "N0 N0"]
    noise_covariance: Float[Array, "N0 N0"]


class SampledWeights(eqx.Module):
    """Monte Carlo weights of one neuron: `samples` (G, K, N0), G groups of K draws, the draws
    of a group sharing one random mean (G = 1 for a single task), the groups drawn from the
    untilted law of the mean; `group_weights` (G,), the probability of each group (summing to
    1: the source's importance weights for a target coupled to a source); `log_weights` (G, K), the draws' log importance
    weights before the tilt, up to a constant per group (0 for draws from the law itself);
    `prior_variance`, v, the per-component variance of W without any tilt (W ~ N(0, v I): the
    control variate's exact kernel); `activation`."""

    samples: Float[Array, "G K N0"]
    group_weights: Float[Array, " G"]
    log_weights: Float[Array, "G K"]
    prior_variance: Float[Array, ""]
    activation: Activation


Weights = GaussianWeights | SampledWeights


class Sites(eqx.Module):
    """What V depends on besides alpha, on the training inputs X (P, N0), for one law:

    - exact (`GaussianWeights`): `noise` = X A_eps X^T / N0 (Sigma) and `mean` = X A_mu X^T / N0 (M);
    - Monte Carlo (`SampledWeights`): `features` = phi(h) (G, K, P) of every draw, `group_weights`
      (G,), `log_weights` (G, K), and `correction` (P, P), the exact untilted kernel minus its
      Monte Carlo estimate.

    The fields of the other representation are None. It is the solver's `args` (with the
    labels, g and r): implicit differentiation reaches every field.
    """

    noise: "Float[Array, 'P P'] | None" = None
    mean: "Float[Array, 'P P'] | None" = None
    features: "Float[Array, 'G K P'] | None" = None
    group_weights: "Float[Array, ' G'] | None" = None
    log_weights: "Float[Array, 'G K'] | None" = None
    correction: "Float[Array, 'P P'] | None" = None

    @property
    def exact(self) -> bool:
        return self.features is None


def sites(weights: Weights, X: Float[Array, "P N0"]) -> Sites:
    """The `Sites` of `weights` on the inputs X."""
    n0 = X.shape[1]
    if isinstance(weights, GaussianWeights):
        return Sites(noise=X @ weights.noise_covariance @ X.T / n0, mean=X @ weights.mean_covariance @ X.T / n0)
    features = _features(weights, X)
    untilted = _untilted_average(weights, features, features)
    return Sites(features=features, group_weights=weights.group_weights, log_weights=weights.log_weights,
                 correction=_prior_kernel(weights, X, X) - untilted)  # fmt: skip


def gradient_and_hessian(alpha: Float[Array, " P"], args) -> "tuple[Float[Array, ' P'], Float[Array, 'P P']]":
    """grad V = (Phi + r I) alpha - y and its Jacobian (the Hessian of V), in closed form, at
    `alpha`; `args` = (sites, y, g, r). Non-finite outside V's domain (exact law: g alpha^T Sigma alpha >= 1,
    where the tilted law is not normalizable)."""
    s, y, g, r = args
    ridge = r * jnp.eye(y.size, dtype=y.dtype)
    if s.exact:
        Sa, Ma = s.noise @ alpha, s.mean @ alpha
        sigma, m = alpha @ Sa, alpha @ Ma
        t = jnp.where(g * sigma < 1, 1 / (1 - g * sigma), jnp.nan)
        gradient = t * Sa + t * Ma + g * t**2 * m * Sa - y + r * alpha
        outer = jnp.outer(Sa, Sa)
        hessian = (t * (s.noise + s.mean) + g * t**2 * m * s.noise
                   + 2 * g * t**2 * (outer + jnp.outer(Ma, Sa) + jnp.outer(Sa, Ma))
                   + 4 * g**2 * t**3 * m * outer + ridge)  # fmt: skip
        return gradient, hessian
    F = s.features
    proj = F @ alpha  # (G, K): alpha . phi of every draw
    within = jax.nn.softmax(s.log_weights + 0.5 * g * proj**2, axis=1)  # the tilt, normalized in each group
    w = s.group_weights[:, None] * within
    mean_in_group = jnp.einsum("gk,gkp->gp", within * proj, F)  # <(alpha . phi) phi> per group
    flat, wf, pf = F.reshape(-1, F.shape[-1]), w.reshape(-1), proj.reshape(-1)
    kernel = flat.T @ (wf[:, None] * flat) + s.correction
    gradient = kernel @ alpha - y + r * alpha
    spread = flat.T @ ((wf * pf**2)[:, None] * flat) - mean_in_group.T @ (s.group_weights[:, None] * mean_in_group)
    return gradient, kernel + g * spread + ridge


def coefficients(beta: Float[Array, " P"], args) -> Float[Array, " P"]:
    """alpha from the solver's coordinates beta: for the exact law alpha = beta / sqrt(1 + g beta^T Sigma beta),
    which maps all of R^P onto the domain g alpha^T Sigma alpha < 1 (there t = 1/(1 - g alpha^T Sigma alpha)
    = 1 + g beta^T Sigma beta, a polynomial: Newton's trial points never leave the domain); for
    Monte Carlo (no boundary) alpha = beta."""
    s, _, g, _ = args
    return beta / jnp.sqrt(1 + g * (beta @ s.noise @ beta)) if s.exact else beta


def coordinates(alpha: Float[Array, " P"], args) -> Float[Array, " P"]:
    """The inverse of `coefficients`: beta = alpha / sqrt(1 - g alpha^T Sigma alpha) for the exact law."""
    s, _, g, _ = args
    return alpha / jnp.sqrt(1 - g * (alpha @ s.noise @ alpha)) if s.exact else alpha


def stationarity(beta: Float[Array, " P"], args) -> "tuple[Float[Array, ' P'], Float[Array, 'P P']]":
    """grad V at alpha = `coefficients`(beta), and its Jacobian with respect to beta: the
    equation the solver finds a root of (a root in beta is a stationary point of V in alpha)."""
    s, _, g, _ = args
    alpha = coefficients(beta, args)
    gradient, hessian = gradient_and_hessian(alpha, args)
    if not s.exact:
        return gradient, hessian
    t = 1 + g * (beta @ s.noise @ beta)
    jacobian = jnp.eye(beta.size) / jnp.sqrt(t) - g * t**-1.5 * jnp.outer(beta, s.noise @ beta)  # d alpha / d beta
    return gradient, hessian @ jacobian


def draw_weights(weights: SampledWeights, Xs, alpha, g) -> Float[Array, "G K"]:
    """The normalized weight of every draw under the tilt by `alpha` on the inputs `Xs`
    (the group's probability times the draw's share of its group's tilt); (G, K), summing to 1."""
    proj = _features(weights, Xs) @ alpha
    return weights.group_weights[:, None] * jax.nn.softmax(weights.log_weights + 0.5 * g * proj**2, axis=1)


def effective_samples(w: Float[Array, "G K"]) -> Float[Array, ""]:
    """Kish's effective sample size 1 / sum w^2 of normalized importance weights."""
    return 1 / jnp.sum(w**2)


def tilted_kernel(weights: Weights, X, alpha, g, X1, X2) -> Float[Array, "P1 P2"]:
    """Phi(x1, x2) = <phi(h(x1)) phi(h(x2))> under the law `weights` tilted by `alpha` on the
    training inputs X: the adapted kernel between any two sets of inputs (P1, N0), (P2, N0)."""
    if isinstance(weights, GaussianWeights):
        return X1 @ tilted_second_moment(weights, X, alpha, g) @ X2.T / X.shape[1]
    w = draw_weights(weights, X, alpha, g)
    F1, F2 = _features(weights, X1), _features(weights, X2)
    weighted = jnp.einsum("gk,gka,gkb->ab", w, F1, F2)
    return weighted + _prior_kernel(weights, X1, X2) - _untilted_average(weights, F1, F2)


def tilted_second_moment(weights: GaussianWeights, X, alpha, g) -> Float[Array, "N0 N0"]:
    """E[W W^T] (N0, N0) under the tilted Gaussian law: with b = X^T alpha / sqrt(N0),
    sigma = b^T A_eps b, m = b^T A_mu b and t = 1/(1 - g sigma),

        A = A_mu + A_eps + g t [(A_mu b)(A_eps b)^T + (A_eps b)(A_mu b)^T] + g t (1 + g t m) (A_eps b)(A_eps b)^T.
    """
    b = X.T @ alpha / jnp.sqrt(X.shape[1])
    Ab_mu, Ab_eps = weights.mean_covariance @ b, weights.noise_covariance @ b
    t = 1 / (1 - g * (b @ Ab_eps))
    m = b @ Ab_mu
    cross = jnp.outer(Ab_mu, Ab_eps)
    return (weights.mean_covariance + weights.noise_covariance + g * t * (cross + cross.T)
            + g * t * (1 + g * t * m) * jnp.outer(Ab_eps, Ab_eps))  # fmt: skip


def _features(weights: SampledWeights, X) -> Float[Array, "G K P"]:
    return weights.activation(weights.samples @ X.T / jnp.sqrt(X.shape[1]))


def _untilted_average(weights: SampledWeights, F1, F2) -> Float[Array, "P1 P2"]:
    """The Monte Carlo estimate of the untilted kernel: every draw with its weight before any
    tilt (the groups, draws of the untilted law, equally likely)."""
    w = jax.nn.softmax(weights.log_weights, axis=1) / weights.group_weights.size
    return jnp.einsum("gk,gka,gkb->ab", w, F1, F2)


def _prior_kernel(weights: SampledWeights, X1, X2) -> Float[Array, "P1 P2"]:
    v = weights.prior_variance
    return gram(X1, X2, var1=v, var2=v, cov=v, activation=weights.activation)
