"""Single-task kernel renormalization (README.md in this folder, section 3).

arXiv 2209.04882 (Pacelli et al., Nat. Mach. Intell. 2023) and 2401.11004: in the
proportional limit the posterior of a one-hidden-layer network is a Gaussian process whose
NNGP kernel K is rescaled by a scalar order parameter Q*, the minimizer of the effective action

    S(Q) = Q - log Q + (1/N1) [ log det(T I + (Q/lambda1) K) + y^T (T I + (Q/lambda1) K)^{-1} y ].

After one eigendecomposition K = U diag(k) U^T every evaluation is O(P).
"""

import equinox as eqx
import jax
import jax.numpy as jnp
from jax.custom_derivatives import SymbolicZero
from jaxtyping import Array, ArrayLike, Float, Int

from .. import _checks
from ._activation import Activation, get_activation
from ._kernel import gram_diag, nngp
from ._linalg import eigh
from ._result import Prediction, TestError, TheorySolution
from ._protocol import Evaluation, Number, Option, Output, Theory
from ._solve import RESULTS, Stationary, first_failure, raise_if_failed, stationary_point


class SingleTaskState(eqx.Module):
    """Everything the effective action S depends on besides Q, in the eigenbasis of the NNGP
    kernel K = U diag(k) U^T of the training inputs (module docstring):

    - `eigenvalues`: k, the eigenvalues of K, shape (P,) (clipped at 0).
    - `labels`: U^T y, the training labels in the eigenbasis, shape (P,).
    - `temperature`: T, in units of the loss 1/2 sum (y - f)^2.
    - `lambda1`: the readout's prior precision.
    - `inv_width`: 1/N1 (0 in the NNGP limit N1 = inf).

    It is the `args` of the solver: implicit differentiation reaches every field.
    """

    eigenvalues: Float[Array, " P"]
    labels: Float[Array, " P"]
    temperature: Float[Array, ""]
    lambda1: Float[Array, ""]
    inv_width: Float[Array, ""]


def _action(log_Q, state: SingleTaskState):
    """S(Q) of the module docstring in the eigenbasis, as a function of u = log Q."""
    Q = jnp.exp(log_Q)
    a = state.temperature + (Q / state.lambda1) * state.eigenvalues
    return Q - log_Q + state.inv_width * jnp.sum(jnp.log(a) + state.labels**2 / a)


@jax.custom_jvp
def _sums(terms: "tuple[Float[Array, '*b P'], ...]") -> "tuple[Float[Array, '*b'], ...]":
    """(sum_i t_i for t in terms): the sums over the last axis as one variadic reduction, one
    pass over the terms with nothing of shape (*b, P) written to memory (separate `jnp.sum`s
    each write their terms out first: under `jax.vmap` over many points that memory traffic is
    most of their cost). The sum is linear: its tangent is the sums of the tangents."""
    zeros = tuple(jnp.zeros((), t.dtype) for t in terms)
    add = lambda a, b: tuple(x + y for x, y in zip(a, b))
    return jax.lax.reduce(terms, zeros, add, (terms[0].ndim - 1,))


@_sums.defjvp
def _sums_jvp(primals, tangents):
    (terms,), (dterms,) = primals, tangents
    return _sums(terms), tuple(jnp.sum(t, axis=-1) for t in dterms)  # jnp.sum: transposable


def _action_gradient_and_curvature(log_Q, state: SingleTaskState):
    """The derivative g = dS/du of the action in u = log Q, and its derivative dg/du, for
    Newton's method. With kappa = k/lambda1, a_i = T + Q kappa_i, r_i = kappa_i/a_i and
    s = (1/N1) sum_i [r_i - y_i^2 r_i/a_i]:

        g     = Q - 1 + Q s   (the stationarity condition of section 3.1, times Q),
        dg/du = Q (1 + s) + (Q^2/N1) sum_i [-r_i^2 + 2 y_i^2 r_i^2/a_i],

    both sums in one pass over the P eigenvalues (`_sums`), with y_i^2/a_i = b_i written
    y_i^2 (1/a_i).
    """
    Q = jnp.exp(log_Q)
    return _from_sums(Q, state.inv_width, *_spectral_sums(Q, state))


