"""Transfer through a coupled first layer with two hidden layers (README.md in this folder,
section 12.3; `jaxtl.deep.transfer`).

Source and target networks have two hidden layers of widths (N1, N2); the target's first layer
W_1 is coupled by gamma/2 |W_1 - W_1~|^2 to a source sample's, the second layers and readouts
are free. The source is quenched: its (Q_s1, Q_s2) are the deep single-task (vanilla) order
parameters of the source data. The target's order parameters (Q_t1, Q_tt, Q_st) at the first
layer and Q_t2 at the second make stationary the one-layer Franz-Parisi potential of
`_transfer` (section 4.3) with

- the layer-1 kernels of the coupled weight moments passed through the second layer's kernel
  map: the target's own kernel by the full map (the deep NNGP kernel K2_tt with first-layer
  variance v_t), the kernels shared with another replica (K2_tt') or with the source (K2_ts)
  by its slope at zero covariance, since no unit of one network's second layer is aligned
  with one of the other's: K2_x = (1/lambda2) kappa'(s1, s2; 0) K_x / lambda1, s the
  second-layer pre-activations' variances;
- the vanilla action's products: M = Q_t2 (Q_t1 K2_tt - Q_tt K2_tt') + T I, the source-target
  kernel Q_st sqrt(Q_s2 Q_t2) K2_ts, A_s = Q_s1 Q_s2 K2_ss + T_s I;
- (N2/N1)(Q_t2 - log Q_t2) added to V.

Q_t2 enters V only through a = Q_t2 Q_t1, b = Q_t2 Q_tt, c = sqrt(Q_t2) Q_st and that last
term, so it is eliminated in closed form (`_transfer._readout_term`) and the one-layer solver
runs on (a, b, c) with lambda1 = 1 (the lambdas are in the kernels) and `width_ratio` N1/N2.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, Int

from .. import _checks
from ._activation import Activation, get_activation
from ._deep_single_task import DeepSingleTaskSolution, nngp_eigh, propagate, solve_deep_single_task
from ._kernel import gram, gram_diag
from ._protocol import Evaluation, Number, Output, Theory
from ._result import Prediction, TheorySolution
from ._single_task import ACTIVATION, LAMBDA0, SingleTaskState
from ._solve import RESULTS, raise_if_failed, stationary_point
from ._transfer import (
    TARGET_OUTPUTS, TargetState, TargetTestKernels, TransferBenefit, _gradient_and_jacobian, _moments, _target_inverse, _physical,
    _second_layer_order_parameter, _source_overlap, _target_matrix, prediction, starting_point, target_state,
)  # fmt: skip


def _slope(activation: Activation, s11, s22):
    """d kappa / d s12 at s12 = 0 for variances s11, s22 (broadcast): E[sigma'(h1)] E[sigma'(h2)]."""
    s11, s22 = jnp.broadcast_arrays(s11, s22)
    return jax.jvp(lambda c: activation.kernel(s11, s22, c), (jnp.zeros_like(s11),), (jnp.ones_like(s11),))[1]


class _Layers(eqx.Module):
    """The kernel maps of the two layers (module docstring): prior precisions `lambdas`
    (lambda0, lambda1, lambda2), the first-layer weight moments `v_t`, `c_st`, `c_tt` of the
    coupling, the `activation`."""

    lambdas: Float[Array, " 3"]
    v_t: Float[Array, ""]
    c_st: Float[Array, ""]
    c_tt: Float[Array, ""]
    activation: Activation

    def variance(self, X, var) -> Float[Array, " P"]:
        """The second-layer pre-activations' variance at each input, first-layer variance `var`."""
        return gram_diag(X, var1=var, var2=var, cov=var, activation=self.activation) / self.lambdas[1]

    def own(self, X1, X2) -> "tuple[Float[Array, ' P1'], Float[Array, ' P2'], Float[Array, 'P1 P2']]":
        """The target's deep NNGP kernel K2_tt between X1 and X2 (first-layer variance v_t), with
        the variances at X1 and X2: (K2_tt(x1, x1) (P1,), K2_tt(x2, x2) (P2,), K2_tt(X1, X2))."""
        d1, d2 = (self.v_t * jnp.sum(X * X, axis=1) / X.shape[1] for X in (X1, X2))
        return propagate(d1, d2, self.v_t * X1 @ X2.T / X1.shape[1], 1 / self.lambdas[1:], self.activation)

    def shared(self, s1, s2, K) -> Float[Array, "*P"]:
        """A first-layer kernel K (replica or source-target) passed through the second layer by its
        slope at zero covariance, s1, s2 the variances on each side: (1/lambda2) kappa'(s1, s2; 0) K/lambda1."""
        return _slope(self.activation, s1, s2) * K / (self.lambdas[1] * self.lambdas[2])

    def replica(self, X1, X2) -> Float[Array, "P1 P2"]:
        """K2_tt'(X1, X2): two target replicas on one source sample."""
        s1, s2 = self.variance(X1, self.v_t), self.variance(X2, self.v_t)
        K = gram(X1, X2, var1=self.v_t, var2=self.v_t, cov=self.c_tt, activation=self.activation)
        return self.shared(s1[:, None], s2[None, :], K)

    def replica_diagonal(self, X) -> Float[Array, " P"]:
        s = self.variance(X, self.v_t)
        return self.shared(s, s, gram_diag(X, var1=self.v_t, var2=self.v_t, cov=self.c_tt, activation=self.activation))

    def cross(self, X, Xs) -> Float[Array, "P Ps"]:
        """K2_ts(X, Xs): target inputs X, source inputs Xs."""
        s_t, s_s = self.variance(X, self.v_t), self.variance(Xs, 1 / self.lambdas[0])
        K = gram(X, Xs, var1=self.v_t, var2=1 / self.lambdas[0], cov=self.c_st, activation=self.activation)
        return self.shared(s_t[:, None], s_s[None, :], K)


