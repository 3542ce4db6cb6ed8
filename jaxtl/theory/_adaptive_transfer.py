"""Transfer between two infinite-width mean-field networks coupled by an elastic weight
penalty delta/2 |W_t - W_s|^2 on the first layer (README.md in this folder, section 11.4).

The source is quenched: its network is a draw from its own posterior (the adaptive kernel of
the source task, `_adaptive_kernel`), and the target's posterior is taken given that draw. At
infinite width each target neuron sees only its own source neuron: given the source weights
W_s, the target's untilted law is N(rho W_s, I/(lambda0 + delta)), rho = delta/(lambda0 + delta),
and the target labels tilt it, normalized per source draw. The source's draws follow the
source's tilted single-site law. In `_single_site`'s terms the target's law has a random mean
rho W_s: exact Gaussian algebra for the identity activation (A_mu = rho^2 E[W_s W_s^T]); for
others, groups of `target_draws` target draws around each of the source's Monte Carlo draws,
the groups weighted by the source's importance weights.

delta = 0 is the target's own adaptive kernel (no transfer); delta = inf holds W_t = W_s:
kernel regression with the source-adapted kernel on the target inputs.

The joint (annealed) reading samples both networks together: per neuron the pair (W_s, W_t)
has the coupled Gaussian prior (`_single_site.PairedWeights`) and both tasks' labels tilt it,
so the source's kernel feels the target's labels too; one stationary point in
(alpha_s, alpha_t) (README.md in this folder, section 11.5).
"""

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, Int, PRNGKeyArray

from .. import _checks
from .._repr import Readable
from ._activation import Activation, Identity, get_activation
from ._adaptive_kernel import (
    ADAPTIVE_NUMBERS,
    ADAPTIVE_OPTIONS,
    NEURONS,
    AdaptiveKernelSolution,
    _numbers,
    prior_weights,
    refitted,
    solve_adaptive,
    stationary_coefficients,
)
from ._protocol import Evaluation, Number, Option, Output, Theory
from ._result import Prediction, TheorySolution
from ._single_site import (
    GaussianWeights,
    PairedWeights,
    SampledWeights,
    Weights,
    draw_weights,
    fitted_pair_proposal,
    marginal,
    stretched,
    tilted_span,
    tilted_second_moment,
)
from ._solve import RESULTS, first_failure, raise_if_failed

TARGET_DRAWS = 16
"""Target draws per source draw (Monte Carlo) when `target_draws` is not given."""

READINGS = ("quenched", "joint")
"""How the two networks are sampled: the source first, then the target given it; or together."""


class AdaptiveBenefit(Readable):
    """The transfer benefit on a test set, in labels squared: the target's error at
    delta = 0 minus its error at delta (positive: transfer helps), split into two parts that
    add up to `total`:

    - `prior`: what the coupling gives with a source that learned nothing (its neurons drawn
      from the prior, untilted by the source labels): a changed first-layer prior, not transfer.
    - `source`: what the source's adapted features carry: the prior-only error minus the error.
    """

    total: Float[Array, ""]
    prior: Float[Array, ""]
    source: Float[Array, ""]


class AdaptiveTransferSolution(TheorySolution):
    """The solved adaptive transfer theory (module docstring).

    **Attributes:**
    - `source`: the source's adaptive kernel (`AdaptiveKernelSolution`) on (Xs, ys) (joint
      reading: the source of the pair, its kernel shaped by both tasks' labels).
    - `target`: the coupled target's (its `weights` are the target's untilted law given the
      source); `target.kernel` is the transferred kernel Phi_t on the target inputs (Pt, Pt).
    - `reading`: "quenched" or "joint" (module docstring).
    - `uncoupled`: the target's own adaptive kernel (delta = 0), and `prior_only`: the coupled
      target on a source that learned nothing; the references of `benefit`.
    - `coupling` (delta, in [0, inf]).
    - `result`, `num_steps`, `converged`: the first failure of the source, the references and
      the target (`jaxtl.RESULTS`); predictions are NaN unless converged.
    """

    source: AdaptiveKernelSolution
    target: AdaptiveKernelSolution
    uncoupled: AdaptiveKernelSolution
    prior_only: AdaptiveKernelSolution
    coupling: Float[Array, ""]
    result: RESULTS
    num_steps: Int[Array, ""]
    reading: str = eqx.field(static=True, default="quenched")
    _shown = ("converged", "result", "reading", "coupling", "source", "target")

    @property
    def kernel(self) -> Float[Array, "Pt Pt"]:
        """The transferred kernel Phi_t on the target's training inputs, (Pt, Pt)."""
        return self.target.kernel

    def predict(self, X0: Float[ArrayLike, "P0 N0"]) -> Prediction:
        """The target's predictor f(x0) = Phi_t(x0, X_t) alpha_t (NaN unless converged)."""
        return self.target.predict(X0).only_if(self.converged)

    def benefit(self, X0: Float[ArrayLike, "P0 N0"], y0: Float[ArrayLike, " P0"]) -> AdaptiveBenefit:
        """The transfer benefit on (X0, y0) and its split (`AdaptiveBenefit`)."""
        error, uncoupled, prior_only = (s.test_error(X0, y0).total for s in (self, self.uncoupled, self.prior_only))
        return AdaptiveBenefit(uncoupled - error, uncoupled - prior_only, prior_only - error)