def _spectral_sums(Q, state: SingleTaskState, with_action: bool = False):
    """The sums over the P eigenvalues behind g and dg/du (`_action_gradient_and_curvature`),
    sum_i r_i (1 - b_i) and sum_i r_i^2 (2 b_i - 1), and with `with_action` the action's
    sum_i [log a_i + b_i] first (`_action`), in one pass (`_sums`). They depend on Q, T, lambda1
    and the data, not on N1. Q: any shape (the sums broadcast over it)."""
    kappa = state.eigenvalues / state.lambda1
    a = state.temperature + Q[..., None] * kappa
    inv_a = 1 / a  # the one division a term: most of a step's cost
    r, b = kappa * inv_a, state.labels**2 * inv_a
    terms = (r * (1 - b), r**2 * (2 * b - 1))
    return _sums((jnp.log(a) + b, *terms) if with_action else terms)


def _from_sums(Q, inv_width, first, second):
    """(g, dg/du) from the sums of `_spectral_sums` (`_action_gradient_and_curvature`)."""
    s = inv_width * first
    return Q - 1 + Q * s, Q * (1 + s) + Q**2 * inv_width * second


_GRID = jnp.arange(-8.0, 9.0)  # the starting grid of u = log Q


def _start_on_grid(state: SingleTaskState):
    """Newton's start: the node of u = log Q in -8, -7, ..., 8 where S is lowest
    (`_lowest_node`), refined where that is cheap (`_refined_start`): for one point, and under
    `jax.vmap` over N1 alone (N1 innermost in a sweep), where the refinement's sums over
    eigenvalues at the nodes are the same for the whole batch and computed once. Where the batch
    varies T, lambda1 or the data, those sums would cost a point more than the Newton steps the
    refinement saves (59 against 33 us a point for Q* over 10^4 (T, N1) points in one flat
    `jax.vmap`): the node itself. No derivative: a start."""
    return _start(jax.lax.stop_gradient(state))


@jax.custom_batching.custom_vmap
def _start(state: SingleTaskState):
    return _refined_start(state)


@_start.def_vmap
def _start_rule(axis_size, in_batched, state):
    (batched,) = in_batched  # a SingleTaskState of bools
    per_batch = not (batched.eigenvalues or batched.labels or batched.temperature or batched.lambda1)  # 1/N1 alone
    start = _refined_start if per_batch else _lowest_node
    return jax.vmap(start, in_axes=(jax.tree.map(lambda b: 0 if b else None, batched),))(state), True


def _lowest_node(state: SingleTaskState):
    """The node of `_GRID` where S is lowest (a scan over the nodes, one O(P) pass each: under a
    flat `jax.vmap` XLA runs these sums faster than one pass over every node at once)."""
    return _lowest(jax.lax.map(lambda u: _action(u, state), _GRID))[1]


def _lowest(S):
    """(j, u_j): the index and the node where S (at the nodes of `_GRID`) is lowest; u = 0, the
    infinite-width value, where S is nowhere finite (NaN data: Newton then fails there)."""
    j = jnp.argmin(jnp.where(jnp.isnan(S), jnp.inf, S))
    return j, jnp.where(jnp.isfinite(S[j]), _GRID[j], 0.0)