class DeepSource(eqx.Module):
    """The source's solve, what every coupling shares: the deep single-task `solution` (vanilla,
    at T_s) and the eigendecomposition of its deep NNGP kernel K2_ss = U_s diag(k_s) U_s^T,
    `eigenvalues` (Ps,), `eigenvectors` (Ps, Ps), `labels` U_s^T y_s (Ps,)."""

    solution: DeepSingleTaskSolution
    eigenvalues: Float[Array, " Ps"]
    eigenvectors: Float[Array, "Ps Ps"]
    labels: Float[Array, " Ps"]

    @property
    def inverse(self) -> Float[Array, " Ps"]:
        """A_s^{-1} = (Q_s1 Q_s2 K2_ss + T_s I)^{-1} in its eigenbasis, shape (Ps,)."""
        s = self.solution
        return 1 / (jnp.prod(s.Q) * self.eigenvalues + s.temperature)


def solve_source(Xs, ys, *, widths, temperature, lambdas, activation: Activation, throw: bool) -> DeepSource:
    """The `DeepSource` of (Xs, ys) at the source temperature (checked arguments)."""
    k, U = nngp_eigh(Xs, lambdas, activation)
    solution = solve_deep_single_task(Xs, ys, widths=widths, temperature=temperature, lambdas=lambdas,
                                      activation=activation, action="vanilla", throw=throw, spectrum=(k, U))  # fmt: skip
    return DeepSource(solution, k, U, U.T @ ys)