def adaptive_transfer(
    source: "tuple[Float[ArrayLike, 'Ps N0'], Float[ArrayLike, ' Ps']]",
    target: "tuple[Float[ArrayLike, 'Pt N0'], Float[ArrayLike, ' Pt']]",
    *,
    feature_strength: Float[ArrayLike, ""],
    coupling: Float[ArrayLike, ""],
    lambda0: Float[ArrayLike, ""] = 1.0,
    lambda1: Float[ArrayLike, ""] = 1.0,
    temperature: Float[ArrayLike, ""] = 0.0,
    activation: "str | Activation" = "erf",
    neurons: "int | None" = None,
    target_draws: "int | None" = None,
    reading: str = "quenched",
    key: "PRNGKeyArray | None" = None,
    throw: bool = True,
) -> AdaptiveTransferSolution:
    """Solve the adaptive transfer theory (module docstring; README.md in this folder, section 11.4).

    **Arguments:**
    - `source`, `target`: the tasks' training data (Xs (Ps, N0), ys (Ps,)), (Xt (Pt, N0), yt (Pt,)).
    - `feature_strength` (gamma0 >= 0), `lambda0`, `lambda1`, `temperature` (T >= 0, units of
      the loss; the ridge is lambda1 T), `activation`: as in `jaxtl.adaptive_kernel`, shared
      by both networks.
    - `coupling`: delta in [0, inf] (inf: the source's first layer, kept).
    - `neurons`: the source's Monte Carlo draws (None: exact for the identity activation,
      10 000 otherwise; see `jaxtl.adaptive_kernel`); `target_draws`: target draws per source
      draw (default 16), Monte Carlo only.
    - `reading`: "quenched" (default: the source sampled first, the target given it) or
      "joint" (both networks sampled together; `neurons` then counts draws of neuron pairs,
      and `target_draws` is unused).
    - `key`: random key of the draws (default `jax.random.key(0)`); `throw` as in `adaptive_kernel`.

    Works under `jax.jit`, `jax.vmap` and `jax.grad` (with respect to gamma0, delta, lambda0,
    lambda1, T and the data), by implicit differentiation through both solves.
    """
    (Xs, ys), (Xt, yt) = _checks.pair("source", source, "(Xs, ys)"), _checks.pair("target", target, "(Xt, yt)")
    Xs, ys, Xt, yt = (_checks.finite(n, v) for n, v in (("Xs", Xs), ("ys", ys), ("Xt", Xt), ("yt", yt)))
    _checks.inputs("Xs", Xs, "Ps")
    _checks.inputs("Xt", Xt, "Pt")
    _checks.shape("ys", ys, Xs.shape[:1], "(Ps,)")
    _checks.shape("yt", yt, Xt.shape[:1], "(Pt,)")
    _checks.shape("Xt", Xt, (Xt.shape[0], Xs.shape[1]), "(Pt, N0) with the source's N0")
    numbers = _numbers(feature_strength=feature_strength, lambda0=lambda0, lambda1=lambda1, temperature=temperature)
    delta = COUPLING.check(coupling)
    act = get_activation(activation)
    draws = TARGET_DRAWS if target_draws is None else _checks.count("target_draws", target_draws)
    reading = _checks.choice("reading", reading, READINGS)
    key = jax.random.key(0) if key is None else key
    key_source, key_target = jax.random.split(key)
    if reading == "joint":
        pairs = paired_weights(act, Xs.shape[1], numbers["lambda0"], delta, neurons, key_source)
        uncoupled = prior_weights(act, Xt.shape[1], numbers["lambda0"], neurons, key_target)
        return solve_joint_transfer(pairs, uncoupled, Xs, ys, Xt, yt, coupling=delta, **numbers, activation=act,
                                    throw=throw)
    src = solve_adaptive(prior_weights(act, Xs.shape[1], numbers["lambda0"], neurons, key_source), Xs, ys,
                         **numbers, activation=act, throw=False, fit_proposal=True)  # fmt: skip
    return solve_adaptive_target(src, Xt, yt, coupling=delta, target_draws=draws, key=key_target, throw=throw)


