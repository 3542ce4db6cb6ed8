"""The adaptive kernel of an infinite-width network in the mean-field parametrization
(README.md in this folder, section 11): the single-task theory of feature learning.

f(x) = (1/(gamma0 N)) sum_i w_i phi(W_i . x / sqrt(N0)), posterior
exp(-(N gamma0^2 / (2T)) sum_mu (f(x_mu) - y_mu)^2 - lambda0/2 |W|^2 - lambda1/2 |w|^2), N -> inf.
With g = gamma0^2 lambda1 and the ridge r = lambda1 T, the feature kernel
Phi = <phi(h) phi(h)^T> is an average over one neuron's preactivations h = X W / sqrt(N0)
under its prior N(0, I/lambda0) tilted by exp((g/2) (alpha . phi(h))^2), and
alpha = (Phi + r I)^{-1} y, the stationary point of the convex potential of `_single_site`.
The conjugate kernel is Phi_hat = -(g/2) alpha alpha^T; the predictor f(x0) = Phi(x0, X) alpha.
gamma0 = 0 is the NNGP kernel (kernel regression); identity activation is solved exactly,
others by Monte Carlo over `neurons` weight draws.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, Int, PRNGKeyArray

from .. import _checks
from ._activation import Activation, Identity, get_activation
from ._linalg import positive_definite, solve
from ._protocol import Evaluation, Number, Option, Output, Theory
from ._result import Prediction, TheorySolution
from ._single_site import (
    GaussianWeights,
    PairedWeights,
    SampledWeights,
    Weights,
    coefficients,
    coordinates,
    draw_weights,
    effective_samples,
    fitted_proposal,
    gradient_and_hessian,
    into_domain,
    monte_carlo_error,
    preactivation_histogram,
    sites,
    stationarity,
    tilted_kernel,
)
from ._solve import RESULTS, first_failure, raise_if_failed, stationary_point

NEURONS = 10_000
"""Monte Carlo weight draws of a single-task solve when `neurons` is not given."""

_JITTER = 1e-10  # Phi itself must be PSD (a second moment): Cholesky of Phi + 1e-10 mean(diag Phi) I

MIN_EFFECTIVE_SAMPLES = 100
"""A Monte Carlo solve fails (`RESULTS.samples_collapsed`) where the importance weights'
effective sample size falls below this, or below P."""

MAX_MONTE_CARLO_ERROR = 0.1
"""A Monte Carlo solve fails (`RESULTS.monte_carlo_unresolved`) where the two halves of the
draws disagree on the stationarity equation by more than this (`monte_carlo_error`: the
standard error of Phi alpha relative to |y|)."""

FIT_ROUNDS = 2
"""Proposal fits of a single-task Monte Carlo solve: the prior's draws are solved, moved to a
Gaussian fitted to that solution, solved again, and so on, `FIT_ROUNDS` times before the
solve that is kept."""


class AdaptiveKernelSolution(TheorySolution):
    """The solved adaptive-kernel theory of one task (module docstring).

    **Attributes:**
    - `coefficients`: alpha = (Phi + lambda1 T I)^{-1} y, shape (P,): the predictor's
      coefficients and the direction of the tilt.
    - `kernel`: the adapted feature kernel Phi on the training inputs, (P, P) (dimensionless:
      a mean of phi(h) phi(h)^T over neurons).
    - `effective_samples`: Kish's effective sample size of the Monte Carlo weights at the
      solution (inf when solved exactly); the solve fails below max(P, 100).
    - `monte_carlo_error`: the standard error of Phi alpha relative to |y| at the solution, from
      two halves of the draws (`_single_site.monte_carlo_error`; 0 when solved exactly); the
      solve fails above 0.1.
    - `result`, `num_steps`, `converged`: how the solve ended (`jaxtl.RESULTS`); converged means
      a stationary point with Phi + lambda1 T I positive definite, enough effective samples and
      a resolved Monte Carlo estimate.
    - `feature_strength` (gamma0), `lambda0`, `lambda1`, `temperature` (T, units of the loss
      1/2 sum (y - f)^2), `activation`.
    - `weights`: the untilted single-site law (`GaussianWeights` or `SampledWeights`).
    - `inputs` (P, N0), `labels` (P,): the training data.
    """

    coefficients: Float[Array, " P"]
    kernel: Float[Array, "P P"]
    effective_samples: Float[Array, ""]
    monte_carlo_error: Float[Array, ""]
    result: RESULTS
    num_steps: Int[Array, ""]
    feature_strength: Float[Array, ""]
    lambda0: Float[Array, ""]
    lambda1: Float[Array, ""]
    temperature: Float[Array, ""]
    activation: Activation
    weights: Weights
    inputs: Float[Array, "P N0"]
    labels: Float[Array, " P"]
    _shown = ("converged", "result", "alignment", "effective_samples", "monte_carlo_error", "feature_strength", "lambda0", "lambda1",
              "temperature", "activation")  # fmt: skip

    @property
    def tilt(self) -> Float[Array, ""]:
        """g = gamma0^2 lambda1, the strength of the labels' tilt of a neuron."""
        return self.feature_strength**2 * self.lambda1

    @property
    def conjugate(self) -> Float[Array, "P P"]:
        """The conjugate kernel Phi_hat = -(g/2) alpha alpha^T, (P, P)."""
        return -0.5 * self.tilt * jnp.outer(self.coefficients, self.coefficients)

    @property
    def alignment(self) -> Float[Array, ""]:
        """Kernel-target alignment y^T Phi y / (|Phi|_F |y|^2), in [0, 1] for a PSD kernel."""
        y = self.labels
        return y @ self.kernel @ y / (jnp.linalg.norm(self.kernel) * (y @ y))

    def feature_kernel(self, X1: Float[ArrayLike, "P1 N0"], X2: Float[ArrayLike, "P2 N0"]) -> Float[Array, "P1 P2"]:
        """The adapted kernel Phi(x1, x2) between any two sets of inputs (NaN unless converged)."""
        X1, X2 = (self._inputs(n, X) for n, X in (("X1", X1), ("X2", X2)))
        K = tilted_kernel(self.weights, self.inputs, self.coefficients, self.tilt, X1, X2)
        return jnp.where(self.converged, K, jnp.nan)

    def preactivation_histogram(self, x0: Float[ArrayLike, " N0"], edges: Float[ArrayLike, " B1"]) -> Float[Array, " B"]:
        """The law of one hidden neuron's preactivation h = W . x0 / sqrt(N0) at the input `x0`
        (N0,): the probability of each bin [edges[k], edges[k+1]) of the B + 1 increasing
        `edges` (mass outside them is left out), (B,), NaN unless converged. Exact (Gaussian)
        for the identity activation, a weighted histogram of the draws for Monte Carlo; the
        counterpart of the `preactivations` of `jaxtl.nets.sample_mean_field`."""
        x0 = self._inputs("x0", jnp.atleast_2d(x0))[0]
        edges = _checks.finite("edges", edges)
        if edges.ndim != 1 or edges.size < 2 or not bool(jnp.all(jnp.diff(edges) > 0)):
            raise ValueError(f"edges must be at least two increasing bin edges, got {edges}")
        mass = preactivation_histogram(self.weights, self.inputs, self.coefficients, self.tilt, x0, edges)
        return jnp.where(self.converged, mass, jnp.nan)

    def predict(self, X0: Float[ArrayLike, "P0 N0"]) -> Prediction:
        """f(x0) = Phi(x0, X) alpha (variance 0: at infinite width the predictor is deterministic)."""
        mean = self.feature_kernel(X0, self.inputs) @ self.coefficients
        return Prediction(mean, jnp.zeros_like(mean)).only_if(self.converged)

    def _inputs(self, name, X):
        X = _checks.finite(name, X)
        _checks.shape(name, X, (X.shape[0] if X.ndim else 0, self.inputs.shape[1]), f"({name[1:]} rows, N0)")
        return X