class DeepTransferSolution(TheorySolution):
    """The solved two-layer transfer theory (module docstring).

    **Attributes:**
    - `Q_t1`, `Q_tt`, `Q_st` (dimensionless): the first layer's block, as in `jaxtl.transfer`
      (the target's norm, the overlap of two target replicas on one source sample, the
      source-target overlap), for the effective readout of the first layer; `Q_t2`: the
      target's second-layer order parameter, whose network counterpart is the readout norm
      lambda2 |v_t|^2 / N2. `Q_s1`, `Q_s2`: the source's, `source.solution.Q`. The second layers
      share nothing: the theory's overlaps of readouts (lambda2 v_s . v_t / N2) and of the
      second layers' weights between networks are zero.
    - `result`, `num_steps`, `converged`: as in `jaxtl.transfer` (physical roots only).
    - `coupling` (gamma); `source` (`DeepSource`); `prior_only`: the deep single-task solution of
      the target with lambda0 -> 1/v_t (the benefit's reference, and the eigenbasis U of K2_tt);
      `eigenvectors`: that U (Pt, Pt); `labels`: y_t (Pt,); `state`: the `_transfer.TargetState`
      of the kernels (lambda1 = 1 there: the lambdas are in the kernels).
    """

    Q_t1: Float[Array, ""]
    Q_t2: Float[Array, ""]
    Q_tt: Float[Array, ""]
    Q_st: Float[Array, ""]
    result: RESULTS
    num_steps: Int[Array, ""]
    coupling: Float[Array, ""]
    source: DeepSource
    prior_only: DeepSingleTaskSolution
    eigenvectors: Float[Array, "Pt Pt"]
    labels: Float[Array, " Pt"]
    state: TargetState
    _shown = ("Q_s1", "Q_s2", "Q_t1", "Q_t2", "Q_tt", "Q_st", "converged", "result", "widths", "temperature",
              "source_temperature", "coupling", "lambdas", "activation")  # fmt: skip

    @property
    def Q_s1(self) -> Float[Array, ""]:
        return self.source.solution.Q[0]

    @property
    def Q_s2(self) -> Float[Array, ""]:
        return self.source.solution.Q[1]

    @property
    def widths(self) -> Float[Array, " 2"]:
        return self.source.solution.widths

    @property
    def temperature(self) -> Float[Array, ""]:
        """The target's temperature T_t."""
        return self.prior_only.temperature

    @property
    def source_temperature(self) -> Float[Array, ""]:
        return self.source.solution.temperature

    @property
    def lambdas(self) -> Float[Array, " 3"]:
        """(lambda0, lambda1, lambda2) of both networks."""
        return self.source.solution.lambdas

    @property
    def activation(self) -> Activation:
        return self.source.solution.activation

    def _layers(self) -> _Layers:
        return _Layers(self.lambdas, *_moments(self.coupling, self.lambdas[0]), self.activation)

    def predict(self, X0: Float[ArrayLike, "P0 N0"]) -> Prediction:
        """Mean and variance of the target network's output on X0 (P0, N0): the predictor of
        `jaxtl.transfer` (README.md in this folder, section 4.5) with this theory's kernels."""
        X0 = _checks.finite("X0", X0)
        _checks.shape("X0", X0, (X0.shape[0], self.prior_only.inputs.shape[1]), "(P0, N0)")
        return _predict(self, X0).only_if(self.converged)

    def benefit(self, X0: Float[ArrayLike, "P0 N0"], y0: Float[ArrayLike, " P0"]) -> TransferBenefit:
        """The transfer benefit on (X0, y0) and its prior and source parts, as
        `TransferSolution.benefit`: the gamma = 0 reference is `jaxtl.deep.single_task` of the
        target, the prior-only one `prior_only`."""
        return self._benefit(X0, y0, self.test_error(X0, y0).total)

    def _benefit(self, X0, y0, error) -> TransferBenefit:
        """`benefit` when the test error on (X0, y0) is already known."""
        p = self.prior_only
        alone = solve_deep_single_task(p.inputs, self.labels, widths=self.widths, temperature=self.temperature,
                                       lambdas=self.lambdas, activation=self.activation, action="vanilla", throw=False)  # fmt: skip
        return TransferBenefit.of(alone.test_error(X0, y0).total, p.test_error(X0, y0).total, error)


@eqx.filter_jit
def _predict(sol: DeepTransferSolution, X0) -> Prediction:
    layers, Xt, U = sol._layers(), sol.prior_only.inputs, sol.eigenvectors
    _, own_diagonal, own = layers.own(Xt, X0)
    kernels = TargetTestKernels(
        own=U.T @ own,
        replica=U.T @ layers.replica(Xt, X0),
        cross=jnp.sqrt(sol.Q_s2) * layers.cross(X0, sol.source.solution.inputs) @ sol.source.eigenvectors,
        own_diagonal=own_diagonal,
        replica_diagonal=layers.replica_diagonal(X0),
    )
    a, b, c = sol.Q_t2 * sol.Q_t1, sol.Q_t2 * sol.Q_tt, jnp.sqrt(sol.Q_t2) * sol.Q_st
    return prediction(sol.state, a, b, c, kernels, sol.source.inverse, sol.source.labels)