def _refined_start(state: SingleTaskState):
    """The node where S is lowest, refined to the root of the cubic that matches g and dg/du at
    the two nodes around it between which g goes from negative to positive (S's minimum next to
    the node; the node itself where there is no such pair): within about 1e-2 of log Q* where
    the node was within 0.5, so Newton needs 2-3 evaluations instead of 3-6."""
    Q = jnp.exp(_GRID)
    action, first, second = _spectral_sums(Q, state, with_action=True)
    S = Q - _GRID + state.inv_width * action  # `_action` at the nodes
    g, dg = _from_sums(Q, state.inv_width, first, second)
    j, node = _lowest(S)
    left = jnp.clip(jnp.where(g[j] > 0, j - 1, j), 0, _GRID.size - 2)
    gL, gR, mL, mR = g[left], g[left + 1], dg[left], dg[left + 1]
    bracketed = (gL <= 0) & (gR >= 0)
    t = jnp.clip(gL / jnp.where(bracketed, gL - gR, 1.0), 0.0, 1.0)  # the secant's root, then Newton on the cubic

    def newton_on_cubic(t, _):
        # The cubic Hermite interpolant of g on [u_left, u_left + 1] (unit spacing) and its slope.
        h00, h10, h01, h11 = (1 + 2 * t) * (1 - t) ** 2, t * (1 - t) ** 2, t**2 * (3 - 2 * t), t**2 * (t - 1)
        p = h00 * gL + h10 * mL + h01 * gR + h11 * mR
        dp = 6 * t * (t - 1) * (gL - gR) + (1 - t) * (1 - 3 * t) * mL + t * (3 * t - 2) * mR
        return jnp.clip(t - p / jnp.where(dp > 0, dp, jnp.inf), 0.0, 1.0), None

    t = jax.lax.scan(newton_on_cubic, t, None, length=4)[0]
    return jnp.where(bracketed, _GRID[left] + t, node)


class SingleTaskSolution(TheorySolution):
    """The solved single-task theory: order parameter, status, and the predictor.

    **Attributes:**
    - `Q`: the order parameter Q* (dimensionless; Q* = 1 is the NNGP limit N1 -> infinity).
      Its network counterpart is the readout norm lambda1 |v|^2 / N1.
    - `result`, `num_steps`, `converged`: how the solve ended (`jaxtl.RESULTS`): converged
      means a stationary point that is a minimum of S, with Q* > 0 (log Q is the solver's
      coordinate, so Q* > 0 holds by construction).
    - `width` (N1), `temperature` (T, in units of the loss 1/2 sum (y - f)^2), `lambda0`,
      `lambda1` (prior precisions of the first layer and of the readout), `activation`.
    - `inputs` (P, N0), `eigenvalues` (P,), `eigenvectors` (P, P), `labels_eig` (P,) = U^T y:
      the training data and the eigendecomposition of its NNGP kernel.
    """

    Q: Float[Array, ""]
    result: RESULTS
    num_steps: Int[Array, ""]
    width: Float[Array, ""]
    temperature: Float[Array, ""]
    lambda0: Float[Array, ""]
    lambda1: Float[Array, ""]
    activation: Activation
    inputs: Float[Array, "P N0"]
    eigenvalues: Float[Array, " P"]
    eigenvectors: Float[Array, "P P"]
    labels_eig: Float[Array, " P"]
    _shown = ("Q", "converged", "result", "width", "temperature", "lambda0", "lambda1", "activation")

    @property
    def alpha(self) -> Float[Array, ""]:
        """alpha = P / N1, the load (0 in the NNGP limit)."""
        return self.inputs.shape[0] / self.width

    @property
    def state(self) -> SingleTaskState:
        """What the action depends on besides Q (`SingleTaskState`), from these fields."""
        return SingleTaskState(
            eigenvalues=self.eigenvalues,
            labels=self.labels_eig,
            temperature=self.temperature,
            lambda1=self.lambda1,
            inv_width=1 / self.width,
        )

    def action(self, Q: Float[ArrayLike, "*s"]) -> Float[Array, "*s"]:
        """The effective action S(Q) of the module docstring (Q > 0)."""
        state = self.state
        return jnp.vectorize(lambda q: _action(jnp.log(q), state))(jnp.asarray(Q, float))

    def predict(self, X0: Float[ArrayLike, "P0 N0"]) -> Prediction:
        """Posterior mean and variance of f(x0): a GP with kernel (Q*/lambda1) K and noise T.

        mean = k0^T (K + c I)^{-1} y, variance = (Q*/lambda1)(k00 - k0^T (K + c I)^{-1} k0),
        c = T lambda1 / Q* (README.md in this folder, section 3.2).
        """
        X0 = _checks.finite("X0", X0)
        _checks.shape("X0", X0, (X0.shape[0], self.inputs.shape[1]), "(P0, N0)")
        return _predict(self, X0).only_if(self.converged)

    def test_error(self, X0: Float[ArrayLike, "P0 N0"], y0: Float[ArrayLike, " P0"]) -> TestError:
        """Test error on (X0, y0), as `TheorySolution.test_error`, with the mean variance over
        the test points in O(P) per solution: (Q*/lambda1)(mean k00 - sum_i w_i v_i), with
        w_i = 1/(k_i + c) and v_i = mean over x0 of (U^T k0)_i^2, which depends on the data only
        (under `jax.vmap` over T, N1 or lambda1 it is computed once)."""
        X0, y0 = _checks.finite("X0", X0), _checks.finite("y0", y0)
        _checks.shape("X0", X0, (X0.shape[0], self.inputs.shape[1]), "(P0, N0)")
        _checks.shape("y0", y0, X0.shape[:1], "(P0,)")
        error = _test_error(self, kernels_on_test_set(self.inputs, self.eigenvectors, X0, self.lambda0, self.activation), y0)
        return jax.tree.map(lambda a: jnp.where(self.converged, a, jnp.nan), error)


