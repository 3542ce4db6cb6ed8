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

Two networks sampled together (the joint reading of transfer, `PairedWeights`) make one site
of a neuron pair (W_s, W_t): the training inputs are both tasks' (P = Ps + Pt), alpha = (alpha_s,
alpha_t), and the tilt is one factor per network, exp((g/2) sum_b (alpha_b . phi(h_b))^2), the
"blocks" b of `Sites`; the gradient is then sum_b (Phi_bb alpha_b) - y + r alpha, each block
seeing its own kernel.
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
    1: the source's importance weights for a target coupled to a source); `log_weights` (G, K),
    the draws' log importance weights before the labels' tilt, up to a constant per group (0 for
    draws from the law itself; log prior/proposal for draws from a fitted proposal; for one
    network of a pair, the other network's tilt); `base_weights` (G, K), the draws' normalized
    weights under the prior (the control variate's untilted law, whose kernel is known exactly);
    `prior_variance`, v, the prior's per-component variance (W ~ N(0, v I): that exact kernel);
    `activation`."""

    samples: Float[Array, "G K N0"]
    group_weights: Float[Array, " G"]
    log_weights: Float[Array, "G K"]
    base_weights: Float[Array, "G K"]
    prior_variance: Float[Array, ""]
    activation: Activation


class PairedWeights(eqx.Module):
    """One neuron of each of two networks whose first layers are coupled by (delta/2)|W_t - W_s|^2
    and sampled together (the joint reading of transfer): per component, (W_s, W_t) ~
    N(0, [[v, c], [c, v]]) with v = (lambda0 + delta)/(lambda0 (lambda0 + 2 delta)) and
    c = delta/(lambda0 (lambda0 + 2 delta)) (delta = inf: v = c = 1/(2 lambda0), one shared W).

    - `variance` v, `covariance` c.
    - `samples`: (K, 2, N0) Monte Carlo draws of (W_s, W_t), or None: exact Gaussian
      expectations (identity activation).
    - `log_weights`: (K,), the draws' log prior/proposal ratios (0 for draws from the prior;
      `fitted_pair_proposal`), or None with `samples`.
    - `activation`.
    """

    variance: Float[Array, ""]
    covariance: Float[Array, ""]
    samples: "Float[Array, 'K 2 N0'] | None"
    log_weights: "Float[Array, ' K'] | None"
    activation: Activation


Weights = GaussianWeights | SampledWeights


class Sites(eqx.Module):
    """What V depends on besides alpha, on the training inputs X (P, N0), for one law:

    - exact (`GaussianWeights`): `noise` = X A_eps X^T / N0 (Sigma) and `mean` = X A_mu X^T / N0 (M);
    - Monte Carlo (`SampledWeights`): `features` = phi(h) (G, K, P) of every draw, `group_weights`
      (G,), `log_weights` (G, K), and `correction` (P, P), the exact untilted kernel minus its
      Monte Carlo estimate.

    The fields of the other representation are None. `blocks` (P, B), one-hot: which network
    each training point belongs to, for a pair of networks (`PairedWeights`; `mean` is then
    None); None for one network. It is the solver's `args` (with the labels, g and r):
    implicit differentiation reaches every field.
    """

    noise: "Float[Array, 'P P'] | None" = None
    mean: "Float[Array, 'P P'] | None" = None
    features: "Float[Array, 'G K P'] | None" = None
    group_weights: "Float[Array, ' G'] | None" = None
    log_weights: "Float[Array, 'G K'] | None" = None
    correction: "Float[Array, 'P P'] | None" = None
    blocks: "Float[Array, 'P B'] | None" = None

    @property
    def exact(self) -> bool:
        return self.features is None


def sites(weights: "Weights | PairedWeights", X) -> Sites:
    """The `Sites` of `weights` on the inputs X ((P, N0); for `PairedWeights`, the pair (Xs, Xt))."""
    if isinstance(weights, PairedWeights):
        blocks = jnp.concatenate([jnp.tile(jnp.eye(2)[b], (X[b].shape[0], 1)) for b in (0, 1)])
        prior = _paired_prior_kernel(weights, X, X)
        if weights.samples is None:
            return Sites(noise=prior, blocks=blocks)
        features = _paired_features(weights, X)
        return Sites(features=features, group_weights=jnp.ones(1), log_weights=weights.log_weights[None],
                     correction=prior - _base_average(_pair_base(weights), features, features), blocks=blocks)  # fmt: skip
    n0 = X.shape[1]
    if isinstance(weights, GaussianWeights):
        return Sites(noise=X @ weights.noise_covariance @ X.T / n0, mean=X @ weights.mean_covariance @ X.T / n0)
    features = _features(weights, X)
    return Sites(features=features, group_weights=weights.group_weights, log_weights=weights.log_weights,
                 correction=_prior_kernel(weights, X, X) - _base_average(weights.base_weights, features, features))  # fmt: skip


def gradient_and_hessian(alpha: Float[Array, " P"], args) -> "tuple[Float[Array, ' P'], Float[Array, 'P P']]":
    """grad V = (Phi + r I) alpha - y (per block, Phi_bb alpha_b) and its Jacobian (the Hessian
    of V), at `alpha`; `args` = (sites, y, g, r). Non-finite outside V's domain (exact law:
    g alpha^T Sigma alpha >= 1, or for a pair the largest eigenvalue of g G >= 1, `_pair_overlaps`,
    where the tilted law is not normalizable). Closed form, except for an exact pair (`jax.jacfwd`)."""
    s, y, g, r = args
    ridge = r * jnp.eye(y.size, dtype=y.dtype)
    if s.exact and s.blocks is not None:
        return _pair_gradient(alpha, args), jax.jacfwd(_pair_gradient)(alpha, args)
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
    E = jnp.ones((y.size, 1), y.dtype) if s.blocks is None else s.blocks
    proj = (F * alpha) @ E  # (G, K, B): alpha_b . phi_b of every draw
    within = jax.nn.softmax(s.log_weights + 0.5 * g * jnp.sum(proj**2, -1), axis=1)  # the tilt, normalized in each group
    w = s.group_weights[:, None] * within
    U = (proj @ E.T) * F  # (G, K, P): (alpha_b . phi_b) phi_b, whose mean is Phi_bb alpha_b
    mean_in_group = jnp.einsum("gk,gkp->gp", within, U)
    flat, wf, Uf = F.reshape(-1, F.shape[-1]), w.reshape(-1), U.reshape(-1, U.shape[-1])
    kernel = (flat.T @ (wf[:, None] * flat) + s.correction) * (E @ E.T)  # each block's own kernel
    gradient = kernel @ alpha - y + r * alpha
    spread = Uf.T @ (wf[:, None] * Uf) - mean_in_group.T @ (s.group_weights[:, None] * mean_in_group)
    return gradient, kernel + g * spread + ridge


def _pair_overlaps(alpha, s: Sites):
    """For an exact pair: A = (alpha_s, alpha_t) as the columns of a (P, 2) matrix, Sigma A and
    G = A^T Sigma A (2, 2), the overlaps of the two tilts under the untilted law."""
    A = s.blocks * alpha[:, None]
    SA = s.noise @ A
    return A, SA, A.T @ SA


def _largest_eigenvalue(G: Float[Array, "2 2"]) -> Float[Array, ""]:
    half_gap = jnp.sqrt(jnp.maximum(0.25 * (G[0, 0] - G[1, 1]) ** 2 + G[0, 1] ** 2, 1e-300))
    return 0.5 * (G[0, 0] + G[1, 1]) + half_gap


def _pair_gradient(alpha, args):
    """grad V for an exact pair: with M = (I - g G)^{-1}, the tilted law's Sigma' A = Sigma A M,
    and grad V = sum over blocks of (Sigma A M)_b - y + r alpha (module docstring)."""
    s, y, g, r = args
    _, SA, G = _pair_overlaps(alpha, s)
    inside = g * _largest_eigenvalue(G) < 1
    M = jnp.linalg.inv(jnp.eye(2) - g * G)
    return jnp.where(inside, jnp.sum(s.blocks * (SA @ M), axis=1) - y + r * alpha, jnp.nan)


def coefficients(beta: Float[Array, " P"], args) -> Float[Array, " P"]:
    """alpha from the solver's coordinates beta: for the exact law alpha = beta / sqrt(1 + g beta^T Sigma beta),
    which maps all of R^P onto the domain g alpha^T Sigma alpha < 1 (there t = 1/(1 - g alpha^T Sigma alpha)
    = 1 + g beta^T Sigma beta, a polynomial: Newton's trial points never leave the domain); for an
    exact pair the same with the largest eigenvalue of G (`_pair_overlaps`, quadratic in alpha
    too) in place of beta^T Sigma beta; for Monte Carlo (no boundary) alpha = beta."""
    s, _, g, _ = args
    if not s.exact:
        return beta
    size = beta @ s.noise @ beta if s.blocks is None else _largest_eigenvalue(_pair_overlaps(beta, s)[2])
    return beta / jnp.sqrt(1 + g * size)


def coordinates(alpha: Float[Array, " P"], args) -> Float[Array, " P"]:
    """The inverse of `coefficients`: beta = alpha / sqrt(1 - g alpha^T Sigma alpha) for the exact law."""
    s, _, g, _ = args
    if not s.exact:
        return alpha
    size = alpha @ s.noise @ alpha if s.blocks is None else _largest_eigenvalue(_pair_overlaps(alpha, s)[2])
    return alpha / jnp.sqrt(1 - g * size)


def into_domain(alpha: Float[Array, " P"], args) -> Float[Array, " P"]:
    """`alpha` scaled, if need be, to lie well inside the exact law's domain (a starting point)."""
    s, _, g, _ = args
    if not s.exact:
        return alpha
    size = g * (alpha @ s.noise @ alpha if s.blocks is None else _largest_eigenvalue(_pair_overlaps(alpha, s)[2]))
    return alpha * jnp.where(size < 0.9, 1.0, jnp.sqrt(0.9 / size))


def stationarity(beta: Float[Array, " P"], args) -> "tuple[Float[Array, ' P'], Float[Array, 'P P']]":
    """grad V at alpha = `coefficients`(beta), and its Jacobian with respect to beta: the
    equation the solver finds a root of (a root in beta is a stationary point of V in alpha)."""
    s, _, g, _ = args
    alpha = coefficients(beta, args)
    if s.exact and s.blocks is not None:
        of_beta = lambda b: _pair_gradient(coefficients(b, args), args)  # noqa: E731
        return of_beta(beta), jax.jacfwd(of_beta)(beta)
    gradient, hessian = gradient_and_hessian(alpha, args)
    if not s.exact:
        return gradient, hessian
    t = 1 + g * (beta @ s.noise @ beta)
    jacobian = jnp.eye(beta.size) / jnp.sqrt(t) - g * t**-1.5 * jnp.outer(beta, s.noise @ beta)  # d alpha / d beta
    return gradient, hessian @ jacobian


def draw_weights(weights: "SampledWeights | PairedWeights", Xs, alpha, g) -> Float[Array, "G K"]:
    """The normalized weight of every draw under the tilt by `alpha` on the inputs `Xs`
    (the group's probability times the draw's share of its group's tilt); (G, K), summing to 1."""
    if isinstance(weights, PairedWeights):
        n_s = Xs[0].shape[0]
        F = _paired_features(weights, Xs)
        tilt = (F[..., :n_s] @ alpha[:n_s]) ** 2 + (F[..., n_s:] @ alpha[n_s:]) ** 2
        return jax.nn.softmax(weights.log_weights[None] + 0.5 * g * tilt, axis=1)
    proj = _features(weights, Xs) @ alpha
    return weights.group_weights[:, None] * jax.nn.softmax(weights.log_weights + 0.5 * g * proj**2, axis=1)


def effective_samples(w: Float[Array, "G K"]) -> Float[Array, ""]:
    """Kish's effective sample size 1 / sum w^2 of normalized importance weights."""
    return 1 / jnp.sum(w**2)


def monte_carlo_error(weights: "SampledWeights | PairedWeights", X, alpha, y, g, r) -> Float[Array, ""]:
    """The Monte Carlo error of the stationarity equation at `alpha`, estimated from two halves
    of the draws: |grad V_A - grad V_B| / (2 |y|), grad V_A and grad V_B = (Phi_half + r I) alpha - y
    (per block) from each half alone (each with its own control variate). For two independent
    halves this is the standard error of (Phi alpha) of all draws, relative to the labels: it
    stays large where a few heavy weights decide the estimate, even when the effective sample
    size looks large enough. The halves split each group's draws (or, for one draw per
    group, the groups)."""
    grads = [gradient_and_hessian(alpha, (sites(half, X), y, g, r))[0] for half in _halves(weights)]
    return jnp.linalg.norm(grads[0] - grads[1]) / (2 * jnp.linalg.norm(y))


def _halves(weights: "SampledWeights | PairedWeights"):
    """The draws of `weights` in two halves, each a law of the same kind (weights renormalized)."""
    if isinstance(weights, PairedWeights):
        k = weights.log_weights.size // 2
        return [eqx.tree_at(lambda w: (w.samples, w.log_weights), weights, (weights.samples[sl], weights.log_weights[sl]))
                for sl in (slice(0, k), slice(k, 2 * k))]  # fmt: skip
    axis = 1 if weights.samples.shape[1] >= 2 else 0
    k = weights.samples.shape[axis] // 2

    def half(sl):
        cut = lambda a: a[:, sl] if axis == 1 else a[sl]  # noqa: E731
        group_weights = weights.group_weights[sl] if axis == 0 else weights.group_weights
        base = cut(weights.base_weights)
        return SampledWeights(samples=cut(weights.samples), group_weights=group_weights / jnp.sum(group_weights),
                              log_weights=cut(weights.log_weights), base_weights=base / jnp.sum(base),
                              prior_variance=weights.prior_variance, activation=weights.activation)  # fmt: skip

    return [half(slice(0, k)), half(slice(k, 2 * k))]


def tilted_kernel(weights: "Weights | PairedWeights", X, alpha, g, X1, X2) -> Float[Array, "P1 P2"]:
    """Phi(x1, x2) = <phi(h(x1)) phi(h(x2))> under the law `weights` tilted by `alpha` on the
    training inputs X: the adapted kernel between any two sets of inputs (P1, N0), (P2, N0)
    (for `PairedWeights`, X, X1 and X2 are pairs (source inputs, target inputs), and the
    kernel, (P1s + P1t, P2s + P2t), holds both networks' and their cross kernel)."""
    if isinstance(weights, PairedWeights):
        if weights.samples is None:  # Gaussian: Phi = K0 + g K0(X1, X) A M A^T K0(X, X2) (Woodbury on h)
            s = sites(weights, X)
            A, _, G = _pair_overlaps(alpha, s)
            M = jnp.linalg.inv(jnp.eye(2) - g * G)
            left, right = _paired_prior_kernel(weights, X1, X) @ A, A.T @ _paired_prior_kernel(weights, X, X2)
            return _paired_prior_kernel(weights, X1, X2) + g * left @ M @ right
        w = draw_weights(weights, X, alpha, g)
        F1, F2 = _paired_features(weights, X1), _paired_features(weights, X2)
        prior, base = _paired_prior_kernel(weights, X1, X2), _pair_base(weights)
    elif isinstance(weights, GaussianWeights):
        return X1 @ tilted_second_moment(weights, X, alpha, g) @ X2.T / X.shape[1]
    else:
        w = draw_weights(weights, X, alpha, g)
        F1, F2 = _features(weights, X1), _features(weights, X2)
        prior, base = _prior_kernel(weights, X1, X2), weights.base_weights
    return jnp.einsum("gk,gka,gkb->ab", w, F1, F2) + prior - _base_average(base, F1, F2)


def preactivation_histogram(weights: Weights, X, alpha, g, x0, edges) -> Float[Array, " B"]:
    """The probability of each bin [edges[k], edges[k+1]) of a neuron's preactivation
    h = W . x0 / sqrt(N0) at one input x0 (N0,) under the law `weights` tilted by `alpha` on X:
    exact for Gaussian weights (h ~ N(0, x0^T E[W W^T] x0 / N0)), a weighted histogram of the draws
    for Monte Carlo; (B,) for B + 1 increasing `edges`."""
    if isinstance(weights, GaussianWeights):
        std = jnp.sqrt(x0 @ tilted_second_moment(weights, X, alpha, g) @ x0 / x0.size)
        return jnp.diff(jax.scipy.stats.norm.cdf(edges / std))
    h = weights.samples @ x0 / jnp.sqrt(x0.size)
    return jnp.histogram(h.ravel(), bins=edges, weights=draw_weights(weights, X, alpha, g).ravel())[0]


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


def fitted_proposal(prior: SampledWeights, current: SampledWeights, X, alpha, g) -> SampledWeights:
    """The draws of one group from the prior N(0, v I) (`prior`, `log_weights` 0) moved to a
    Gaussian proposal fitted to the law tilted by `alpha` on X: in the span of the training
    inputs (the directions the labels' tilt acts on, `tilted_span`), the tilted law's second
    moment as the draws of `current` (the prior's, or an earlier fitted proposal's, with their
    weights) estimate it, never narrower than the prior; the prior elsewhere (`stretched`).
    The same random numbers, so a deterministic function of alpha."""
    v = prior.prior_variance
    moved, log_weights = stretched(prior.samples[0] / jnp.sqrt(v), tilted_span(X.T),
                                   draw_weights(current, X, alpha, g)[0], current.samples[0] / jnp.sqrt(v))  # fmt: skip
    return SampledWeights(samples=jnp.sqrt(v) * moved[None], group_weights=jnp.ones(1), log_weights=log_weights[None],
                          base_weights=jax.nn.softmax(log_weights)[None], prior_variance=v,
                          activation=prior.activation)  # fmt: skip


def tilted_span(D: Float[Array, "n m"]) -> Float[Array, "n k"]:
    """An orthonormal basis (n, k), k = min(n, m), of the span of the columns of D: the
    directions of a neuron's standard normals along which the labels' tilt acts (for one
    network, the training inputs: the tilt depends on W only through X W). A constant for
    differentiation: any fixed proposal is a valid one, so the derivative taken is that of the
    estimate with this span held fixed (for one network it moves with the inputs only; for a
    pair also with the coupling, through the ratio of the columns' blocks)."""
    return jax.lax.stop_gradient(jnp.linalg.svd(D, full_matrices=False)[0])


def stretched(xi: Float[Array, "*d n"], U: Float[Array, "n k"], w: Float[Array, "*d"], fitted_on=None):
    """The fitted proposals' one mechanism: standard normal draws `xi` moved, in the span of
    the orthonormal columns of U, to a Gaussian of second moment S_c: the second moment
    S = sum w p p^T of the components p = U^T z of the draws `fitted_on` (z; default `xi`)
    under their normalized weights `w`, with its eigenvalues raised to at least 1 (never
    narrower than the standard normal, so the weights' tails stay those of the tilt);
    unchanged outside that span. With S_c = V diag(e) V^T and p = U^T xi the draws become
    xi + U (R - I) p, R = V diag(sqrt(e)) V^T, and their log ratio of the two normal densities
    is (|p|^2 - p^T S_c p) / 2 (up to a constant common to all draws). Returns (moved draws,
    log weights)."""
    z = xi if fitted_on is None else fitted_on
    S = jnp.einsum("...,...i,...j->ij", w, z @ U, z @ U)
    e, V = jnp.linalg.eigh(S)
    e = jnp.maximum(e, 1.0)
    root, Sc = (V * jnp.sqrt(e)) @ V.T, (V * e) @ V.T
    p = xi @ U
    moved = xi + (p @ (root - jnp.eye(U.shape[1], dtype=U.dtype))) @ U.T
    return moved, 0.5 * (jnp.sum(p**2, -1) - jnp.einsum("...i,ij,...j->...", p, Sc, p))


def fitted_pair_proposal(prior: PairedWeights, current: PairedWeights, X, alpha, g) -> PairedWeights:
    """`fitted_proposal` for a pair's prior draws (`prior`), in the standard normals
    xi = (xi_s, xi_t) that make the draws (W_s = sqrt(v) xi_s, W_t = rho W_s + sigma xi_t,
    rho = c/v, sigma^2 = v - c^2/v): the tilts act on xi through the columns of
    [[sqrt(v) Xs^T, rho sqrt(v) Xt^T], [0, sigma Xt^T]] (2 N0, Ps + Pt), whose span `stretched`
    fits to the tilted law's second moment as the draws of `current` estimate it."""
    v, c = prior.variance, prior.covariance
    rho = c / v
    sigma = jnp.sqrt(jnp.maximum(v - c * rho, 0.0))

    def normals(W):  # (K, 2, N0) -> (K, 2 N0)
        xi_t = jnp.where(sigma > 0, (W[:, 1] - rho * W[:, 0]) / jnp.where(sigma > 0, sigma, 1.0), 0.0)
        return jnp.concatenate([W[:, 0] / jnp.sqrt(v), xi_t], axis=1)

    Xs, Xt = X
    n0 = Xs.shape[1]
    directions = jnp.block([[jnp.sqrt(v) * Xs.T, rho * jnp.sqrt(v) * Xt.T], [jnp.zeros_like(Xs.T), sigma * Xt.T]])
    moved, extra = stretched(normals(prior.samples), tilted_span(directions), draw_weights(current, X, alpha, g)[0],
                             normals(current.samples))  # fmt: skip
    W_s = jnp.sqrt(v) * moved[:, :n0]
    samples = jnp.stack([W_s, rho * W_s + sigma * moved[:, n0:]], axis=1)
    return PairedWeights(variance=v, covariance=c, samples=samples, log_weights=prior.log_weights + extra,
                         activation=prior.activation)  # fmt: skip


def marginal(weights: PairedWeights, X, alpha, g, side: int) -> Weights:
    """The law of one network's neuron (`side` 0: source, 1: target) in a pair, tilted by the
    other network's labels (its half of `alpha` on its inputs, of the pair X) and not yet by
    its own: the single-network law whose own tilt gives that network's kernels and predictor.
    Exact: N(0, v I + g c^2 b b^T / (1 - g v |b|^2)), b = X_o^T alpha_o / sqrt(N0); Monte Carlo:
    the pair's draws of this network, with the other's tilt as their log weights."""
    n_s = X[0].shape[0]
    alpha_other = alpha[n_s:] if side == 0 else alpha[:n_s]
    X_other = X[1 - side]
    v, c = weights.variance, weights.covariance
    if weights.samples is None:
        b = X_other.T @ alpha_other / jnp.sqrt(X_other.shape[1])
        eye = jnp.eye(b.size)
        noise = v * eye + g * c**2 * jnp.outer(b, b) / (1 - g * v * (b @ b))
        return GaussianWeights(mean_covariance=0 * eye, noise_covariance=noise)
    W, W_other = weights.samples[:, side], weights.samples[:, 1 - side]
    proj = weights.activation(W_other @ X_other.T / jnp.sqrt(X_other.shape[1])) @ alpha_other
    return SampledWeights(samples=W[None], group_weights=jnp.ones(1),
                          log_weights=(weights.log_weights + 0.5 * g * proj**2)[None], base_weights=_pair_base(weights),
                          prior_variance=v, activation=weights.activation)  # fmt: skip


def _features(weights: SampledWeights, X) -> Float[Array, "G K P"]:
    return weights.activation(weights.samples @ X.T / jnp.sqrt(X.shape[1]))


def _paired_features(weights: PairedWeights, X) -> Float[Array, "1 K P"]:
    """phi(h) on both networks' inputs, (1, K, Ps + Pt): the source half from W_s, the target half from W_t."""
    n0 = X[0].shape[1]
    h = [weights.samples[:, b] @ X[b].T / jnp.sqrt(n0) for b in (0, 1)]
    return weights.activation(jnp.concatenate(h, axis=1))[None]


def _base_average(base, F1, F2) -> Float[Array, "P1 P2"]:
    """The Monte Carlo estimate of the prior's kernel from the draws with their `base` weights
    (G, K), whose exact value the control variate adds back."""
    return jnp.einsum("gk,gka,gkb->ab", base, F1, F2)


def _pair_base(weights: PairedWeights) -> Float[Array, "1 K"]:
    """The draws' normalized prior weights (the control variate's untilted law)."""
    return jax.nn.softmax(weights.log_weights)[None]


def _prior_kernel(weights: SampledWeights, X1, X2) -> Float[Array, "P1 P2"]:
    v = weights.prior_variance
    return gram(X1, X2, var1=v, var2=v, cov=v, activation=weights.activation)


def _paired_prior_kernel(weights: PairedWeights, X1, X2) -> Float[Array, "P1 P2"]:
    """The untilted kernel of a pair between the input pairs X1 and X2: blocks of `gram` with
    the pair's variance v (same network) and covariance c (source against target)."""
    v, c = weights.variance, weights.covariance
    row = lambda a, Xa: jnp.concatenate([gram(Xa, X2[b], var1=v, var2=v, cov=v if a == b else c,  # noqa: E731
                                               activation=weights.activation) for b in (0, 1)], axis=1)  # fmt: skip
    return jnp.concatenate([row(a, X1[a]) for a in (0, 1)], axis=0)