def solve_deep_target(source: DeepSource, Xt, yt, *, coupling, temperature, throw: bool) -> DeepTransferSolution:
    """The target side at temperature T_t given the source's solve (checked arguments): the
    widths, lambdas and activation are the source's."""
    s = source.solution
    widths, lambdas, act = s.widths, s.lambdas, s.activation
    layers = _Layers(lambdas, *_moments(coupling, lambdas[0]), act)
    target_lambdas = lambdas.at[0].set(1 / layers.v_t)
    k, U = nngp_eigh(Xt, target_lambdas, act)
    prior_only = solve_deep_single_task(Xt, yt, widths=widths, temperature=temperature, lambdas=target_lambdas,
                                        activation=act, action="vanilla", throw=throw, spectrum=(k, U))  # fmt: skip
    Xs, one = s.inputs, jnp.ones_like(temperature)
    state = target_state(k, U.T @ layers.replica(Xt, Xt) @ U,
                         jnp.sqrt(s.Q[1]) * U.T @ layers.cross(Xt, Xs) @ source.eigenvectors, source.inverse,
                         source.labels, U.T @ yt, Q_s=s.Q[0], temperature=temperature, lambda1=one,
                         inv_width=1 / widths[0], width_ratio=widths[0] / widths[1])  # fmt: skip
    single = SingleTaskState(eigenvalues=k, labels=state.labels, temperature=temperature, lambda1=one,
                             inv_width=state.inv_width)  # fmt: skip
    x0 = starting_point(jnp.prod(prior_only.Q), single, coupling, lambdas[0])
    stationary = stationary_point(_gradient_and_jacobian, jax.lax.stop_gradient(x0), state, rtol=1e-12, atol=1e-12)
    D, b = jnp.exp(stationary.value[0]), stationary.value[1]
    M = _target_matrix(D, b, state)
    c = _source_overlap(_target_inverse(D, b, state), D, state)[0]
    result = _physical(stationary.result, s, prior_only, b, c, M, state)
    if throw:
        b = raise_if_failed(b, result, "jaxtl.deep.transfer")
    Q_t2 = _second_layer_order_parameter(D + b, state.width_ratio)[0]
    return DeepTransferSolution(Q_t1=(D + b) / Q_t2, Q_t2=Q_t2, Q_tt=b / Q_t2, Q_st=c / jnp.sqrt(Q_t2), result=result,
                                num_steps=stationary.num_steps, coupling=coupling, source=source,
                                prior_only=prior_only, eigenvectors=U, labels=yt, state=state)  # fmt: skip


@eqx.filter_jit
def _solve(Xs, ys, Xt, yt, *, widths, temperature, source_temperature, coupling, lambdas, activation, throw):
    source = solve_source(Xs, ys, widths=widths, temperature=source_temperature, lambdas=lambdas, activation=activation,
                          throw=throw)  # fmt: skip
    return solve_deep_target(source, Xt, yt, coupling=coupling, temperature=temperature, throw=throw)


def transfer(
    source: tuple[Float[ArrayLike, "Ps N0"], Float[ArrayLike, " Ps"]],
    target: tuple[Float[ArrayLike, "Pt N0"], Float[ArrayLike, " Pt"]],
    *,
    widths,
    temperature: Float[ArrayLike, ""],
    coupling: Float[ArrayLike, ""],
    lambdas=None,
    activation: "str | Activation" = "erf",
    action: str = "vanilla",
    source_temperature: "Float[ArrayLike, ''] | None" = None,
    throw: bool = True,
) -> DeepTransferSolution:
    """Solve the transfer theory of two-hidden-layer networks whose first layers are coupled
    (module docstring; README.md in this folder, section 12.3).

    **Arguments:**
    - `source`: (Xs, ys), inputs (Ps, N0) and labels (Ps,); `target`: (Xt, yt), (Pt, N0), (Pt,).
    - `widths`: (N1, N2), the hidden widths of both networks (each > 0, finite); L = 2 only.
    - `temperature`: the target's T_t > 0 (units of the loss 1/2 sum (y - f)^2);
      `source_temperature`: the source's T_s (default T_t).
    - `coupling`: gamma in [0, inf] of gamma/2 |W_1 - W_1~|^2 (not divided by T).
    - `lambdas`: (lambda0, lambda1, lambda2), the prior precisions of W_1, W_2 and the readout
      of both networks (default all 1).
    - `activation`: "erf", "identity" or "tanh", or a `jaxtl.kernels.Activation`.
    - `action`: "vanilla" only (the default deep action; section 12.3 says how "nested" differs).
    - `throw`: raise if a solve fails (default); with False the outcome is in `.result`.

    **Returns:** a `DeepTransferSolution` (Q_s1, Q_s2, Q_t1, Q_t2, Q_tt, Q_st, `converged`,
    `predict`, `test_error`, `benefit`). coupling = 0 is `jaxtl.deep.single_task` of the
    target. Works under `jax.jit`, `jax.vmap` and `jax.grad` (implicit differentiation, with
    respect to the widths, both temperatures, the coupling, the lambdas and the data).
    """
    Xs, ys = (_checks.finite(name, a) for name, a in zip(("Xs", "ys"), _checks.pair("source", source, "(Xs, ys)")))
    Xt, yt = (_checks.finite(name, a) for name, a in zip(("Xt", "yt"), _checks.pair("target", target, "(Xt, yt)")))
    for side, X, y in (("s", Xs, ys), ("t", Xt, yt)):
        _checks.inputs("X" + side, X, "P" + side)
        _checks.shape("y" + side, y, X.shape[:1], f"(P{side},)")
    _checks.shape("Xt", Xt, (Xt.shape[0], Xs.shape[1]), "(Pt, N0) with the N0 of Xs")
    widths = jnp.atleast_1d(_checks.positive("widths", widths))
    if widths.shape != (2,):
        raise ValueError(f"widths must be (N1, N2): jaxtl.deep.transfer has L = 2 hidden layers, got shape {widths.shape}")
    lambdas = jnp.ones(3) if lambdas is None else jnp.atleast_1d(_checks.positive("lambdas", lambdas))
    _checks.shape("lambdas", lambdas, (3,), "(3,): lambda0, lambda1, lambda2")
    temperature = _checks.positive("temperature", temperature)
    source_temperature = temperature if source_temperature is None else _checks.positive("source_temperature", source_temperature)
    coupling = _checks.interval("coupling", coupling, 0.0, jnp.inf, allow_inf=True)
    _checks.choice("action", action, ("vanilla",))
    return _solve(Xs, ys, Xt, yt, widths=widths, temperature=temperature, source_temperature=source_temperature,
                  coupling=coupling, lambdas=lambdas, activation=get_activation(activation), throw=throw)  # fmt: skip