def single_task(
    X: Float[ArrayLike, "P N0"],
    y: Float[ArrayLike, " P"],
    *,
    width: Float[ArrayLike, ""],
    temperature: Float[ArrayLike, ""],
    lambda0: Float[ArrayLike, ""] = 1.0,
    lambda1: Float[ArrayLike, ""] = 1.0,
    activation: "str | Activation" = "erf",
    throw: bool = True,
) -> SingleTaskSolution:
    """Solve the single-task kernel-renormalization theory for one data set.

    Finds the minimizer Q* of the effective action S(Q) (module docstring; README.md in this folder,
    section 3.1) by Newton's method on dS/dlog Q, in float64, started from the lowest
    point of S on the grid log Q = -8, -7, ..., 8.

    **Arguments:**
    - `X`: training inputs, shape (P, N0). `y`: labels, shape (P,).
    - `width`: hidden width N1 > 0 (a real number; `jnp.inf` gives the NNGP limit Q* = 1).
    - `temperature`: T > 0, in units of the loss L = 1/2 sum (y - f)^2.
    - `lambda0`, `lambda1`: prior precisions of first-layer weights and readout (> 0).
    - `activation`: "erf", "identity" or "tanh", or a `jaxtl.kernels.Activation`.
    - `throw`: raise if the solve fails (default). With `throw=False` a failure is reported
      in `.result` / `.converged` instead, per point under `jax.vmap`.

    Works under `jax.jit`, `jax.vmap` (over any numeric argument, or a batch of data sets)
    and `jax.grad` (implicit differentiation at Q*; with respect to `width`, `temperature`,
    `lambda0`, `lambda1`, `X` and `y`). The O(P^3) kernel and eigendecomposition depend on
    (X, lambda0, activation) only: under `jax.vmap` over T, N1, lambda1 or y they are
    computed once. Return what you need from a vmapped function (`.Q`, `.test_error(...)`):
    a batched solution object holds one copy of the P x P eigenvectors per point.
    """
    X, y = _checks.finite("X", X), _checks.finite("y", y)
    _checks.inputs("X", X)
    _checks.shape("y", y, X.shape[:1], "(P,)")
    width = _checks.positive("width", width, allow_inf=True)
    temperature = _checks.positive("temperature", temperature)
    lambda0 = _checks.positive("lambda0", lambda0)
    lambda1 = _checks.positive("lambda1", lambda1)
    act = get_activation(activation)
    return solve_single_task(
        X, y, width=width, temperature=temperature, lambda0=lambda0, lambda1=lambda1, activation=act, throw=throw
    )


