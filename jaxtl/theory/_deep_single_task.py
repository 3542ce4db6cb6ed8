"""Deep (L-layer) single-task kernel renormalization (README.md in this folder, section 12).

An L-hidden-layer network of widths N_1, ..., N_L, first-layer prior precision lambda0 and
layer l's lambda_l, in the proportional limit. With C0 = X X^T / (lambda0 N0) and kappa the
activation's Gaussian kernel map (elementwise on a covariance), the order parameters
Q = (Q_1, ..., Q_L) are a minimum of

    F(Q) = sum_l N_l (Q_l - log Q_l) + log det(T I + K_R(Q)) + y^T (T I + K_R(Q))^{-1} y,

with one of three renormalized kernels K_R (`action`):

- "nested": K^(0) = C0, K^(l) = (Q_l / lambda_l) kappa(K^(l-1)), K_R = K^(L): each layer's
  renormalized covariance enters the next layer's kernel map;
- "vanilla": K_R = (prod_l Q_l) K_NNGP^(L), the deep NNGP kernel (the same recursion at Q = 1)
  rescaled by the product: after one eigendecomposition every evaluation is O(P);
- "full": the nested kernel linearized in each inner layer's Q around 1 (as in public
  kernel-renormalization code). With g_l(c) = kappa(c) / lambda_l, built from the readout side
  inwards: f_L(c) = Q_L g_L(c), and for l = L - 1, ..., 1, with k = g_l(c),
      f_l(c) = f_(l+1)(k) + (Q_l - 1) d/ds f_(l+1)(s k)|_(s=1),
  the derivative along k itself, over every entry (variances included); K_R = f_1(C0). It
  agrees with "nested" to first order in every (Q_l - 1).

At L = 1 all three are the single-task action (times N1); for the identity activation they
coincide.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, Int

from .. import _checks
from ._activation import Activation, get_activation
from ._linalg import eigh, positive_definite
from ._protocol import Evaluation, Number, Option, Output, Theory
from ._result import Prediction, TheorySolution
from ._single_task import ACTIVATION, ERROR_OUTPUTS, LAMBDA0, TEMPERATURE
from ._solve import RESULTS, first_failure, raise_if_failed, stationary_point

ACTIONS = ("nested", "vanilla", "full")
"""The deep actions offered (module docstring)."""


class DeepState(eqx.Module):
    """What F depends on besides Q (the solver's `args`; implicit differentiation reaches every
    field). Nested and full: `covariance` C0 (P, P) and `labels` y; vanilla: `eigenvalues` of
    K_NNGP^(L) and `labels` U^T y in its eigenbasis. Both: `temperature` T, `widths` (L,),
    `lambdas` (lambda_1, ..., lambda_L), `activation`, `action`."""

    labels: Float[Array, " P"]
    temperature: Float[Array, ""]
    widths: Float[Array, " L"]
    lambdas: Float[Array, " L"]
    activation: Activation
    action: str = eqx.field(static=True)
    covariance: "Float[Array, 'P P'] | None" = None
    eigenvalues: "Float[Array, ' P'] | None" = None


def propagate(d1, d2, c12, scales, activation: Activation):
    """The layer recursion on two sets of points: their variances d1 (P1,), d2 (P2,) and
    covariance c12 (P1, P2) mapped by c <- scale_l kappa(c), l = 1, ..., L."""
    for l in range(scales.shape[0]):
        c12 = scales[l] * activation.kernel(d1[:, None], d2[None, :], c12)
        d1, d2 = (scales[l] * activation.kernel(d, d, d) for d in (d1, d2))
    return d1, d2, c12


Triple = tuple[Float[Array, " P1"], Float[Array, " P2"], Float[Array, "P1 P2"]]
"""(variances of the first set of points, of the second, their covariance)."""


def linearized_propagate(d1, d2, c12, Q: Float[Array, " L"], lambdas: Float[Array, " L"],
                         activation: Activation) -> Triple:  # fmt: skip
    """The "full" action's K_R on two sets of points (module docstring): f_1 of the triple
    (d1, d2, c12), with f_L = Q_L g_L and f_l(t) = f_(l+1)(k) + (Q_l - 1) d/ds f_(l+1)(s k)|_(s=1),
    k = g_l(t), g_l(t) = kappa(t) / lambda_l the layer map of `propagate`."""
    f = lambda t: _scaled(Q[-1], propagate(*t, 1 / lambdas[-1:], activation))  # noqa: E731
    for l in reversed(range(Q.shape[0] - 1)):
        f = _linearized_layer(f, Q[l], 1 / lambdas[l : l + 1], activation)
    return f((d1, d2, c12))


def _linearized_layer(f, Q_l, scale: Float[Array, " 1"], activation: Activation):
    """t -> f(k) + (Q_l - 1) (d/ds) f(s k) at s = 1, k = scale kappa(t): layer l's order
    parameter entering the outer map f to first order in the scale of its argument."""

    def linearized(t: Triple) -> Triple:
        k = propagate(*t, scale, activation)
        value, slope = jax.jvp(f, (k,), (k,))
        return tuple(v + (Q_l - 1) * s for v, s in zip(value, slope))

    return linearized


def _scaled(s, t: Triple) -> Triple:
    return tuple(s * x for x in t)


def _renormalized(d1, d2, c12, Q, lambdas, activation: Activation, action: str) -> Triple:
    """K_R of the nested or full action on two sets of points (module docstring)."""
    if action == "full":
        return linearized_propagate(d1, d2, c12, Q, lambdas, activation)
    return propagate(d1, d2, c12, Q / lambdas, activation)


def _action(log_Q, state: DeepState):
    """F of the module docstring as a function of u = log Q (L,)."""
    Q = jnp.exp(log_Q)
    prior = jnp.sum(state.widths * (Q - log_Q))
    if state.action == "vanilla":
        a = state.temperature + jnp.prod(Q) * state.eigenvalues
        return prior + jnp.sum(jnp.log(a) + state.labels**2 / a)
    C = state.covariance
    d = jnp.diag(C)
    K = _renormalized(d, d, C, Q, state.lambdas, state.activation, state.action)[2]
    chol = jnp.linalg.cholesky(state.temperature * jnp.eye(C.shape[0]) + K)
    z = jax.scipy.linalg.solve_triangular(chol, state.labels, lower=True)
    return prior + 2 * jnp.sum(jnp.log(jnp.diag(chol))) + z @ z


def _gradient_and_hessian(log_Q, state: DeepState):
    return jax.grad(_action)(log_Q, state), jax.hessian(_action)(log_Q, state)


def _kernel_is_physical(log_Q, state: DeepState):
    """Whether K_R(Q) on the training inputs is positive semidefinite (to a jitter of 1e-10 of
    its mean diagonal): always so for the nested and vanilla actions, not for the linearized
    "full" one far from Q = 1, whose K_R is then no covariance."""
    if state.action != "full":
        return jnp.asarray(True)
    C = state.covariance
    d = jnp.diag(C)
    K = linearized_propagate(d, d, C, jnp.exp(log_Q), state.lambdas, state.activation)[2]
    return positive_definite(K + 1e-10 * jnp.trace(K) / K.shape[0] * jnp.eye(K.shape[0]))


def _lowest_on_diagonal(state: DeepState):
    """The point u = (t, ..., t), t in -8, -7, ..., 8, where F is lowest (the start)."""
    L = state.widths.shape[0]
    values = jax.lax.map(lambda t: _action(jnp.full(L, t), state), jnp.arange(-8.0, 9.0))
    values = jnp.where(jnp.isfinite(values), values, jnp.inf)
    return jnp.full(L, jnp.arange(-8.0, 9.0)[jnp.argmin(values)])


class DeepSingleTaskSolution(TheorySolution):
    """The solved deep single-task theory (module docstring).

    **Attributes:**
    - `Q`: the order parameters (Q_1, ..., Q_L), shape (L,), dimensionless (1: the NNGP limit).
      Q_L's network counterpart is the readout norm lambda_L |v|^2 / N_L.
    - `result`, `num_steps`, `converged`: how the solve ended (`jaxtl.RESULTS`); converged
      means a stationary point of F that is a minimum (its L x L Hessian in log Q positive
      definite), with Q > 0 by construction.
    - `widths` (N_1, ..., N_L), `temperature` (T, units of the loss 1/2 sum (y - f)^2),
      `lambdas` (lambda0, ..., lambda_L), `activation`, `action`.
    - `inputs` (P, N0), `labels` (P,): the training data.
    - `norms` (property): the predicted weight norm of every layer, shape (L + 1,).
    """

    Q: Float[Array, " L"]
    result: RESULTS
    num_steps: Int[Array, ""]
    widths: Float[Array, " L"]
    temperature: Float[Array, ""]
    lambdas: Float[Array, " L1"]
    activation: Activation
    action: str = eqx.field(static=True)
    inputs: Float[Array, "P N0"]
    labels: Float[Array, " P"]
    _shown = ("Q", "converged", "result", "action", "widths", "temperature", "lambdas", "activation")

    def renormalized_kernel(self, X1: Float[ArrayLike, "P1 N0"], X2: Float[ArrayLike, "P2 N0"]):
        """K_R between two sets of inputs: (variances of X1 (P1,), of X2 (P2,), K_R(X1, X2) (P1, P2))."""
        n0, lambda0 = self.inputs.shape[1], self.lambdas[0]
        d1, d2 = (jnp.sum(X * X, axis=1) / (lambda0 * n0) for X in (X1, X2))
        c12 = X1 @ X2.T / (lambda0 * n0)
        if self.action == "vanilla":
            return _scaled(jnp.prod(self.Q), propagate(d1, d2, c12, 1 / self.lambdas[1:], self.activation))
        return _renormalized(d1, d2, c12, self.Q, self.lambdas[1:], self.activation, self.action)

    @property
    def norms(self) -> Float[Array, " L1"]:
        """The weight norms of the L + 1 layers the theory predicts, shape (L + 1,), dimensionless:
        for the weights M_l of prior precision lambda_l reading a layer of width N_l (M_0 = W_1
        reading the N0 inputs, M_l = W_(l+1), M_L = v), with n_l entries,
        1 + (lambda_l <|M_l|^2> - n_l) / N_l = 1 + (lambda_l / N_l) dF/dlambda_l at the minimum
        (README.md in this folder, section 12.1). 1 under the prior; the last is Q_L, and with
        the nested action every l >= 1 is Q_l. The networks' counterpart is
        `jaxtl.nets.DeepSamples.norms`."""
        return _norms(self)

    def predict(self, X0: Float[ArrayLike, "P0 N0"]) -> Prediction:
        """Posterior mean and variance of f(x0): a GP with kernel K_R and noise T,
        mean = K_R(x0, X)(K_R + T I)^{-1} y, variance = K_R(x0, x0) - K_R(x0, X)(K_R + T I)^{-1} K_R(X, x0)."""
        X0 = _checks.finite("X0", X0)
        _checks.shape("X0", X0, (X0.shape[0], self.inputs.shape[1]), "(P0, N0)")
        return _predict(self, X0).only_if(self.converged)


@eqx.filter_jit
def _predict(sol: DeepSingleTaskSolution, X0) -> Prediction:
    X = sol.inputs
    K = sol.renormalized_kernel(X, X)[2]
    d0, _, K0 = sol.renormalized_kernel(X0, X)
    chol = jnp.linalg.cholesky(K + sol.temperature * jnp.eye(X.shape[0]))
    solve = lambda b: jax.scipy.linalg.cho_solve((chol, True), b)  # noqa: E731
    return Prediction(K0 @ solve(sol.labels), d0 - jnp.sum(K0 * solve(K0.T).T, axis=1))


def single_task(
    X: Float[ArrayLike, "P N0"],
    y: Float[ArrayLike, " P"],
    *,
    widths,
    temperature: Float[ArrayLike, ""],
    lambdas=None,
    activation: "str | Activation" = "erf",
    action: str = "vanilla",
    throw: bool = True,
) -> DeepSingleTaskSolution:
    """Solve the deep single-task theory (module docstring; README.md in this folder, section 12).

    **Arguments:**
    - `X`: training inputs (P, N0); `y`: labels (P,).
    - `widths`: (N_1, ..., N_L), the hidden widths (each > 0, finite), L >= 1.
    - `temperature`: T > 0, units of the loss 1/2 sum (y - f)^2.
    - `lambdas`: (lambda0, ..., lambda_L), the prior precisions of the first layer, the deeper
      layers and the readout (each > 0; default all 1).
    - `activation`: "erf", "identity" or "tanh", or a `jaxtl.kernels.Activation`.
    - `action`: "vanilla" (default), "nested" or "full" (module docstring; README.md in this
      folder, section 12, says where each comes from).
    - `throw`: raise if the solve fails (default); with False the outcome is in `.result`.

    Works under `jax.jit`, `jax.vmap` and `jax.grad` (implicit differentiation at the minimum,
    with respect to the widths, T, the lambdas and the data). L = 1 is `jaxtl.single_task`.
    """
    X, y = _checks.finite("X", X), _checks.finite("y", y)
    _checks.inputs("X", X)
    _checks.shape("y", y, X.shape[:1], "(P,)")
    widths = jnp.atleast_1d(_checks.positive("widths", widths))
    if widths.ndim != 1 or widths.size < 1:
        raise ValueError(f"widths must be a sequence (N_1, ..., N_L) of L >= 1 widths, got shape {widths.shape}")
    L = widths.size
    lambdas = jnp.ones(L + 1) if lambdas is None else jnp.atleast_1d(_checks.positive("lambdas", lambdas))
    _checks.shape("lambdas", lambdas, (L + 1,), f"(L + 1,) = ({L + 1},): lambda0, ..., lambda_L")
    temperature = _checks.positive("temperature", temperature)
    action = _checks.choice("action", action, ACTIONS)
    return solve_deep_single_task(X, y, widths=widths, temperature=temperature, lambdas=lambdas,
                                  activation=get_activation(activation), action=action, throw=throw)  # fmt: skip


def _state(X, y, widths, temperature, lambdas, activation: Activation, action: str, spectrum=None) -> DeepState:
    """The `DeepState` of the data and parameters (lambdas = (lambda0, ..., lambda_L)); for the
    vanilla action `spectrum` = `nngp_eigh`(X, lambdas, activation) when the caller has it."""
    common = dict(temperature=temperature, widths=widths, lambdas=lambdas[1:], activation=activation, action=action)
    if action == "vanilla":
        k, U = nngp_eigh(X, lambdas, activation) if spectrum is None else spectrum
        return DeepState(labels=U.T @ y, eigenvalues=k, **common)
    return DeepState(labels=y, covariance=X @ X.T / (lambdas[0] * X.shape[1]), **common)


def nngp_eigh(X: Float[Array, "P N0"], lambdas: Float[Array, " L1"], activation: Activation):
    """The eigendecomposition (k (P,), clipped at 0, U (P, P)) of the deep NNGP kernel
    K_NNGP^(L) of the inputs X with prior precisions (lambda0, ..., lambda_L): the kernel the
    vanilla action rescales."""
    C0 = X @ X.T / (lambdas[0] * X.shape[1])
    d = jnp.diag(C0)
    k, U = eigh(propagate(d, d, C0, 1 / lambdas[1:], activation)[2])
    return jnp.maximum(k, 0.0), U


@eqx.filter_jit
def _norms(sol: DeepSingleTaskSolution) -> Float[Array, " L1"]:
    """1 + (lambda_l / N_l) dF/dlambda_l at the minimum, l = 0, ..., L (`DeepSingleTaskSolution.norms`)."""
    log_Q = jnp.log(sol.Q)
    F = lambda lambdas: _action(log_Q, _state(sol.inputs, sol.labels, sol.widths, sol.temperature, lambdas,  # noqa: E731
                                              sol.activation, sol.action))  # fmt: skip
    reads = jnp.concatenate([jnp.atleast_1d(sol.inputs.shape[1]), sol.widths])
    return 1 + sol.lambdas * jax.grad(F)(sol.lambdas) / reads


@eqx.filter_jit
def solve_deep_single_task(X, y, *, widths, temperature, lambdas, activation: Activation, action: str,
                           throw: bool, spectrum=None) -> DeepSingleTaskSolution:  # fmt: skip
    """`single_task` on checked arguments; `spectrum`: the vanilla action's `nngp_eigh` of X, if
    the caller has it (None: computed here)."""
    state = _state(X, y, widths, temperature, lambdas, activation, action, spectrum)
    start = jax.lax.stop_gradient(_lowest_on_diagonal(state))
    stationary = stationary_point(_gradient_and_hessian, start, state, rtol=1e-12, atol=1e-12)
    hessian = stationary.jacobian  # where the gradient was checked, the same evaluation
    result = first_failure(stationary.result, [(positive_definite(hessian), RESULTS.not_a_minimum),
                                               (_kernel_is_physical(stationary.value, state),
                                                RESULTS.renormalized_kernel_not_psd)])  # fmt: skip
    log_Q = raise_if_failed(stationary.value, result, "jaxtl.deep.single_task") if throw else stationary.value
    return DeepSingleTaskSolution(Q=jnp.exp(log_Q), result=result, num_steps=stationary.num_steps, widths=widths,
                                  temperature=temperature, lambdas=lambdas, activation=activation, action=action,
                                  inputs=X, labels=y)  # fmt: skip


def _depth(value):
    return _checks.count("depth", value)


class DeepSingleTask(Theory):
    """The deep single-task theory as a `jaxtl.theory.Theory` with equal widths and equal
    deeper priors, on the target side of a task pair: trained on (Xt, yt), tested on (X0, y0).
    Outputs: Q (Q_L, the readout layer's), test_error, bias2, variance."""

    name = "deep_single_task"
    parameters = (
        Number("width", "(0, inf)", "hidden width N of every layer"),
        TEMPERATURE,
        LAMBDA0,
        Number("lambda1", "(0, inf)", "prior precision λ of every deeper layer and of the readout", 1.0),
        Option("depth", "number of hidden layers L", 2, _depth),
        ACTIVATION,
        Option("action", "deep action: 'vanilla', 'nested' or 'full'", "vanilla", lambda v: _checks.choice("action", v, ACTIONS)),
    )
    outputs = (Output("Q", "order parameter Q_L of the readout layer", "1"), *ERROR_OUTPUTS)
    objective = "test_error"

    def evaluate(self, pair, parameters, shared) -> Evaluation:
        p = parameters
        L = p["depth"]
        lambdas = jnp.concatenate([jnp.atleast_1d(p["lambda0"]), jnp.full(L, p["lambda1"])])
        sol = solve_deep_single_task(pair.Xt, pair.yt, widths=jnp.full(L, p["width"]), temperature=p["temperature"],
                                     lambdas=lambdas, activation=p["activation"], action=p["action"], throw=False)  # fmt: skip
        error = sol.test_error(pair.X0, pair.y0)
        values = dict(Q=sol.Q[-1], test_error=error.total, bias2=error.bias2, variance=error.variance)
        return Evaluation(values, sol.result, sol.num_steps)