@eqx.filter_jit
def solve_adaptive_target(source: AdaptiveKernelSolution, Xt, yt, *, coupling, target_draws: int, key,
                          throw: bool) -> AdaptiveTransferSolution:  # fmt: skip
    """The coupled target (and its two references) given a solved source, on checked arguments."""
    numbers = dict(feature_strength=source.feature_strength, lambda0=source.lambda0, lambda1=source.lambda1,
                   temperature=source.temperature)  # fmt: skip

    def solve(coupling, informed=True):  # Monte Carlo: solved again on draws fitted to the first solve
        law = dict(coupling=coupling, target_draws=target_draws, key=key, informed=informed)
        first = solve_adaptive(target_weights(source, **law), Xt, yt, **numbers, activation=source.activation,
                               throw=False)  # fmt: skip
        if isinstance(source.weights, GaussianWeights):
            return first
        alpha = jnp.where(jnp.all(jnp.isfinite(first.coefficients)), first.coefficients, 0.0)
        return solve_adaptive(target_weights(source, **law, fit=(Xt, alpha, first.tilt)), Xt, yt, **numbers,
                              activation=source.activation, throw=False)  # fmt: skip

    uncoupled, prior_only, target = solve(0.0), solve(coupling, informed=False), solve(coupling)
    result = first_failure(source.result, [(uncoupled.converged, uncoupled.result),
                                           (prior_only.converged, prior_only.result),
                                           (target.converged, target.result)])  # fmt: skip
    result = RESULTS.where(source.converged, result, RESULTS.source_failed)
    if throw:
        target = eqx.tree_at(lambda s: s.coefficients, target,
                             raise_if_failed(target.coefficients, result, "jaxtl.adaptive_transfer"))  # fmt: skip
    steps = source.num_steps + uncoupled.num_steps + prior_only.num_steps + target.num_steps
    return AdaptiveTransferSolution(source=source, target=target, uncoupled=uncoupled, prior_only=prior_only,
                                    coupling=jnp.asarray(coupling, float), result=result, num_steps=steps)  # fmt: skip


def target_weights(source: AdaptiveKernelSolution, *, coupling, target_draws: int, key, informed: bool = True,
                   fit=None) -> Weights:  # fmt: skip
    """The target's untilted single-site law given the quenched source (module docstring):
    W_t = rho W_s + eps, eps ~ N(0, I/(lambda0 + delta)), with W_s from the source's tilted
    law (`informed`) or from its prior (not `informed`: the benefit's prior-only reference).

    `fit` = (Xt, alpha_t, g), a first solve of the target on these draws (Monte Carlo only):
    the noise eps = xi / sqrt(lambda0 + delta) of every draw is moved, in the span of the
    target inputs, to the tilted law's second moment of xi there (never below the identity),
    the draws weighted by the ratio of the two normal densities within their group
    (`_single_site.stretched`): the tilt is normalized in each group of `target_draws` draws,
    and the closer the proposal, the smaller that ratio estimate's bias."""
    lambda0, delta = source.lambda0, coupling
    frozen = jnp.isinf(delta)
    rho = jnp.where(frozen, 1.0, delta / (lambda0 + jnp.where(frozen, 0.0, delta)))
    noise = jnp.where(frozen, 0.0, 1 / (lambda0 + jnp.where(frozen, 0.0, delta)))
    g = source.tilt * informed
    if isinstance(source.weights, GaussianWeights):
        second_moment = tilted_second_moment(source.weights, source.inputs, source.coefficients, g)
        eye = jnp.eye(second_moment.shape[0])
        return GaussianWeights(mean_covariance=rho**2 * second_moment, noise_covariance=noise * eye)
    Ws = source.weights.samples[0]  # (M, N0): the source is one group
    group_weights = draw_weights(source.weights, source.inputs, source.coefficients, g)[0]
    xi = jax.random.normal(key, (Ws.shape[0], target_draws, Ws.shape[1]), Ws.dtype)
    base = jnp.repeat(source.weights.base_weights[0][:, None], target_draws, axis=1) / target_draws
    weights = SampledWeights(samples=rho * Ws[:, None, :] + jnp.sqrt(noise) * xi, group_weights=group_weights,
                             log_weights=jnp.zeros(xi.shape[:2]), base_weights=base,
                             prior_variance=rho**2 * source.weights.prior_variance + noise,
                             activation=source.activation)  # fmt: skip
    if fit is None:
        return weights
    Xt, alpha_t, g_t = fit
    moved, log_weights = stretched(xi, tilted_span(Xt.T), draw_weights(weights, Xt, alpha_t, g_t))
    return SampledWeights(samples=rho * Ws[:, None, :] + jnp.sqrt(noise) * moved, group_weights=group_weights,
                          log_weights=log_weights, base_weights=base * target_draws * jax.nn.softmax(log_weights, axis=1),
                          prior_variance=weights.prior_variance, activation=source.activation)  # fmt: skip