def adaptive_kernel(
    X: Float[ArrayLike, "P N0"],
    y: Float[ArrayLike, " P"],
    *,
    feature_strength: Float[ArrayLike, ""],
    lambda0: Float[ArrayLike, ""] = 1.0,
    lambda1: Float[ArrayLike, ""] = 1.0,
    temperature: Float[ArrayLike, ""] = 0.0,
    activation: "str | Activation" = "erf",
    neurons: "int | None" = None,
    key: "PRNGKeyArray | None" = None,
    throw: bool = True,
) -> AdaptiveKernelSolution:
    """Solve the adaptive-kernel theory of one task (module docstring; README.md in this
    folder, section 11).

    **Arguments:**
    - `X`: training inputs (P, N0); `y`: labels (P,).
    - `feature_strength`: gamma0 >= 0 (0: the lazy NNGP limit).
    - `lambda0`, `lambda1`: prior precisions of the first layer and the readout (> 0).
    - `temperature`: T >= 0 in units of the loss 1/2 sum (y - f)^2; the kernel's ridge is
      lambda1 T (T = 0 interpolates, and needs Phi positive definite).
    - `activation`: "erf", "tanh", "identity", "sign" or a `jaxtl.kernels.Activation`.
    - `neurons`: Monte Carlo weight draws (>= 1). None: exact Gaussian expectations for the
      identity activation, 10 000 draws otherwise; an integer forces Monte Carlo (also for
      the identity, to check it).
    - `key`: the draws' random key (default `jax.random.key(0)`): common random numbers, so
      the solution is a deterministic, differentiable function of everything else.
    - `throw`: raise if the solve fails (default); with False the outcome is in `.result`.

    Works under `jax.jit`, `jax.vmap` and `jax.grad` (implicit differentiation at the
    stationary point, with respect to gamma0, lambda0, lambda1, T, X and y).
    """
    X, y = _checks.finite("X", X), _checks.finite("y", y)
    _checks.inputs("X", X)
    _checks.shape("y", y, X.shape[:1], "(P,)")
    numbers = _numbers(feature_strength=feature_strength, lambda0=lambda0, lambda1=lambda1, temperature=temperature)
    act = get_activation(activation)
    weights = prior_weights(act, X.shape[1], numbers["lambda0"], neurons, key)
    return solve_adaptive(weights, X, y, **numbers, activation=act, throw=throw, fit_proposal=True)