@eqx.filter_jit
def _predict(sol: SingleTaskSolution, X0: Float[Array, "P0 N0"]) -> Prediction:
    k0 = sol.eigenvectors.T @ nngp(sol.inputs, X0, lambda0=sol.lambda0, activation=sol.activation)
    v = 1 / sol.lambda0
    k00 = gram_diag(X0, var1=v, var2=v, cov=v, activation=sol.activation)
    inv = 1 / (sol.eigenvalues + sol.temperature * sol.lambda1 / sol.Q)
    mean = _mean_prediction(inv, sol.labels_eig, k0)
    variance = (sol.Q / sol.lambda1) * (k00 - jnp.sum(inv[:, None] * k0**2, axis=0))
    return Prediction(mean, variance)


@jax.custom_jvp
def _mean_prediction(w: Float[Array, " P"], labels: Float[Array, " P"], projected: Float[Array, "P P0"]) -> Float[Array, " P0"]:
    """The posterior mean on the test points, sum_i w_i y~_i (U^T k0)_i = (w * y~) @ U^T K(X, X0),
    w_i = 1/(k_i + c). The vector first: under `jax.vmap` the batch's vectors times U^T k0 are one
    GEMM (written k0^T v, XLA's CPU dot is 3-4x slower at P = 1000, P0 = 200); where the points
    share the labels (a sweep over T, N1 or lambda1) y~ is multiplied into U^T k0 once and the
    left factor of the GEMM is the batch's w as it is (as w * y~, formed inside XLA's fused GEMM,
    the single-task sweep's test error took 0.8 us a point more). Linear in each argument: its
    tangent is the sum of three such products."""
    return _mean_prediction_batched(w, labels, projected)


def _mean_prediction_jvp(primals, tangents):
    (w, labels, projected), (dw, dlabels, dprojected) = primals, tangents
    out = _mean_prediction(w, labels, projected)
    terms = [(lambda: (dw * labels) @ projected, dw), (lambda: (w * dlabels) @ projected, dlabels),
             (lambda: (w * labels) @ dprojected, dprojected)]  # fmt: skip
    nonzero = [term() for term, d in terms if not isinstance(d, SymbolicZero)]
    return out, sum(nonzero) if nonzero else jnp.zeros_like(out)


_mean_prediction.defjvp(_mean_prediction_jvp, symbolic_zeros=True)  # a zero tangent's product is skipped


def _weighted_sum(w, labels, projected):
    return (w * labels) @ projected


_mean_prediction_batched = jax.custom_batching.custom_vmap(_weighted_sum)


@_mean_prediction_batched.def_vmap
def _mean_prediction_rule(axis_size, in_batched, w, labels, projected):
    if in_batched == [True, False, False]:  # shared labels: y~ into U^T k0 once
        return w @ (labels[:, None] * projected), True
    return jax.vmap(_weighted_sum, in_axes=[0 if b else None for b in in_batched])(w, labels, projected), True


class TestKernels(eqx.Module):
    """What the test error on test inputs X0 needs of the kernels, in the eigenbasis of the
    training kernel K = U diag(k) U^T; it depends on (X, X0, lambda0, activation) only, not on
    T, N1 or lambda1 (sweeps compute it once, `SingleTask.shared`).

    - `projected`: U^T K(X, X0), shape (P, P0).
    - `mean_self`: the mean over x0 of k(x0, x0).
    - `mean_squares`: v_i = mean over x0 of (U^T k0)_i^2, shape (P,).
    """

    __test__ = False  # not a pytest test class

    projected: Float[Array, "P P0"]
    mean_self: Float[Array, ""]
    mean_squares: Float[Array, " P"]