def paired_weights(activation: Activation, n0: int, lambda0, coupling, neurons, key) -> PairedWeights:
    """The joint reading's untilted law of a neuron pair (`_single_site.PairedWeights`): exact
    for the identity activation when `neurons` is None, else `neurons` draws of
    W_s ~ N(0, v I), W_t = rho W_s + N(0, I/(lambda0 + delta)), rho = delta/(lambda0 + delta)."""
    frozen = jnp.isinf(coupling)
    d = jnp.where(frozen, 0.0, coupling)
    v = jnp.where(frozen, 1 / (2 * lambda0), (lambda0 + d) / (lambda0 * (lambda0 + 2 * d)))
    c = jnp.where(frozen, 1 / (2 * lambda0), d / (lambda0 * (lambda0 + 2 * d)))
    if neurons is None and isinstance(activation, Identity):
        return PairedWeights(variance=v, covariance=c, samples=None, log_weights=None, activation=activation)
    neurons = NEURONS if neurons is None else _checks.count("neurons", neurons)
    xi = jax.random.normal(key, (neurons, 2, n0))
    Ws = jnp.sqrt(v) * xi[:, 0]
    rho, noise_scale = jnp.where(frozen, 1.0, d / (lambda0 + d)), jnp.where(frozen, 0.0, 1 / jnp.sqrt(lambda0 + d))
    return PairedWeights(variance=v, covariance=c, samples=jnp.stack([Ws, rho * Ws + noise_scale * xi[:, 1]], axis=1),
                         log_weights=jnp.zeros(neurons), activation=activation)  # fmt: skip


@eqx.filter_jit
def solve_joint_transfer(pairs: PairedWeights, uncoupled: Weights, Xs, ys, Xt, yt, *, coupling, feature_strength, lambda0,
                         lambda1, temperature, activation: Activation, throw: bool) -> AdaptiveTransferSolution:  # fmt: skip
    """The joint reading on checked arguments: one stationary point of the pair's potential in
    (alpha_s, alpha_t), each network's solution on its law given the other's tilt
    (`_single_site.marginal`), and the references: the target alone on `uncoupled` (its
    untilted law at delta = 0, solved as `jaxtl.adaptive_kernel` is) and the target of a pair
    whose source learned nothing."""
    numbers = dict(feature_strength=feature_strength, lambda0=lambda0, lambda1=lambda1, temperature=temperature)
    g, r = feature_strength**2 * lambda1, lambda1 * temperature
    X, y = (Xs, Xt), jnp.concatenate([ys, yt])
    if pairs.samples is not None:  # Monte Carlo: draws moved to proposals fitted to earlier solves
        pairs = refitted(pairs, fitted_pair_proposal, X, y, g, r)
    alpha, result, steps, kernel, ess, error = stationary_coefficients(pairs, X, y, g, r)
    n_s = ys.size
    common = dict(effective_samples=ess, monte_carlo_error=error, result=result, num_steps=steps, **numbers, activation=activation)
    source, target = (
        AdaptiveKernelSolution(coefficients=a, kernel=K, weights=marginal(pairs, X, alpha, g, side), inputs=Xb,
                               labels=yb, **common)  # fmt: skip
        for side, a, K, Xb, yb in ((0, alpha[:n_s], kernel[:n_s, :n_s], Xs, ys), (1, alpha[n_s:], kernel[n_s:, n_s:], Xt, yt))
    )
    solve = lambda weights: solve_adaptive(weights, Xt, yt, **numbers, activation=activation, throw=False)  # noqa: E731
    reference = solve_adaptive(uncoupled, Xt, yt, **numbers, activation=activation, throw=False, fit_proposal=True)
    prior_only = solve(marginal(pairs, X, jnp.zeros_like(alpha), g, 1))
    result = first_failure(result, [(reference.converged, reference.result), (prior_only.converged, prior_only.result)])
    if throw:
        target = eqx.tree_at(lambda s: s.coefficients, target,
                             raise_if_failed(target.coefficients, result, "jaxtl.adaptive_transfer"))  # fmt: skip
    return AdaptiveTransferSolution(source=source, target=target, uncoupled=reference, prior_only=prior_only,
                                    coupling=jnp.asarray(coupling, float), result=result,
                                    num_steps=steps + reference.num_steps + prior_only.num_steps, reading="joint")  # fmt: skip