def _numbers(**values):
    """The adaptive theories' numbers, checked (`ADAPTIVE_NUMBERS`)."""
    return {p.name: p.check(values[p.name]) for p in ADAPTIVE_NUMBERS if p.name in values}


def prior_weights(activation: Activation, n0: int, lambda0, neurons, key, groups: int = 1) -> Weights:
    """The untilted law N(0, I/lambda0) of a neuron's weights: exact for the identity
    activation when `neurons` is None, else `neurons` draws (in `groups` groups of equal size)."""
    if neurons is None and isinstance(activation, Identity):
        eye = jnp.eye(n0)
        return GaussianWeights(mean_covariance=0 * eye, noise_covariance=eye / lambda0)
    neurons = NEURONS if neurons is None else _checks.count("neurons", neurons)
    key = jax.random.key(0) if key is None else key
    xi = jax.random.normal(key, (groups, neurons, n0))
    return SampledWeights(samples=xi / jnp.sqrt(lambda0), group_weights=jnp.ones(groups) / groups,
                          log_weights=jnp.zeros((groups, neurons)),
                          base_weights=jnp.full((groups, neurons), 1 / (groups * neurons)),
                          prior_variance=1 / lambda0, activation=activation)  # fmt: skip


@eqx.filter_jit
def solve_adaptive(weights: Weights, X, y, *, feature_strength, lambda0, lambda1, temperature,
                   activation: Activation, throw: bool, fit_proposal: bool = False) -> AdaptiveKernelSolution:  # fmt: skip
    """`adaptive_kernel` on checked arguments and a given untilted law `weights` (also the
    target of the adaptive transfer theory, whose law depends on the source). `fit_proposal`
    (for prior draws of one group): solve with the prior's draws, move them to a Gaussian
    proposal fitted to that solution's tilted law (`_single_site.fitted_proposal`), solve
    again, refit (`FIT_ROUNDS` fits in all), and keep the last solve: far more effective
    samples where the tilt is strong."""
    g, r = feature_strength**2 * lambda1, lambda1 * temperature
    if fit_proposal and isinstance(weights, SampledWeights):
        weights = refitted(weights, fitted_proposal, X, y, g, r)
    alpha, result, steps, kernel, ess, error = stationary_coefficients(weights, X, y, g, r)
    if throw:
        alpha = raise_if_failed(alpha, result, "jaxtl.adaptive_kernel")
    return AdaptiveKernelSolution(
        coefficients=alpha, kernel=kernel, effective_samples=ess, monte_carlo_error=error, result=result, num_steps=steps,
        feature_strength=feature_strength, lambda0=lambda0, lambda1=lambda1, temperature=temperature,
        activation=activation, weights=weights, inputs=X, labels=y,
    )  # fmt: skip