@eqx.filter_jit
def kernels_on_test_set(X: Float[Array, "P N0"], U: Float[Array, "P P"], X0: Float[Array, "P0 N0"], lambda0,
                 activation: Activation) -> TestKernels:  # fmt: skip
    """`TestKernels` of the test inputs X0 for training inputs X with kernel eigenvectors U."""
    k0 = U.T @ nngp(X, X0, lambda0=lambda0, activation=activation)
    v = 1 / lambda0
    k00 = gram_diag(X0, var1=v, var2=v, cov=v, activation=activation)
    return TestKernels(k0, jnp.mean(k00), jnp.mean(k0**2, axis=1))


@eqx.filter_jit
def _test_error(sol: SingleTaskSolution, kernels: TestKernels, y0: Float[Array, " P0"]) -> TestError:
    """The test error of `sol` on labels y0 (README.md in this folder, section 3.2): with
    w_i = 1/(k_i + c), c = T lambda1/Q*, bias2 = mean over x0 of (y0 - k0^T U diag(w) U^T y)^2 (one
    P x P0 product) and variance = (Q*/lambda1)(mean k00 - sum_i w_i v_i) (O(P))."""
    inv = 1 / (sol.eigenvalues + sol.temperature * sol.lambda1 / sol.Q)
    bias2 = jnp.mean((y0 - _mean_prediction(inv, sol.labels_eig, kernels.projected)) ** 2)
    variance = (sol.Q / sol.lambda1) * (kernels.mean_self - inv @ kernels.mean_squares)
    return TestError(bias2 + variance, bias2, variance)


def order_parameter(state: SingleTaskState) -> Stationary:
    """Q* of the action given by `state` (spectrum of K, labels U^T y, T, lambda1, 1/N1):
    u = log Q* as a `Stationary`, started from the lowest point of S on the grid
    log Q = -8, ..., 8 (refined where that is cheap: `_start_on_grid`), with the physical check
    (Q* a minimum of S; `RESULTS.not_a_minimum` otherwise). With zero labels this is also the replica-specific part of the transfer theory
    at gamma = inf (`jaxtl._transfer`)."""
    # S(u) need not be convex: Newton from the NNGP value u = 0 can walk away from a distant
    # minimum (large Q*, large T). Start next to the lowest point of S on a grid of log Q.
    log_Q0 = _start_on_grid(state)  # no derivative
    # A step costs O(P) here: solve to rounding level (1e-13), one step past the default 1e-10.
    stationary = stationary_point(_action_gradient_and_curvature, log_Q0, state, rtol=1e-13, atol=1e-13)
    curvature = stationary.jacobian  # dg/du where the gradient was checked, the same evaluation
    result = first_failure(stationary.result, [(curvature > 0, RESULTS.not_a_minimum)])
    return eqx.tree_at(lambda s: s.result, stationary, result)


def kernel_spectrum(X: Float[Array, "P N0"], lambda0, activation: Activation) -> tuple[Float[Array, " P"], Float[Array, "P P"]]:
    """The eigendecomposition K = U diag(k) U^T of the NNGP kernel of the training inputs X:
    (k, U), k clipped at 0 (K is positive semidefinite; this drops rounding noise below zero)."""
    k, U = eigh(nngp(X, X, lambda0=lambda0, activation=activation))
    return jnp.maximum(k, 0.0), U