COUPLING = Number("coupling", "[0, inf]", "elastic coupling δ of the first layers (inf: the source's, kept)")


def _target_draws(value):
    return TARGET_DRAWS if value is None else _checks.count("target_draws", value)


class AdaptiveTransfer(Theory):
    """The adaptive transfer theory as a `jaxtl.theory.Theory`: source (Xs, ys), target
    (Xt, yt), tested on (X0, y0). In the quenched reading the source's solve is shared by the
    points of a sweep that change only the coupling (in the joint reading the source depends
    on the coupling). Outputs: test_error, benefit and its split, the kernels' alignments."""

    name = "adaptive_transfer"
    parameters = (*ADAPTIVE_NUMBERS, COUPLING, *ADAPTIVE_OPTIONS,
                  Option("target_draws", "Monte Carlo target draws per source draw (quenched)", TARGET_DRAWS,
                         _target_draws),
                  Option("reading", "how the networks are sampled: 'quenched' (source first) or 'joint'", "quenched",
                         lambda value: _checks.choice("reading", value, READINGS)))  # fmt: skip
    outputs = (
        Output("test_error", "target test error at the coupling δ", "labels^2", "lower"),
        Output("benefit", "test error at δ = 0 minus at δ (> 0: transfer helps)", "labels^2", "higher"),
        Output("benefit_prior", "benefit of a source that learned nothing (a changed prior)", "labels^2"),
        Output("benefit_source", "benefit carried by the source's adapted features", "labels^2"),
        Output("alignment", "kernel-target alignment of the transferred kernel Φ_t", "1"),
        Output("source_alignment", "kernel-target alignment of the source's kernel Φ_s", "1"),
    )
    objective = "test_error"

    def shared(self, pair, parameters) -> "AdaptiveKernelSolution | None":
        p = parameters
        if p["reading"] == "joint":
            return None
        key = jax.random.split(jax.random.key(p["seed"]))[0]
        weights = prior_weights(p["activation"], pair.Xs.shape[1], p["lambda0"], p["neurons"], key)
        return solve_adaptive(weights, pair.Xs, pair.ys, **{n.name: p[n.name] for n in ADAPTIVE_NUMBERS},
                              activation=p["activation"], throw=False, fit_proposal=True)  # fmt: skip

    def evaluate(self, pair, parameters, shared: "AdaptiveKernelSolution | None") -> Evaluation:
        p = parameters
        key_source, key_target = jax.random.split(jax.random.key(p["seed"]))
        if p["reading"] == "joint":
            n0, act = pair.Xs.shape[1], p["activation"]
            sol = solve_joint_transfer(paired_weights(act, n0, p["lambda0"], p["coupling"], p["neurons"], key_source),
                                       prior_weights(act, n0, p["lambda0"], p["neurons"], key_target),
                                       pair.Xs, pair.ys, pair.Xt, pair.yt, coupling=p["coupling"],
                                       **{n.name: p[n.name] for n in ADAPTIVE_NUMBERS}, activation=act, throw=False)  # fmt: skip
        else:
            sol = solve_adaptive_target(shared, pair.Xt, pair.yt, coupling=p["coupling"],
                                        target_draws=p["target_draws"], key=key_target, throw=False)  # fmt: skip
        benefit = sol.benefit(pair.X0, pair.y0)
        values = dict(test_error=sol.test_error(pair.X0, pair.y0).total, benefit=benefit.total,
                      benefit_prior=benefit.prior, benefit_source=benefit.source, alignment=sol.target.alignment,
                      source_alignment=sol.source.alignment)  # fmt: skip
        return Evaluation(values, sol.result, sol.num_steps)