def refitted(weights: "SampledWeights | PairedWeights", fit, X, y, g, r) -> "SampledWeights | PairedWeights":
    """The prior's draws `weights` moved to a proposal refitted `FIT_ROUNDS` times: solve on the
    current draws, then `fit`(weights, current, X, alpha, g) (`_single_site.fitted_proposal` or
    `fitted_pair_proposal`) moves the prior's draws to a Gaussian fitted to that solution."""
    current = weights
    for _ in range(FIT_ROUNDS):
        alpha = stationary_coefficients(current, X, y, g, r)[0]
        current = fit(weights, current, X, jnp.where(jnp.all(jnp.isfinite(alpha)), alpha, 0.0), g)
    return current


def stationary_coefficients(weights: "Weights | PairedWeights", X, y, g, r):
    """alpha solving (Phi(alpha) + r I) alpha = y for the law `weights` tilted on X, with its
    outcome, steps, the kernel Phi on X, the effective sample size (inf if exact) and the
    Monte Carlo error (`_single_site.monte_carlo_error`; 0 if exact). For a
    pair of networks (`PairedWeights`), X is the pair (Xs, Xt), y and alpha hold both tasks'
    (Ps + Pt), and Phi both networks' kernels and their cross kernel.

    Start: alpha_0 = (Phi_0 + r I)^{-1} y / tau, the untilted solution scaled by
    tau = (1 + sqrt(1 + 4 g a_0)) / 2, a_0 = y^T (Phi_0 + r I)^{-1} y (per network): the exact
    solution for the identity activation at T = 0, and inside the domain g alpha^T Sigma alpha < 1
    always (for a pair, scaled into its domain if need be). The solver's coordinates are
    `_single_site.coordinates` (for the exact law, a map of R^P onto that domain).
    """
    args = (sites(weights, X), y, g, r)
    E = args[0].blocks if args[0].blocks is not None else jnp.ones((y.size, 1))
    ridge = r * jnp.eye(y.size)
    K0 = gradient_and_hessian(jnp.zeros_like(y), args)[1] - ridge  # at alpha = 0 the Hessian is the untilted kernel
    start = jax.lax.stop_gradient(solve(K0 + ridge, y))
    tau = (1 + jnp.sqrt(1 + 4 * g * ((y * start) @ E))) / 2
    beta0 = jax.lax.stop_gradient(coordinates(into_domain(start / (E @ tau), args), args))
    stationary = stationary_point(stationarity, beta0, args)
    alpha = coefficients(stationary.value, args)
    kernel = tilted_kernel(weights, X, alpha, g, X, X)
    if args[0].exact:
        ess, error = jnp.asarray(jnp.inf), jnp.asarray(0.0)
    else:
        ess = effective_samples(draw_weights(weights, X, alpha, g))
        error = monte_carlo_error(weights, X, alpha, y, g, r)
    # collapsed weights first: they are also why a Monte Carlo kernel can fail to be positive definite
    result = first_failure(stationary.result, [(ess >= max(MIN_EFFECTIVE_SAMPLES, y.size), RESULTS.samples_collapsed),
                                               (error <= MAX_MONTE_CARLO_ERROR, RESULTS.monte_carlo_unresolved),
                                               (positive_definite(kernel + ridge) & positive_definite(kernel + _JITTER * jnp.trace(kernel) / y.size * jnp.eye(y.size)),
                                                RESULTS.kernel_not_pd)])  # fmt: skip
    return alpha, result, stationary.num_steps, kernel, ess, error