@eqx.filter_jit
def solve_single_task(
    X, y, *, width, temperature, lambda0, lambda1, activation: Activation, throw: bool, spectrum=None
) -> SingleTaskSolution:
    """`single_task` on checked arguments (no input validation; `activation` an `Activation`):
    for the theories built on it. `spectrum`: `kernel_spectrum(X, lambda0, activation)` when
    the caller has it already (None: computed here)."""
    k, U = kernel_spectrum(X, lambda0, activation) if spectrum is None else spectrum
    y_eig = y @ U  # U^T y, vector first (one GEMM over a vmapped batch of labels)
    state = SingleTaskState(eigenvalues=k, labels=y_eig, temperature=temperature, lambda1=lambda1, inv_width=1 / width)
    stationary = order_parameter(state)
    log_Q = raise_if_failed(stationary.value, stationary.result, "jaxtl.single_task") if throw else stationary.value
    return SingleTaskSolution(
        Q=jnp.exp(log_Q),
        result=stationary.result,
        num_steps=stationary.num_steps,
        width=width,
        temperature=temperature,
        lambda0=lambda0,
        lambda1=lambda1,
        activation=activation,
        inputs=X,
        eigenvalues=k,
        eigenvectors=U,
        labels_eig=y_eig,
    )


WIDTH = Number("width", "(0, inf]", "hidden width N1 (inf: the infinite-width limit)")
TEMPERATURE = Number("temperature", "(0, inf)", "temperature T (units of the loss 1/2 sum (y - f)^2)")
LAMBDA0 = Number("lambda0", "(0, inf)", "first-layer prior precision λ0", 1.0)
LAMBDA1 = Number("lambda1", "(0, inf)", "readout prior precision λ1", 1.0)
ACTIVATION = Option("activation", "activation of the hidden units (erf, identity, tanh)", "erf", get_activation)
ERROR_OUTPUTS = (
    Output("test_error", "test error", "labels^2", "lower"),
    Output("bias2", "test error, bias^2", "labels^2", "lower"),
    Output("variance", "test error, variance", "labels^2", "lower"),
)
"""The test error and its parts, as every theory with a posterior variance names them."""


class SingleTask(Theory):
    """The single-task theory as a `jaxtl.theory.Theory`, on the target side of a task pair:
    trained on (Xt, yt), tested on (X0, y0) (the coupling gamma = 0 of the transfer theory).
    Outputs: Q (Q*), test_error, bias2, variance."""

    name = "single_task"
    parameters = (WIDTH, TEMPERATURE, LAMBDA0, LAMBDA1, ACTIVATION)
    outputs = (Output("Q", "order parameter Q*", "1"), *ERROR_OUTPUTS)
    objective = "test_error"
    innermost = ("width",)  # the starting grid's sums over eigenvalues do not depend on N1: once per T
    max_chunk = 4096

    def point_bytes(self, Ps, Pt, P0, varying) -> int:
        """O(Pt + P0) a point, with the spectrum and test kernels shared (`shared`); a Pt x Pt
        eigendecomposition a point where a swept number changes them."""
        spectrum = any(n not in ("width", "temperature", "lambda1") for n in varying)
        return 8 * (20 * Pt + 4 * P0 + (10 * Pt**2 if spectrum else 0))

    def shared(self, pair, parameters) -> "tuple[tuple[Array, Array], TestKernels]":
        """The kernel's eigendecomposition on the target inputs and the test kernels
        (`kernel_spectrum`, `TestKernels`): they depend on the data, lambda0 and the activation
        only, so a sweep over T, N1 or lambda1 computes them once."""
        p = parameters
        spectrum = kernel_spectrum(pair.Xt, p["lambda0"], p["activation"])
        return spectrum, kernels_on_test_set(pair.Xt, spectrum[1], pair.X0, p["lambda0"], p["activation"])

    def evaluate(self, pair, parameters, shared) -> Evaluation:
        p, (spectrum, kernels) = parameters, shared
        sol = solve_single_task(pair.Xt, pair.yt, width=p["width"], temperature=p["temperature"], lambda0=p["lambda0"],
                                lambda1=p["lambda1"], activation=p["activation"], throw=False, spectrum=spectrum)
        error = _test_error(sol, kernels, pair.y0)  # NaN where not converged (`jaxtl.theory.outputs`)
        values = dict(Q=sol.Q, test_error=error.total, bias2=error.bias2, variance=error.variance)
        return Evaluation(values, sol.result, sol.num_steps)