class DeepTransfer(Theory):
    """`jaxtl.deep.transfer` as a `jaxtl.theory.Theory`, both hidden layers of one width N and
    the deeper layers and readout of one prior precision: the source (Xs, ys), the target
    (Xt, yt), the test set (X0, y0) of a task pair; the source's solve is what points share."""

    name = "deep_transfer"
    parameters = (
        Number("width", "(0, inf)", "hidden width N of both layers"),
        Number("temperature", "(0, inf)", "target temperature T_t (units of the loss 1/2 sum (y - f)^2)"),
        Number("coupling", "[0, inf]", "coupling γ of the first layers (inf: the source's first layer, kept)"),
        Number("source_temperature", "(0, inf)", "source temperature T_s (units of the loss; default: T_t)",
               fallback="temperature"),
        LAMBDA0,
        Number("lambda1", "(0, inf)", "prior precision λ of the second layer and of the readout", 1.0),
        ACTIVATION,
    )  # fmt: skip
    outputs = (
        Output("Q_s1", "source order parameter of the first layer", "1"),
        Output("Q_s2", "source order parameter of the second layer", "1"),
        Output("Q_t1", "target order parameter of the first layer", "1"),
        Output("Q_t2", "target order parameter of the second layer (readout norm)", "1"),
        Output("Q_tt", "target replica overlap Q_tt", "1"),
        Output("Q_st", "source-target overlap Q_st", "1"),
        *TARGET_OUTPUTS,
    )
    objective = "benefit"

    @staticmethod
    def _lambdas(p):
        return jnp.stack([p["lambda0"], p["lambda1"], p["lambda1"]])

    def shared(self, pair, parameters) -> DeepSource:
        p = parameters
        return solve_source(pair.Xs, pair.ys, widths=jnp.stack([p["width"], p["width"]]), temperature=p["source_temperature"],
                            lambdas=self._lambdas(p), activation=p["activation"], throw=False)  # fmt: skip

    def evaluate(self, pair, parameters, shared) -> Evaluation:
        sol = solve_deep_target(shared, pair.Xt, pair.yt, coupling=parameters["coupling"],
                                temperature=parameters["temperature"], throw=False)  # fmt: skip
        error = sol.test_error(pair.X0, pair.y0)
        benefit = sol._benefit(pair.X0, pair.y0, error.total)
        values = dict(
            Q_s1=sol.Q_s1, Q_s2=sol.Q_s2, Q_t1=sol.Q_t1, Q_t2=sol.Q_t2, Q_tt=sol.Q_tt, Q_st=sol.Q_st,
            test_error=error.total, bias2=error.bias2, variance=error.variance,
            benefit=benefit.total, benefit_prior=benefit.prior, benefit_source=benefit.source,
        )  # fmt: skip
        return Evaluation(values, sol.result, sol.num_steps)