FEATURE_STRENGTH = Number("feature_strength", "[0, inf)", "feature-learning strength γ0 (0: the lazy NNGP limit)")
ADAPTIVE_NUMBERS = (
    FEATURE_STRENGTH,
    Number("lambda0", "(0, inf)", "first-layer prior precision λ0", 1.0),
    Number("lambda1", "(0, inf)", "readout prior precision λ1", 1.0),
    Number("temperature", "[0, inf)", "temperature T (units of the loss 1/2 sum (y - f)^2); ridge λ1 T", 0.0),
)


def _neurons(value):
    return None if value in (None, "auto") else _checks.count("neurons", value)


def _seed(value):
    return _checks.count("seed", value, minimum=0)


ADAPTIVE_OPTIONS = (
    Option("activation", "activation phi of the hidden units (erf, tanh, identity, sign)", "erf", get_activation),
    Option("neurons", "Monte Carlo draws of a neuron's law ('auto': exact for identity, 10 000 otherwise)", "auto",
           _neurons),
    Option("seed", "seed of the Monte Carlo draws (common random numbers)", 0, _seed),
)


class AdaptiveKernel(Theory):
    """The adaptive-kernel theory of one task as a `jaxtl.theory.Theory`, on the target side
    of a task pair: trained on (Xt, yt), tested on (X0, y0) (the coupling 0 of the adaptive
    transfer theory). Outputs: test_error, alignment, effective_samples."""

    name = "adaptive_kernel"
    parameters = (*ADAPTIVE_NUMBERS, *ADAPTIVE_OPTIONS)
    outputs = (
        Output("test_error", "test error (the predictor is deterministic at infinite width)", "labels^2", "lower"),
        Output("alignment", "kernel-target alignment of the adapted kernel Φ on the training set", "1", "higher"),
        Output("effective_samples", "effective sample size of the Monte Carlo draws (inf: exact)", "1"),
        Output("monte_carlo_error", "Monte Carlo standard error of Φα relative to |y| (0: exact)", "1"),
    )
    objective = "test_error"

    def evaluate(self, pair, parameters, shared) -> Evaluation:
        p = parameters
        weights = prior_weights(p["activation"], pair.Xt.shape[1], p["lambda0"], p["neurons"], jax.random.key(p["seed"]))
        sol = solve_adaptive(weights, pair.Xt, pair.yt, **{n.name: p[n.name] for n in ADAPTIVE_NUMBERS},
                             activation=p["activation"], throw=False, fit_proposal=True)  # fmt: skip
        values = dict(test_error=sol.test_error(pair.X0, pair.y0).total, alignment=sol.alignment,
                      effective_samples=sol.effective_samples, monte_carlo_error=sol.monte_carlo_error)  # fmt: skip
        return Evaluation(values, sol.result, sol.num_steps)
