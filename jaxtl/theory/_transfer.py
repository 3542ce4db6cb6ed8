"""The Franz-Parisi transfer theory (README.md in this folder, section 4; arXiv 2407.07168).

A target network whose first layer is coupled with strength gamma to a source network sampled
from its own posterior. The source is quenched: its order parameter Q_s is the single-task Q*
of the source data. The target's order parameters (Q_t, Q_tt, Q_st) make the Franz-Parisi
potential stationary,

    V = Q_t - log(Q_t - Q_tt) - (Q_tt - Q_st^2/Q_s) / (Q_t - Q_tt)
        + (1/N1) [ log det M + r^T M^{-1} r + Tr(M^{-1} S_g) ],

with M = C_e + T I, C_e = (Q_t K_tt - Q_tt K_tt') / lambda1, r = y_t - m_g,
m_g = Q_st u, S_g = (Q_tt/lambda1) K_tt' - Q_st^2 B, u = K_ts A_s^{-1} y_s / lambda1,
B = K_ts A_s^{-1} K_st / lambda1^2 and A_s = (Q_s/lambda1) K_ss + T I.

How it is solved (all in float64):

- The four kernels come from `gram` with the weight moments of `_moments` (no other kernel code).
- The source solve, the eigendecomposition of the target kernel K_tt = U diag(k) U^T (from the
  single-task solve with the prior changed by the coupling, which also gives the starting point)
  and everything built from the source (u, B) are done once, outside the root find; under
  `jax.vmap` over target labels or parameters they are not repeated where they do not change.
- V is quadratic in Q_st, so Q_st is eliminated in closed form (`_source_overlap`); the root of
  the gradient of the reduced potential in x = (log(Q_t - Q_tt), Q_tt) is the solution. The
  stationary point is a saddle in general, not a minimum.
- Each gradient evaluation costs one inverse of the Pt x Pt matrix M (by Schur complements,
  `_linalg.inv`) and two Pt x Pt products (`_gradient`), written in the eigenbasis of K_tt,
  where K_tt is diagonal; the Jacobian is in closed form too (`_gradient_and_jacobian`): two
  more products, sharing W.
- The root is found in three stages (README.md in this folder, section 6.4): the root of the
  potential to second order in the off-diagonal parts of K_tt' and B in that basis
  (`_perturbative_potential`: no inverse, three products of fixed matrices with vectors a
  step), then chord steps from there with that problem's Jacobian, each an exact gradient
  alone (one or two, typically), and globalized Newton (`_solve.stationary_point`) from the
  ordinary start wherever the chord does not end at a root. The inverse and its products at
  the root come back with it (`TargetInverse`): Q_st, the predictor and the test error reuse
  them.
- The test error is a sum of traces of M^{-1} with the means of the test kernels over the test
  points (`test_error_of`, `TestMoments`), not a mean of the predictor's variances point by
  point.

Physical domain. The order parameters are overlaps of readout vectors: Q_s = lambda1 |v_s|^2/N1,
Q_t = lambda1 |v_t|^2/N1, Q_tt = lambda1 <v_t> . <v_t>/N1 for two target replicas coupled to the
same source sample, Q_st = lambda1 v_s . <v_t>/N1. The target replicas are independent given the
source, so Q_tt is the squared norm of the mean readout, and (v_s, <v_t>) has the Gram matrix
((Q_s, Q_st), (Q_st, Q_tt)): a root is physical only if

    Q_t > Q_tt >= 0   and   Q_s Q_tt >= Q_st^2.

Q_t > Q_tt holds by the coordinate log(Q_t - Q_tt). Two more conditions follow from these:
C_e = ((Q_t - Q_tt) K_tt + Q_tt (K_tt - K_tt'))/lambda1 is positive semidefinite, since
K_tt - K_tt' is the kernel of the conditional covariance of a unit's output given the weights'
shared part, so M = C_e + T I is positive definite; and S_g is the Schur complement of the
covariance of (source outputs, g), the entrywise product of the Gram matrix above with the
positive semidefinite block kernel of (source unit, shared part of a target unit), so it is
positive semidefinite. The predictor's variances are then variances of Gaussian fields and not
negative. `_physical` checks the overlaps, M (Cholesky) and S_g (Cholesky, shifted by 1e-8 of
its scale) at every root, and reports the first failure as its own outcome (`jaxtl.RESULTS`):
`converged` means a physical root, and a failed point gives NaN predictions.

The equations have unphysical roots too (Q_tt < 0, Q_st^2 > Q_s Q_tt) at small width and strong
coupling, where plain Newton from the prior-only point lands on them. Two things keep the solve
on the physical one: the start (`starting_point`), which interpolates between the known roots at
gamma = 0 and gamma = inf, and the backtracking, which keeps an iterate in the basin it started
in (benchmarks/domain.py maps both over width and coupling).
- Source: README.md in this folder, section 4 (this repository's own derivation). The paper (arXiv 2407.07168, PRL 134, 177301) could be read only
  as far as its abstract and first paragraph of the introduction (all the search tool
  holds); they agree with this module (no transfer at infinite width; transfer through a
  renormalized source-target kernel in the proportional limit). No equation could be compared.
"""

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, Int

from .. import _checks
from ._activation import Activation, get_activation
from ._kernel import gram, gram_diag
from ._linalg import inv, positive_definite
from .._repr import Readable
from ._result import Prediction, TestError, TheorySolution
from ._protocol import Evaluation, Number, Output, Theory
from ._single_task import (
    ACTIVATION, LAMBDA0, LAMBDA1, WIDTH, SingleTaskSolution, SingleTaskState, order_parameter, solve_single_task,
)
from ._solve import RESULTS, first_failure, raise_if_failed, stationary_point


def _moments(coupling, lambda0):
    """Weight moments induced by the coupling gamma (README.md in this folder, section 4.2):
    target variance v_t = 1/(lambda0+gamma) + gamma^2/(lambda0 (lambda0+gamma)^2),
    source-target covariance c_st = gamma/(lambda0 (lambda0+gamma)), covariance of two target
    replicas c_tt = gamma^2/(lambda0 (lambda0+gamma)^2). gamma = inf is its limit (all three
    equal 1/lambda0), computed exactly; the derivative in gamma is finite for gamma in [0, inf).
    """
    infinite = jnp.isinf(coupling)
    safe = jnp.where(infinite, 1.0, coupling)
    share = jnp.where(infinite, 1.0, safe / (lambda0 + safe))  # gamma / (lambda0 + gamma)
    return 1 / (lambda0 + coupling) + share**2 / lambda0, share / lambda0, share**2 / lambda0


def _inverse(M):
    """M^{-1} of the symmetric positive-definite target matrix (`_linalg.inv`, symmetrized)."""
    W = inv(M)
    return (W + W.T) / 2


def _trace_product(A, B):
    """Tr(A B) without forming the product."""
    return jnp.sum(A * B.T)


class TargetState(eqx.Module):
    """What the Franz-Parisi potential depends on besides (Q_t, Q_tt, Q_st): everything built
    from the source's solve and the target inputs, once per solve, in the eigenbasis of the
    target kernel K_tt = U diag(k) U^T (README.md in this folder, section 4). It is the `args`
    of the root find (implicit differentiation reaches every field) and is kept in the
    `TransferSolution`, so that prediction reuses its kernels.

    - `eigenvalues`: k, shape (Pt,).
    - `replica_kernel`: U^T K_tt' U, the kernel of two target replicas, shape (Pt, Pt).
    - `cross_kernel`: U^T K_ts U_s, the target-source kernel between the eigenbases of K_tt and
      of the source kernel K_ss = U_s diag(k_s) U_s^T, shape (Pt, Ps).
    - `source_field`: U^T u, u = K_ts A_s^{-1} y_s / lambda1, shape (Pt,).
    - `source_covariance`: U^T B U, B = K_ts A_s^{-1} K_st / lambda1^2, shape (Pt, Pt).
    - `labels`: U^T y_t, shape (Pt,).
    - `Q_s`, `temperature` (T), `lambda1`, `inv_width` (1/N1): scalars.
    - `width_ratio`: r = N1/N2 when a second hidden layer of width N2 sits between the first
      layer and the readout (`jaxtl.deep.transfer`, README.md in this folder, section 12.3): its
      order parameter is eliminated into the readout term of V (`_readout_term`); 0 for one
      hidden layer, where that term is Q_t.
    """

    eigenvalues: Float[Array, " Pt"]
    replica_kernel: Float[Array, "Pt Pt"]
    cross_kernel: Float[Array, "Pt Ps"]
    source_field: Float[Array, " Pt"]
    source_covariance: Float[Array, "Pt Pt"]
    labels: Float[Array, " Pt"]
    Q_s: Float[Array, ""]
    temperature: Float[Array, ""]
    lambda1: Float[Array, ""]
    inv_width: Float[Array, ""]
    width_ratio: Float[Array, ""]


def _second_layer_order_parameter(Q_t, r):
    """Q_2(a), the positive root of Q^2 + (r - 1) Q - r a = 0 at a = Q_t, and dQ_2/da
    (README.md in this folder, section 12.3). r = 0: Q_2 = 1, the one-layer readout."""
    s = jnp.sqrt((1 - r) ** 2 + 4 * r * Q_t)
    # (1 - r + s)/2, rewritten as 2 r a / (s - (1 - r)) where 1 - r < 0 (no cancellation)
    Q2 = jnp.where(r > 1, 2 * r * Q_t / jnp.where(r > 1, s - (1 - r), 1.0), (1 - r + s) / 2)
    return Q2, r / (2 * Q2 + r - 1)


def _readout_term(Q_t, r):
    """The readout term e(Q_t) of V and its first two derivatives (README.md in this folder,
    section 12.3): with a second hidden layer of width N2 = N1/r, its order parameter Q_2 and
    Q_t = Q_1 Q_2 (Q_1 the first layer's), e = min over Q_2 of Q_1 + log Q_2 + (1/r)(Q_2 - log Q_2)
    (the log Q_2 from log(Q_1 - Q_tt) = log(Q_t - Q_tt) - log Q_2), up to a constant, which
    gives e' = 1/Q_2(Q_t), e'' = -Q_2'/Q_2^2; r = 0: e = Q_t, e' = 1, e'' = 0.
    In closed form e = a/Q_2 + (1/r)(Q_2 - 1) + (1 - 1/r) log Q_2, where (Q_2 - 1)/r = a/Q_2 - 1
    and log(Q_2)/r = (a/Q_2 - 1) log1p(x)/x with x = Q_2 - 1 (finite at r = 0)."""
    Q2, dQ2 = _second_layer_order_parameter(Q_t, r)
    x = Q2 - 1
    safe = jnp.where(x == 0, 1.0, x)
    log_ratio = jnp.where(x == 0, 1.0, jnp.log1p(safe) / safe)  # log1p(x)/x
    excess = Q_t / Q2 - 1  # (Q_2 - 1)/r
    return Q_t / Q2 + excess + jnp.log(Q2) - excess * log_ratio, 1 / Q2, -dQ2 / Q2**2


def _target_matrix(D, Q_tt, state: TargetState):
    """M = C_e + T I in the eigenbasis of K_tt: ((D + Q_tt) diag(k) - Q_tt K_tt') / lambda1 + T I,
    with D = Q_t - Q_tt."""
    diagonal = (D + Q_tt) * state.eigenvalues / state.lambda1 + state.temperature
    return jnp.diag(diagonal) - (Q_tt / state.lambda1) * state.replica_kernel


def _field_covariance(Q_tt, Q_st, state: TargetState):
    """S_g = (Q_tt/lambda1) K_tt' - Q_st^2 B on the target training points, eigenbasis of K_tt:
    the covariance of the source-informed field g."""
    return (Q_tt / state.lambda1) * state.replica_kernel - Q_st**2 * state.source_covariance


def _source_overlap(inverse: "TargetInverse", D, state: TargetState):
    """The Q_st at which V is stationary in Q_st for given (Q_t, Q_tt), and V_qq = d^2V/dQ_st^2.
    V is quadratic in Q_st, with W = M^{-1} (`inverse`):
    dV/dQ_st = 2 Q_st / (Q_s D) - (2/N1) [u^T W (y - Q_st u) + Q_st Tr(W B)]."""
    Wu = inverse.W @ state.source_field
    V_qq = 2 / (state.Q_s * D) + 2 * state.inv_width * (state.source_field @ Wu - jnp.trace(inverse.WB))
    return 2 * state.inv_width * (Wu @ state.labels) / V_qq, V_qq


def _potential(x, state: TargetState):
    """The Franz-Parisi potential V of the module docstring at x = (log(Q_t - Q_tt), Q_tt, Q_st),
    its first term Q_t replaced by `_readout_term` (the same at `width_ratio` 0)."""
    D, Q_tt, Q_st = jnp.exp(x[0]), x[1], x[2]
    M = _target_matrix(D, Q_tt, state)
    W = _inverse(M)
    r = state.labels - Q_st * state.source_field
    data = jnp.linalg.slogdet(M)[1] + r @ W @ r + _trace_product(W, _field_covariance(Q_tt, Q_st, state))
    readout = _readout_term(D + Q_tt, state.width_ratio)[0]
    return readout - x[0] - (Q_tt - Q_st**2 / state.Q_s) / D + state.inv_width * data


class TargetInverse(eqx.Module):
    """M^{-1} and its two products that the gradient of V needs, in the eigenbasis of K_tt, at
    one point (D, Q_tt): `W` = M^{-1}, `WR` = W K_tt', `WB` = W B, each (Pt, Pt). The target
    solve returns them at its root (`_gradient`'s auxiliary output, `Stationary.aux`), where the
    source overlap, the predictor and the test error reuse them (`_at_root`)."""

    W: Float[Array, "Pt Pt"]
    WR: Float[Array, "Pt Pt"]
    WB: Float[Array, "Pt Pt"]


def _target_inverse(D, Q_tt, state: TargetState) -> TargetInverse:
    """`TargetInverse` at (D, Q_tt): one inverse and two products."""
    W = _inverse(_target_matrix(D, Q_tt, state))
    return TargetInverse(W, W @ state.replica_kernel, W @ state.source_covariance)


@jax.custom_jvp
def _at_root(D, Q_tt, state: TargetState, known: TargetInverse) -> TargetInverse:
    """`_target_inverse(D, Q_tt, state)`, given as `known` (computed at that very point by the
    solve, without derivatives), with the derivatives of the inverse and its products:
    dW = -W dM W, d(W K') = dW K' + W dK', d(W B) = dW B + W dB."""
    return known


@_at_root.defjvp
def _at_root_jvp(primals, tangents):
    D, Q_tt, state, known = primals
    dD, dQ_tt, dstate, _ = tangents
    root = _at_root(D, Q_tt, state, known)  # W with its own rule: derivatives of any order
    W = root.W
    dM = jax.jvp(_target_matrix, (D, Q_tt, state), (dD, dQ_tt, dstate))[1]
    dW = -W @ dM @ W
    dWR = dW @ state.replica_kernel + W @ dstate.replica_kernel
    dWB = dW @ state.source_covariance + W @ dstate.source_covariance
    return root, TargetInverse(dW, dWR, dWB)


class _GradientTerms(eqx.Module):
    """What the gradient of the reduced potential (`_gradient_terms`) computes and its Jacobian
    reuses: Q_st* = q and V_qq (`_source_overlap`), W u, K w and K' w with w = W r, and W S_g."""

    gradient: Float[Array, " 2"]
    q: Float[Array, ""]
    V_qq: Float[Array, ""]
    Wu: Float[Array, " Pt"]
    Kw: Float[Array, " Pt"]
    Rw: Float[Array, " Pt"]
    WS: Float[Array, "Pt Pt"]


def _gradient_terms(x, state: TargetState, inverse: TargetInverse) -> _GradientTerms:
    """The gradient of `_gradient_and_jacobian`, (D dV/dD, dV/dQ_tt), from the `TargetInverse`
    at x; no product beyond those of `inverse`, and the traces with S_g = a K' - q^2 B
    (a = Q_tt/lambda1) through W S_g = a W K' - q^2 W B (entrywise, no product): with W
    symmetric, Tr(W K W S_g) = k . rowsum(W o (W S_g)) and Tr(W K' W S_g) = sum((W K') o (W S_g)^T)."""
    k, lambda1 = state.eigenvalues, state.lambda1
    D, Q_tt = jnp.exp(x[0]), x[1]
    W, WR, WB = inverse.W, inverse.WR, inverse.WB
    q, V_qq = _source_overlap(inverse, D, state)
    Wu = W @ state.source_field
    w = W @ state.labels - q * Wu  # W r
    Kw, Rw = k * w, w @ state.replica_kernel  # K' w (K' symmetric), vector first
    WS = (Q_tt / lambda1) * WR - q**2 * WB  # W S_g (`_field_covariance`), one pass with the traces
    trace_WK = jnp.sum(jnp.diag(W) * k)
    g_K = w @ Kw + k @ jnp.sum(W * WS, axis=1)  # Tr(W K W Sigma)
    g_R = w @ Rw + _trace_product(WR, WS)  # Tr(W K' W Sigma)
    scale = state.inv_width / lambda1
    e1 = _readout_term(D + Q_tt, state.width_ratio)[1]  # 1 with one hidden layer
    V_D = e1 - 1 / D + (Q_tt - q**2 / state.Q_s) / D**2 + scale * (trace_WK - g_K)
    V_Q = e1 - 1 / D + scale * (trace_WK - g_K + g_R)
    return _GradientTerms(jnp.stack([D * V_D, V_Q]), q, V_qq, Wu, Kw, Rw, WS)


def _gradient(x, state: TargetState) -> tuple[Float[Array, " 2"], TargetInverse]:
    """The gradient of `_gradient_and_jacobian` alone (one inverse and two products), with the
    `TargetInverse` it was computed from: the chord steps of the solve (`_solve.py`)."""
    inverse = _target_inverse(jnp.exp(x[0]), x[1], state)
    return _gradient_terms(x, state, inverse).gradient, inverse


def _gradient_and_jacobian(x, state: TargetState):
    """The gradient of the reduced potential V(x, Q_st*(x)) in x = (log D, Q_tt), D = Q_t - Q_tt,
    Q_st* = `_source_overlap`, and its Jacobian, in closed form from one inverse W = M^{-1}:
    one Pt x Pt inverse and four Pt x Pt products per evaluation (README.md in this folder,
    section 4.4). With Sigma = r r^T + S_g and K = K_tt = diag(k) in this basis, the gradient is

        dV/dD    = 1 - 1/D + (Q_tt - Q_st^2/Q_s)/D^2 + [Tr(W K) - Tr(W K W Sigma)] / (N1 lambda1)
        dV/dQ_tt = 1 - 1/D + [Tr(W K) - Tr(W K W Sigma) + Tr(W K' W Sigma)] / (N1 lambda1)

    (the terms Tr(W K') from log det M and from Tr(M^{-1} S_g) cancel; with a second hidden
    layer the leading 1 of both is e'(Q_t) of `_readout_term`, and e''(Q_t) adds to every
    entry of the Hessian of V in (D, Q_tt)), returned as
    (D dV/dD, dV/dQ_tt). With q = Q_st, X_D = dM/dD = K/lambda1, X_Q = dM/dQ_tt = (K - K')/lambda1
    and dW = -W dM W, the second derivatives of N1 times the data term of V are

        f_ij = -Tr(W X_i W X_j) + 2 Tr(W X_i W X_j W Sigma) - [j=Q] Tr(W X_i W K')/lambda1
               - [i=Q] Tr(W X_j W K')/lambda1,
        f_iq = 2 (W u)^T X_i W r + 2 q Tr(W X_i W B),    f_qq = 2 u^T W u - 2 Tr(W B),

    (i, j in {D, Q_tt}); with the prior part they give the Hessian of V in (D, Q_tt, q). V is
    quadratic in q and q is eliminated at its stationary value, so the Jacobian of the reduced
    gradient is the Schur complement V_xx - V_xq V_qx / V_qq, then changed to x = (log D, Q_tt).
    The triple traces Tr(W a W b W S_g) (a, b in {K, K'}) need G = W S_g W and (W K')^2.
    """
    k, K_rep, B = state.eigenvalues, state.replica_kernel, state.source_covariance
    Q_s, lambda1, inv_width = state.Q_s, state.lambda1, state.inv_width
    D, Q_tt = jnp.exp(x[0]), x[1]
    inverse = _target_inverse(D, Q_tt, state)
    terms = _gradient_terms(x, state, inverse)
    W, WR, WB, q = inverse.W, inverse.WR, inverse.WB, terms.q
    WK, WS = W * k, terms.WS
    G = WS @ W  # W S_g W
    G = (G + G.T) / 2
    WR2 = WR @ WR
    WKw, WRw = W @ terms.Kw, W @ terms.Rw
    Kw, Rw = terms.Kw, terms.Rw

    tr = _trace_product
    # Tr(W a W b), Tr(W a W b W Sigma), (W u)^T a W r and Tr(W a W B) for a, b in {K, K'}:
    t_KK, t_KR, t_RR = tr(WK, WK), tr(WK, WR), tr(WR, WR)
    s_KK = Kw @ WKw + jnp.sum(k[:, None] * W * k[None, :] * G)
    s_KR = Kw @ WRw + jnp.sum(k[:, None] * WR * G.T)
    s_RR = Rw @ WRw + tr(WR2, WS)
    h_K, h_R = terms.Wu @ Kw, terms.Wu @ Rw
    m_K, m_R = tr(WK, WB), tr(WR, WB)

    excess = Q_tt - q**2 / Q_s
    e2 = _readout_term(D + Q_tt, state.width_ratio)[2]  # 0 with one hidden layer
    scale = inv_width / lambda1
    # Hessian of V in (D, Q_tt) at fixed q: X_D, X_Q have coefficients (1, 0), (1, -1) on (K, K').
    T = jnp.array([[t_KK, t_KR], [t_KR, t_RR]])
    E = jnp.array([[s_KK, s_KR], [s_KR, s_RR]])
    C = jnp.array([[1.0, 0.0], [1.0, -1.0]])
    v = C @ T[:, 1]  # Tr(W X_i W K') lambda1^2
    f = -C @ T @ C.T + 2 * C @ E @ C.T
    f = f - jnp.array([[0.0, v[0]], [v[0], 2 * v[1]]])
    prior = jnp.array([[1 / D**2 - 2 * excess / D**3, 1 / D**2], [1 / D**2, 0.0]]) + e2
    V_xx = prior + (inv_width / lambda1**2) * f
    V_xq = jnp.array([-2 * q / (Q_s * D**2), 0.0]) + 2 * scale * (C @ (jnp.stack([h_K, h_R]) + q * jnp.stack([m_K, m_R])))
    H = V_xx - jnp.outer(V_xq, V_xq) / terms.V_qq
    gradient = terms.gradient
    D_V_D = gradient[0]  # D dV/dD
    jacobian = jnp.array([[D_V_D + D**2 * H[0, 0], D * H[0, 1]], [D * H[1, 0], H[1, 1]]])
    return gradient, jacobian


class Expansion(eqx.Module):
    """What the presolve (`_perturbative_terms`) needs of K_tt' and B in the eigenbasis of
    K_tt, built once per solve from the `TargetState`: their diagonals d_R and d_B (Pt,), the
    off-diagonal part E of K_tt' and the entrywise products E o E and E o E_B (Pt, Pt), E_B the
    off-diagonal part of B."""

    state: TargetState
    replica_diagonal: Float[Array, " Pt"]
    source_diagonal: Float[Array, " Pt"]
    off_diagonal: Float[Array, "Pt Pt"]
    squares: Float[Array, "Pt Pt"]
    mixed: Float[Array, "Pt Pt"]

    @classmethod
    def of(cls, state: TargetState) -> "Expansion":
        d_R, d_B = jnp.diag(state.replica_kernel), jnp.diag(state.source_covariance)
        E = state.replica_kernel - jnp.diag(d_R)
        return cls(state, d_R, d_B, E, E * E, E * (state.source_covariance - jnp.diag(d_B)))


def _perturbative_potential(x, Q_st, expansion: Expansion):
    """V of the module docstring at x = (log(Q_t - Q_tt), Q_tt) and Q_st, to second order in the
    off-diagonal parts E of K_tt' and E_B of B in the eigenbasis of K_tt (README.md in this
    folder, section 6.4), without an inverse: three products of Pt x Pt matrices that do not
    depend on x (E, E o E, E o E_B) with vectors. There M = Dm^{1/2} (I - F) Dm^{1/2} with Dm =
    diag(m) the diagonal of M, F = a Dm^{-1/2} E Dm^{-1/2} (a = Q_tt/lambda1; F has a zero
    diagonal) and M^{-1} = Dm^{-1/2} (I + F + F^2 + ...) Dm^{-1/2}, so that

        log det M       = sum_i log m_i - Tr(F^2)/2,
        r^T M^{-1} r    = |rho|^2 + rho^T F rho + |F rho|^2,            rho = Dm^{-1/2} r,
        Tr(M^{-1} S_g)  = sum_i s_i/m_i + Tr(F S~) + sum_i (F^2)_ii s_i/m_i,

    with S~ = Dm^{-1/2} S_g Dm^{-1/2} and s = diag(S_g); in terms of w = 1/m and z = r/m,
    Tr(F^2) = a^2 w.(E o E)w, rho^T F rho = a z.Ez, |F rho|^2 = a^2 sum_i w_i (Ez)_i^2,
    Tr(F S~) = a^2 w.(E o E)w - a Q_st^2 w.(E o E_B)w, (F^2)_ii = a^2 w_i ((E o E)w)_i. What is
    left out is of third order in the off-diagonal parts (Tr F^3, rho^T F^3 rho, the
    off-diagonal part of Tr(F^2 S~))."""
    D, Q_tt = jnp.exp(x[0]), x[1]
    state, E, EE, EB = expansion.state, expansion.off_diagonal, expansion.squares, expansion.mixed  # o: entrywise
    rep_diagonal, source_diagonal = expansion.replica_diagonal, expansion.source_diagonal
    a = Q_tt / state.lambda1
    m = (D + Q_tt) * state.eigenvalues / state.lambda1 - a * rep_diagonal + state.temperature
    w = 1 / m
    r = state.labels - Q_st * state.source_field
    z = r * w
    Ez, EEw, EBw = z @ E, w @ EE, w @ EB  # E, E o E, E o E_B symmetric: the vector first
    s = a * rep_diagonal - Q_st**2 * source_diagonal
    log_det = jnp.sum(jnp.log(m)) - a**2 * (w @ EEw) / 2
    quadratic = r @ z + a * (z @ Ez) + a**2 * (w @ Ez**2)
    trace = s @ w + a**2 * (w @ EEw) - a * Q_st**2 * (w @ EBw) + a**2 * ((s * w**2) @ EEw)
    readout = _readout_term(D + Q_tt, state.width_ratio)[0]
    return readout - x[0] - (Q_tt - Q_st**2 / state.Q_s) / D + state.inv_width * (log_det + quadratic + trace)


def _perturbative_terms(x, expansion: Expansion):
    """The gradient (D dV/dD, dV/dQ_tt) of the reduced `_perturbative_potential` at x =
    (log D, Q_tt), D = Q_t - Q_tt, and its Q_st*, in closed form (README.md in this folder,
    section 6.4): seven products of fixed Pt x Pt matrices with vectors, no inverse.

    With w = 1/m, z = r w, e = E z, g = (E o E) w and s the diagonal of S_g, N1 times the data
    term of `_perturbative_potential` is, term by term,
        sum log m + (a^2/2) w.g + r.z + a z.e + a^2 w.e^2 + s.w - a q^2 w.(E o E_B)w + a^2 (s w^2).g
    (q = Q_st). It is quadratic in q (r = y - q u, s = a d_R - q^2 d_B): with z_y = y w,
    z_u = u w and e_y, e_u their products with E, V = c0 + c1 q + c2 q^2 gives q* = -c1/(2 c2).
    At q* the reduced gradient is the partial one, at fixed q: m = D k/lambda1 + a (k - d_R) + T
    depends on x through D and a = Q_tt/lambda1, and dw/dm = -w^2, dz/dm = -z w."""
    state, E, G, H = expansion.state, expansion.off_diagonal, expansion.squares, expansion.mixed
    d_R, d_B, k, l1, n = expansion.replica_diagonal, expansion.source_diagonal, state.eigenvalues, state.lambda1, state.inv_width
    y, u = state.labels, state.source_field
    D, Q_tt = jnp.exp(x[0]), x[1]
    a = Q_tt / l1
    m = D * k / l1 + a * (k - d_R) + state.temperature
    w = 1 / m
    zy, zu = y * w, u * w
    ey, eu = jnp.stack([zy, zu]) @ E  # E, E o E, E o E_B symmetric: the vectors first
    g, gR, gB = jnp.stack([w, d_R * w**2, d_B * w**2]) @ G
    h = w @ H
    c1 = -2 * n * (zy @ u + a * (zu @ ey) + a**2 * (w @ (ey * eu)))
    c2 = 1 / (state.Q_s * D) + n * (zu @ u + a * (zu @ eu) + a**2 * (w @ eu**2) - d_B @ w - a * (w @ h) - a**2 * (d_B * w**2) @ g)
    q = -c1 / (2 * c2)
    z, e, s = zy - q * zu, ey - q * eu, a * d_R - q**2 * d_B
    f = (w * e) @ E
    Gs = a * gR - q**2 * gB  # (E o E)(s w^2)
    data_m = (w - a**2 * g * w**2 - z**2 - 2 * a * e * z * w - a**2 * (w * e) ** 2 - 2 * a**2 * f * z * w - s * w**2
              + 2 * a * q**2 * h * w**2 - a**2 * w**2 * (2 * s * w * g + Gs))  # fmt: skip
    data_a = (a * (w @ g) + z @ e + 2 * a * (w @ e**2) + d_R @ w - q**2 * (w @ h) + 2 * a * ((s * w**2) @ g)
              + a**2 * ((d_R * w**2) @ g))  # fmt: skip
    e1 = _readout_term(D + Q_tt, state.width_ratio)[1]  # 1 with one hidden layer
    V_D = e1 - 1 / D + (Q_tt - q**2 / state.Q_s) / D**2 + n * (data_m @ k) / l1
    V_Q = e1 - 1 / D + n * (data_m @ (k - d_R) + data_a) / l1
    return jnp.stack([D * V_D, V_Q]), q


def _perturbative_gradient_and_jacobian(x, expansion: Expansion):
    """The presolve's gradient (`_perturbative_terms`) and its Jacobian (forward mode)."""

    def gradient(x):
        g = _perturbative_terms(x, expansion)[0]
        return g, g  # the Jacobian of the first, the value of the second

    jacobian, g = jax.jacfwd(gradient, has_aux=True)(x)
    return g, jacobian


def _perturbative_physical(x, expansion: Expansion):
    """Whether the overlaps at the presolve's root x are physical (module docstring, "Physical
    domain": Q_tt >= 0 and Q_s Q_tt >= Q_st^2, with the presolve's Q_st); a root that is not
    is no guide to the physical one."""
    return _overlaps_physical(expansion.state.Q_s, x[1], _perturbative_terms(x, expansion)[1])


class TransferBenefit(Readable):
    """The transfer benefit on a test set, in labels squared: error at gamma = 0 minus error at
    gamma (positive: transfer helps), split into two parts that add up to `total`:

    - `prior`: from the coupling's change of the target's first-layer prior alone (v_t instead
      of 1/lambda0, with the source-target terms off: Q_st = Q_tt = 0). It is there even when
      the source carries no information; it is not transfer.
    - `source`: carried by the renormalized source-target kernel (Q_st/lambda1) K_st, the
      difference between the prior-only error and the full error.
    """

    total: Float[Array, ""]
    prior: Float[Array, ""]
    source: Float[Array, ""]

    @classmethod
    def of(cls, uncoupled, prior_only, coupled) -> "TransferBenefit":
        """The split of the test errors at gamma = 0 (`uncoupled`), of the prior-only reference
        and at gamma (`coupled`)."""
        return cls(uncoupled - coupled, uncoupled - prior_only, prior_only - coupled)


class TransferSolution(TheorySolution):
    """The solved transfer theory: order parameters, status, predictor, benefit.

    **Attributes:**
    - `Q_t`, `Q_tt`, `Q_st` (dimensionless): the target's readout norm, the overlap of two
      target replicas coupled to the same source sample, and the source-target overlap. Their
      network counterparts: lambda1 |v_t|^2/N1, lambda1 <v_t>_1 . <v_t>_2 / N1,
      lambda1 v_s . v_t / N1. `Q_s` is the source's, `source.Q`.
    - `result`, `num_steps`, `converged`: how the solve ended (`jaxtl.RESULTS`): converged
      means the source, the prior-only reference and the target all reached a stationary point
      and the target's is physical (module docstring, "Physical domain"); otherwise `result`
      names the first failure, and `predict`, `test_error` and `benefit` give NaN.
    - `coupling` (gamma).
    - `source`: the single-task solution of the source data at the source's temperature T_s
      (Q_s, kernel eigendecomposition); width, `lambda0` (the first-layer prior precision),
      lambda1 and activation are its, and `source_temperature` is its temperature.
    - `prior_only`: the single-task solution of the target data at the target's temperature
      `temperature` (T_t), with the first-layer prior changed by the coupling and no
      source-target terms; the reference of the benefit split.
      Its `lambda0` is therefore 1/v_t, the coupled target's effective first-layer precision
      (README.md in this folder, section 4), not the `lambda0` of this solution.
    - `labels`: the target training labels y_t, shape (Pt,).
    - `state`: the kernels the target solve was built from (`TargetState`), reused by `predict`.
    - `inverse`: M^{-1} and its products at the root (`TargetInverse`), reused by `predict` and
      `test_error`; meaningful only where converged (elsewhere they are those of the point the
      search stopped at).
    """

    Q_t: Float[Array, ""]
    Q_tt: Float[Array, ""]
    Q_st: Float[Array, ""]
    result: RESULTS
    num_steps: Int[Array, ""]
    coupling: Float[Array, ""]
    source: SingleTaskSolution
    prior_only: SingleTaskSolution
    labels: Float[Array, " Pt"]
    state: TargetState
    inverse: TargetInverse
    _shown = ("Q_s", "Q_t", "Q_tt", "Q_st", "converged", "result", "width", "temperature", "source_temperature", "coupling", "lambda0", "lambda1", "activation")

    @property
    def Q_s(self) -> Float[Array, ""]:
        """The source's order parameter (its single-task Q*)."""
        return self.source.Q

    @property
    def width(self) -> Float[Array, ""]:
        return self.source.width

    @property
    def temperature(self) -> Float[Array, ""]:
        """The target's temperature T_t."""
        return self.prior_only.temperature

    @property
    def source_temperature(self) -> Float[Array, ""]:
        """The source's temperature T_s."""
        return self.source.temperature

    @property
    def lambda0(self) -> Float[Array, ""]:
        """The first-layer prior precision of both networks (the source's)."""
        return self.source.lambda0

    @property
    def lambda1(self) -> Float[Array, ""]:
        return self.source.lambda1

    @property
    def activation(self) -> Activation:
        return self.source.activation

    def predict(self, X0: Float[ArrayLike, "P0 N0"]) -> Prediction:
        """Mean and variance of the target network's output on test inputs X0 (P0, N0).

        README.md in this folder, section 4.5: for a shared source-informed field g ~ N(m_g, S_g),
        f(x0 | g) = g(x0) + c0^T M^{-1} (y_t - g(X_t)) with c0 = C_e(X_t, x0) and variance
        C_e(x0, x0) - c0^T M^{-1} c0; the mean and variance here are over g and that variance.
        """
        return _predict(self, self._inputs("X0", X0, "(P0, N0)")).only_if(self.converged)

    def test_error(self, X0: Float[ArrayLike, "P0 N0"], y0: Float[ArrayLike, " P0"]) -> TestError:
        """Test error on (X0, y0), the mean over x0 of (y0 - mean)^2 + variance of `predict`,
        computed without the variances point by point (`test_error_of`). NaN unless converged."""
        X0 = self._inputs("X0", X0, "(P0, N0)")
        y0 = _checks.finite("y0", y0)
        _checks.shape("y0", y0, X0.shape[:1], "(P0,)")
        return jax.tree.map(lambda a: a * jnp.where(self.converged, 1.0, jnp.nan), _test_error(self, X0, y0))

    def benefit(self, X0: Float[ArrayLike, "P0 N0"], y0: Float[ArrayLike, " P0"]) -> TransferBenefit:
        """The transfer benefit on (X0, y0), split into its prior and source parts
        (`TransferBenefit`). The gamma = 0 reference is the single-task theory of the target."""
        return benefit_given_error(self, X0, y0, self.test_error(X0, y0).total)

    def effective_kernel(self, X1: Float[ArrayLike, "P1 N0"], X2: "Float[ArrayLike, 'P2 N0'] | None" = None) -> Float[Array, "P1 P2"]:
        """The renormalized target kernel C_e(x1, x2) = (Q_t K_tt(x1, x2) - Q_tt K_tt'(x1, x2)) / lambda1
        between inputs X1 (P1, N0) and X2 (P2, N0) (default X1), in units of labels^2: the
        covariance of a target replica's own part (README.md in this folder, section 4.8);
        `effective_kernel(Xt) + T_t I` is the matrix M of the target's predictor. NaN unless
        converged."""
        X1, X2 = self._inputs("X1", X1), self._inputs("X2", X1 if X2 is None else X2)
        v_t, _, c_tt = _moments(self.coupling, self.lambda0)
        own = gram(X1, X2, var1=v_t, var2=v_t, cov=v_t, activation=self.activation)
        replica = gram(X1, X2, var1=v_t, var2=v_t, cov=c_tt, activation=self.activation)
        return jnp.where(self.converged, (self.Q_t * own - self.Q_tt * replica) / self.lambda1, jnp.nan)

    def source_target_kernel(self, X: Float[ArrayLike, "P N0"], Xs: "Float[ArrayLike, 'Ps N0'] | None" = None) -> Float[Array, "P Ps"]:
        """The renormalized source-target kernel (Q_st / lambda1) K_ts(x, x_s) between target
        inputs X (P, N0) and source inputs Xs (default: the source's training inputs, (Ps, N0)),
        in units of labels^2: the covariance of a target network's output with the source
        network's, the one channel through which the source's labels reach the target
        (README.md in this folder, section 4.8). Zero at gamma = 0 and at infinite width. NaN
        unless converged."""
        X, Xs = self._inputs("X", X), self._inputs("Xs", self.source.inputs if Xs is None else Xs)
        v_t, c_st, _ = _moments(self.coupling, self.lambda0)
        K_ts = gram(X, Xs, var1=v_t, var2=1 / self.lambda0, cov=c_st, activation=self.activation)
        return jnp.where(self.converged, (self.Q_st / self.lambda1) * K_ts, jnp.nan)

    @property
    def relatedness(self) -> Float[Array, ""]:
        """How much of the target labels the source explains through the renormalized
        source-target kernel: R = 1 - |y_t - m_g|^2 / |y_t|^2 on the target training points,
        where m_g = (Q_st/lambda1) K_ts A_s^{-1} y_s is the source-informed mean of the target
        outputs (README.md in this folder, section 4.8). Dimensionless, at most 1: R > 0 when
        the source's predictor, carried by that kernel, points along the target labels; 0 at
        gamma = 0 and at infinite width (nothing carried); negative when it points away or
        overshoots. NaN unless converged."""
        residual = self.state.labels - self.Q_st * self.state.source_field  # eigenbasis: norms kept
        R = 1 - jnp.sum(residual**2) / jnp.sum(self.state.labels**2)
        return jnp.where(self.converged, R, jnp.nan)

    def _inputs(self, name, X, meaning="(P, N0)") -> Float[Array, "P N0"]:
        """`X` checked to be finite inputs with the N0 of the training inputs."""
        X = _checks.finite(name, X)
        _checks.shape(name, X, (X.shape[0] if X.ndim else 0, self.prior_only.inputs.shape[1]), meaning)
        return X


def benefit_given_error(sol: TransferSolution, X0, y0, error: Float[Array, ""]) -> TransferBenefit:
    """`TransferSolution.benefit` when the target's test error on (X0, y0) is already known."""
    p = sol.prior_only
    prior_only = p.test_error(X0, y0).total
    alone = solve_single_task(p.inputs, sol.labels, width=sol.width, temperature=sol.temperature, lambda0=sol.lambda0,
                              lambda1=sol.lambda1, activation=sol.activation, throw=False)
    uncoupled = alone.test_error(X0, y0).total
    return TransferBenefit.of(uncoupled, prior_only, error)


def transfer(
    source: tuple[Float[ArrayLike, "Ps N0"], Float[ArrayLike, " Ps"]],
    target: tuple[Float[ArrayLike, "Pt N0"], Float[ArrayLike, " Pt"]],
    *,
    width: Float[ArrayLike, ""],
    temperature: Float[ArrayLike, ""],
    coupling: Float[ArrayLike, ""],
    source_temperature: "Float[ArrayLike, ''] | None" = None,
    lambda0: Float[ArrayLike, ""] = 1.0,
    lambda1: Float[ArrayLike, ""] = 1.0,
    activation: "str | Activation" = "erf",
    throw: bool = True,
) -> TransferSolution:
    """Solve the Franz-Parisi transfer theory for one source-target pair.

    **Arguments:**
    - `source`: (Xs, ys), source inputs (Ps, N0) and labels (Ps,).
    - `target`: (Xt, yt), target inputs (Pt, N0) and labels (Pt,).
    - `width`: hidden width N1 > 0, shared by source and target networks (`jnp.inf`: the
      infinite-width limit, where Q_t = Q_s = 1, Q_st = Q_tt = 0 and nothing transfers).
    - `temperature`: the target network's temperature T_t > 0, in units of the loss
      L = 1/2 sum (y - f)^2.
    - `coupling`: gamma in [0, inf], the strength of the elastic term gamma/2 |w - w_source|^2
      on the first-layer weights (not divided by T). 0: no coupling (the single-task target);
      `jnp.inf`: the target keeps the source's first layer and learns its readout, computed by
      its own limit (all weight moments 1/lambda0), not by a large number.
    - `source_temperature`: the source network's temperature T_s > 0 (same units); None (the
      default): T_s = T_t. The source is sampled at T_s, the target at T_t (README.md in this
      folder, section 4.1): T_s enters through the source's solve and its label covariance
      A_s only.
    - `lambda0`, `lambda1`: prior precisions of first-layer weights and readout (> 0).
    - `activation`: "erf", "identity" or "tanh", or a `jaxtl.kernels.Activation`.
    - `throw`: raise if a solve fails (default); with `throw=False` failure is reported in
      `.result` / `.converged`, per point under `jax.vmap`.

    **Returns:** a `TransferSolution` (Q_s, Q_t, Q_tt, Q_st, `converged`, `predict`,
    `test_error(X0, y0)` -> total, bias2, variance, and `benefit(X0, y0)`).

    Works under `jax.jit`, `jax.vmap` (over any numeric argument or a batch of task pairs) and
    `jax.grad` (implicit differentiation at the stationary point, with respect to width,
    both temperatures, coupling, lambda0, lambda1 and the data, hence through a differentiable task
    pair to its correlation knob). The source solve depends on (Xs, ys, N1, T_s, lambda0,
    lambda1) only and the target eigendecomposition on (Xt, gamma, lambda0): under `jax.vmap`
    over target labels they are computed once.
    """
    Xs, ys = (_checks.finite(name, a) for name, a in zip(("Xs", "ys"), _checks.pair("source", source, "(Xs, ys)")))
    Xt, yt = (_checks.finite(name, a) for name, a in zip(("Xt", "yt"), _checks.pair("target", target, "(Xt, yt)")))
    for side, X, y in (("s", Xs, ys), ("t", Xt, yt)):
        _checks.inputs("X" + side, X, "P" + side)
        _checks.shape("y" + side, y, X.shape[:1], f"(P{side},)")
    _checks.shape("Xt", Xt, (Xt.shape[0], Xs.shape[1]), "(Pt, N0) with the N0 of Xs")
    width = _checks.positive("width", width, allow_inf=True)
    temperature = _checks.positive("temperature", temperature)
    source_temperature = temperature if source_temperature is None else _checks.positive("source_temperature", source_temperature)
    coupling = _checks.interval("coupling", coupling, 0.0, jnp.inf, allow_inf=True)
    lambda0 = _checks.positive("lambda0", lambda0)
    lambda1 = _checks.positive("lambda1", lambda1)
    act = get_activation(activation, "activation")
    return _solve(Xs, ys, Xt, yt, width=width, temperature=temperature, source_temperature=source_temperature,
                  coupling=coupling, lambda0=lambda0, lambda1=lambda1, activation=act, throw=throw)


def _target_state(source: SingleTaskSolution, prior_only: SingleTaskSolution, coupling) -> TargetState:
    """The parameter-independent part of the target solve (`TargetState`): the kernels K_tt'
    and K_ts with the weight moments of the coupling, and u, B from the source's solve."""
    lambda0, lambda1, act = source.lambda0, source.lambda1, source.activation
    v_t, c_st, c_tt = _moments(coupling, lambda0)
    Xs, Xt, U = source.inputs, prior_only.inputs, prior_only.eigenvectors
    K_rep = U.T @ gram(Xt, Xt, var1=v_t, var2=v_t, cov=c_tt, activation=act) @ U
    H = U.T @ gram(Xt, Xs, var1=v_t, var2=1 / lambda0, cov=c_st, activation=act) @ source.eigenvectors
    a_s = 1 / (source.Q * source.eigenvalues / lambda1 + source.temperature)  # A_s^{-1} (T_s), eigenbasis
    return target_state(prior_only.eigenvalues, K_rep, H, a_s, source.labels_eig, prior_only.labels_eig, Q_s=source.Q,
                        temperature=prior_only.temperature, lambda1=lambda1, inv_width=1 / source.width,
                        width_ratio=jnp.zeros_like(source.Q))  # fmt: skip


def target_state(eigenvalues, replica_kernel, cross_kernel, source_inverse, source_labels, labels, *, Q_s, temperature,
                 lambda1, inv_width, width_ratio) -> TargetState:  # fmt: skip
    """The `TargetState` of its kernels in the eigenbases (fields of `TargetState`), with
    u = H a_s y_s / lambda1 and B = H diag(a_s) H^T / lambda1^2 built here from the cross kernel
    H (Pt, Ps), the source's A_s^{-1} in its eigenbasis, `source_inverse` a_s (Ps,), and its
    labels in that basis, `source_labels` (Ps,). K_tt' and B are made exactly symmetric (the
    tanh kernel's quadrature and the products leave them asymmetric by rounding), as the
    solve's inverse of M and its products with vectors take them to be."""
    symmetric = lambda A: (A + A.T) / 2  # noqa: E731
    return TargetState(
        eigenvalues=eigenvalues,
        replica_kernel=symmetric(replica_kernel),
        cross_kernel=cross_kernel,
        source_field=cross_kernel @ (source_inverse * source_labels) / lambda1,
        source_covariance=symmetric((cross_kernel * source_inverse) @ cross_kernel.T / lambda1**2),
        labels=labels,
        Q_s=Q_s,
        temperature=temperature,
        lambda1=lambda1,
        inv_width=inv_width,
        width_ratio=width_ratio,
    )


@eqx.filter_jit
def _solve(Xs, ys, Xt, yt, *, width, temperature, source_temperature, coupling, lambda0, lambda1, activation, throw,
           start=None):
    """`transfer` on checked arguments (`activation` an `Activation`). `start` (internal, for
    warm starts): Newton's starting point (log(Q_t - Q_tt), Q_tt), e.g. the solution at a
    neighbouring parameter value; where it is not finite (or None), `starting_point` is used."""
    source = solve_single_task(Xs, ys, width=width, temperature=source_temperature, lambda0=lambda0, lambda1=lambda1,
                               activation=activation, throw=throw)
    return solve_target(source, Xt, yt, coupling=coupling, temperature=temperature, throw=throw, start=start)


def solve_target(source: SingleTaskSolution, Xt, yt, *, coupling, temperature, throw, start=None) -> TransferSolution:
    """The target side of `_solve` at the target's `temperature` T_t, given the source's solve
    (`solve_single_task` of (Xs, ys) at T_s, with the width, lambda0, lambda1 and activation
    the target takes from `source`): for sweeps, where one source solve serves every point
    that shares it."""
    v_t = _moments(coupling, source.lambda0)[0]
    prior_only = solve_single_task(Xt, yt, width=source.width, temperature=temperature, lambda0=1 / v_t,
                                   lambda1=source.lambda1, activation=source.activation, throw=throw)
    state = _target_state(source, prior_only, coupling)
    x0 = starting_point(prior_only.Q, prior_only.state, coupling, source.lambda0)
    if start is not None:
        x0 = jnp.where(jnp.all(jnp.isfinite(start)), start, x0)
    x0 = jax.lax.stop_gradient(x0)
    # The root of V to second order in the off-diagonal parts (O(Pt^2) a step, no inverse),
    # then the exact root by chord steps from there with its Jacobian (both within about 1e-7
    # of the exact ones: two gradients); Newton from x0 where that fails.
    expansion = Expansion.of(jax.lax.stop_gradient(state))
    presolve = stationary_point(_perturbative_gradient_and_jacobian, x0, expansion)
    guess = jnp.where(_perturbative_physical(presolve.value, expansion), presolve.value, jnp.nan)  # else Newton from x0
    guess = (guess, presolve.jacobian)  # its Jacobian at its root (NaN guess: the chord ends at once)
    stationary = stationary_point(_gradient_and_jacobian, x0, state, gradient=_gradient, guess=guess)
    D, Q_tt = jnp.exp(stationary.value[0]), stationary.value[1]
    inverse = _at_root(D, Q_tt, state, stationary.aux)
    Q_st = _source_overlap(inverse, D, state)[0]
    result = _physical(stationary.result, source, prior_only, Q_tt, Q_st, _target_matrix(D, Q_tt, state), state)
    if throw:
        Q_tt = raise_if_failed(Q_tt, result, "jaxtl.transfer")
    return TransferSolution(
        Q_t=D + Q_tt,
        Q_tt=Q_tt,
        Q_st=Q_st,
        result=result,
        num_steps=stationary.num_steps,
        coupling=coupling,
        source=source,
        prior_only=prior_only,
        labels=yt,
        state=state,
        inverse=inverse,
    )


def starting_point(Q_p, state: SingleTaskState, coupling, lambda0) -> Float[Array, " 2"]:
    """Newton's start (log(Q_t - Q_tt), Q_tt), between the two ends where the root is known,
    from the prior-only Q_p and its single-task state (kernel spectrum, T, lambda1, 1/N1).

    At gamma = 0 the root is the prior-only one, (log Q_p, 0). At gamma = inf, V is linear in
    Q_tt and its Q_tt-derivative fixes D = Q_t - Q_tt alone: 1/D = 1 + (1/N1) sum_i
    (k_i/lambda1) / (D k_i/lambda1 + T), the single-task condition of the target inputs with
    zero labels (`order_parameter` of `state` with the labels set to zero), unique in (0, 1)
    and small at small width. The start interpolates with omega = c_tt / v_t, the share of a
    target weight's variance common to all replicas (0 at gamma = 0, 1 at gamma = inf):
    log D = (1 - omega) log Q_p + omega log D_inf, Q_tt = omega Q_p. From the prior-only start
    alone, Newton reaches an unphysical root (Q_tt < 0) at small width and gamma >~ 3
    (benchmarks/domain.py).
    """
    v_t, _, c_tt = _moments(coupling, lambda0)
    omega = c_tt / v_t
    fluctuation = order_parameter(dataclasses.replace(state, labels=jnp.zeros_like(state.labels)))
    log_D = jnp.where(jnp.isfinite(fluctuation.value), fluctuation.value, jnp.log(Q_p))
    return jnp.stack([(1 - omega) * jnp.log(Q_p) + omega * log_D, omega * Q_p])


_TOLERANCE = 1e-8  # allowed violation of a physical condition, relative (rounding and Newton's tolerance)


def _overlaps_physical(Q_s, Q_tt, Q_st):
    """Q_tt >= 0 and Q_s Q_tt >= Q_st^2, to `_TOLERANCE` (module docstring, "Physical domain")."""
    return (Q_tt >= -_TOLERANCE) & (Q_s * Q_tt - Q_st**2 >= -_TOLERANCE * (Q_s + jnp.abs(Q_tt)))


def _physical(newton, source, prior_only, Q_tt, Q_st, M, state: TargetState) -> RESULTS:
    """The outcome of the target solve: the first failure among the source's solve, the
    prior-only reference, Newton's, and the physical conditions at its root (module docstring,
    "Physical domain"): Q_tt >= 0 and Q_s Q_tt >= Q_st^2; M positive definite; S_g positive
    semidefinite on the target training points (Cholesky with a shift of 1e-8 of its scale)."""
    Q_s = state.Q_s
    S_g = _field_covariance(Q_tt, Q_st, state)  # in the eigenbasis of K_tt
    scale = jnp.max(jnp.abs(Q_tt / state.lambda1) * jnp.diag(state.replica_kernel) + Q_st**2 * jnp.diag(state.source_covariance))
    shift = _TOLERANCE * scale + jnp.finfo(M.dtype).tiny ** 0.5
    overlap = _overlaps_physical(Q_s, Q_tt, Q_st)
    inputs = first_failure(RESULTS.successful, [
        (source.converged, RESULTS.source_failed),
        (prior_only.converged, RESULTS.prior_only_failed),
    ])  # fmt: skip
    result = RESULTS.where(inputs == RESULTS.successful, newton, inputs)
    return first_failure(result, [
        (overlap, RESULTS.overlap_not_psd),
        (positive_definite(M), RESULTS.matrix_not_pd),
        (positive_definite(S_g + shift * jnp.eye(S_g.shape[0])), RESULTS.field_not_psd),
    ])  # fmt: skip


class TargetTestKernels(eqx.Module):
    """The kernels between test inputs X0 (P0 of them) and the training inputs that the target's
    predictor needs (`prediction`), in the eigenbases of the target kernel (U, (Pt, Pt)) and of
    the source kernel (U_s, (Ps, Ps)), all in units of the state's kernels:

    - `own`: U^T K_tt(X_t, X0), shape (Pt, P0); `replica`: U^T K_tt'(X_t, X0), shape (Pt, P0);
    - `cross`: K_ts(X0, X_s) U_s, shape (P0, Ps);
    - `own_diagonal`, `replica_diagonal`: K_tt(x0, x0) and K_tt'(x0, x0), shape (P0,).
    """

    __test__ = False  # not a pytest test class

    own: Float[Array, "Pt P0"]
    replica: Float[Array, "Pt P0"]
    cross: Float[Array, "P0 Ps"]
    own_diagonal: Float[Array, " P0"]
    replica_diagonal: Float[Array, " P0"]


def _test_kernels(sol: TransferSolution, X0: Float[Array, "P0 N0"]) -> TargetTestKernels:
    """The kernels of `sol`'s target with the test inputs X0 (the first layer's moments of the
    coupling)."""
    p, s, act = sol.prior_only, sol.source, sol.activation
    v_t, c_st, c_tt = _moments(sol.coupling, sol.lambda0)
    own = dict(var1=v_t, var2=v_t, cov=v_t, activation=act)
    rep = dict(var1=v_t, var2=v_t, cov=c_tt, activation=act)
    return TargetTestKernels(
        own=p.eigenvectors.T @ gram(p.inputs, X0, **own),
        replica=p.eigenvectors.T @ gram(p.inputs, X0, **rep),
        cross=gram(X0, s.inputs, var1=v_t, var2=1 / sol.lambda0, cov=c_st, activation=act) @ s.eigenvectors,
        own_diagonal=gram_diag(X0, **own),
        replica_diagonal=gram_diag(X0, **rep),
    )


def _source_inverse(sol: TransferSolution) -> Float[Array, " Ps"]:
    """A_s^{-1} of the source in its eigenbasis, a_s (Ps,)."""
    return 1 / (sol.Q_s * sol.source.eigenvalues / sol.lambda1 + sol.source_temperature)


@eqx.filter_jit
def _predict(sol: TransferSolution, X0: Float[Array, "P0 N0"]) -> Prediction:
    """`TransferSolution.predict`: the test kernels, then `prediction` with M^{-1} of the root."""
    return prediction(sol.state, sol.Q_t, sol.Q_tt, sol.Q_st, _test_kernels(sol, X0), _source_inverse(sol),
                      sol.source.labels_eig, inverse=sol.inverse.W)  # fmt: skip


@eqx.filter_jit
def _test_error(sol: TransferSolution, X0: Float[Array, "P0 N0"], y0: Float[Array, " P0"]) -> TestError:
    """`TransferSolution.test_error`: the test kernels, their means over the test points
    (`TestMoments`), then `test_error_of`."""
    moments = TestMoments.of(sol.state, _test_kernels(sol, X0), _source_inverse(sol), sol.source.labels_eig)
    return test_error_of(sol.state, sol.Q_t, sol.Q_tt, sol.Q_st, sol.inverse, moments, y0)


class TestMoments(eqx.Module):
    """What the target's test error needs of the test kernels (`TargetTestKernels`, P0 test
    points), in the eigenbasis of K_tt, all independent of the order parameters and the target
    labels: under `jax.vmap` over labels (or anything else that leaves the kernels alone) they
    are computed once. With K0 = U^T K_tt(X_t, X0) (`own`), R0 = U^T K_tt'(X_t, X0) (`replica`)
    and J0 = H_t H_0^T (H_t = U^T K_ts U_s A_s^{-1/2}, H_0 = K_0s U_s A_s^{-1/2}), each (Pt, P0):

    - `own`, `replica`: K0, R0 (Pt, P0), and `source_mean`: H_0 A_s^{-1/2} U_s^T y_s (P0,),
      lambda1 m_g(x0) / Q_st, for the mean prediction;
    - `own_own` = K0 K0^T / P0, `own_replica` = (K0 R0^T + R0 K0^T) / P0,
      `replica_replica` = R0 R0^T / P0, `field_own` = sym(J0 K0^T) / P0 and
      `field_replica` = sym(J0 R0^T) / P0 (sym(A) = (A + A^T)/2), each (Pt, Pt);
    - `own_diagonal`, `replica_diagonal`, `field_diagonal`: the means over x0 of K_tt(x0, x0),
      K_tt'(x0, x0) and |H_0(x0)|^2 (scalars).
    """

    __test__ = False  # not a pytest test class

    own: Float[Array, "Pt P0"]
    replica: Float[Array, "Pt P0"]
    source_mean: Float[Array, " P0"]
    own_own: Float[Array, "Pt Pt"]
    own_replica: Float[Array, "Pt Pt"]
    replica_replica: Float[Array, "Pt Pt"]
    field_own: Float[Array, "Pt Pt"]
    field_replica: Float[Array, "Pt Pt"]
    own_diagonal: Float[Array, ""]
    replica_diagonal: Float[Array, ""]
    field_diagonal: Float[Array, ""]

    @classmethod
    def of(cls, state: TargetState, kernels: TargetTestKernels, source_inverse: Float[Array, " Ps"],
           source_labels: Float[Array, " Ps"]) -> "TestMoments":  # fmt: skip
        K0, R0 = kernels.own, kernels.replica
        P0 = K0.shape[1]
        root_a = jnp.sqrt(source_inverse)
        H_0 = kernels.cross * root_a
        J0 = (state.cross_kernel * root_a) @ H_0.T
        sym = lambda A: (A + A.T) / (2 * P0)  # noqa: E731
        return cls(
            own=K0, replica=R0, source_mean=H_0 @ (root_a * source_labels),
            own_own=sym(K0 @ K0.T), own_replica=2 * sym(K0 @ R0.T), replica_replica=sym(R0 @ R0.T),
            field_own=sym(J0 @ K0.T), field_replica=sym(J0 @ R0.T),
            own_diagonal=jnp.mean(kernels.own_diagonal), replica_diagonal=jnp.mean(kernels.replica_diagonal),
            field_diagonal=jnp.mean(jnp.sum(H_0**2, axis=1)),
        )  # fmt: skip


def test_error_of(state: TargetState, Q_t, Q_tt, Q_st, inverse: TargetInverse, moments: TestMoments,
                  y0: Float[Array, " P0"]) -> TestError:  # fmt: skip
    """The target's test error on labels y0 (P0,), `TestError.of(prediction(...), y0)` without
    the predictor's variances point by point: their mean over the test points is a sum of traces
    of M^{-1} = W and of W S_g W with the `moments`, one Pt x Pt product a point. With
    c0 = C_e(X_t, x0) and C = mean over x0 of c0 c0^T (from `moments`), the mean variance is
    mean C_e(x0, x0) - Tr(W C) + mean Var g(x0) - 2 Tr(W F) + Tr(W S_g W C), where
    F = mean over x0 of Cov(g(X_t), g(x0)) c0^T (`prediction`'s terms, averaged). The traces
    Tr(W X) of the five symmetric moments X are one pass over W (a matrix-vector product, the
    vector first: one GEMM over a vmapped batch)."""
    l1 = state.lambda1
    W = inverse.W
    w = W @ (state.labels - Q_st * state.source_field)  # M^{-1} (y_t - m_g(X_t))
    mean = (Q_st / l1) * moments.source_mean + (Q_t * (w @ moments.own) - Q_tt * (w @ moments.replica)) / l1
    bias2 = jnp.mean((y0 - mean) ** 2)
    squares = jnp.stack([moments.own_own, moments.own_replica, moments.replica_replica])
    fields = jnp.stack([moments.field_own, moments.field_replica])
    n = W.size
    t_own, t_mixed, t_replica, t_field_own, t_field_replica = W.reshape(n) @ jnp.concatenate([squares, fields]).reshape(5, n).T
    WSW = ((Q_tt / l1) * inverse.WR - Q_st**2 * inverse.WB) @ W  # W S_g W
    s_own, s_mixed, s_replica = WSW.reshape(n) @ squares.reshape(3, n).T
    c = jnp.stack([Q_t**2, -Q_t * Q_tt, Q_tt**2]) / l1**2  # C = c . (own_own, own_replica, replica_replica)
    a, b = Q_tt / l1, (Q_st / l1) ** 2
    trace_WF = (a * (Q_t * t_mixed / 2 - Q_tt * t_replica) - b * (Q_t * t_field_own - Q_tt * t_field_replica)) / l1
    own_variance = (Q_t * moments.own_diagonal - Q_tt * moments.replica_diagonal) / l1
    field_variance = a * moments.replica_diagonal - b * moments.field_diagonal
    variance = (own_variance + field_variance - c @ jnp.stack([t_own, t_mixed, t_replica]) - 2 * trace_WF
                + c @ jnp.stack([s_own, s_mixed, s_replica]))  # fmt: skip
    return TestError(bias2 + variance, bias2, variance)


def prediction(state: TargetState, Q_t, Q_tt, Q_st, kernels: TargetTestKernels, source_inverse: Float[Array, " Ps"],
               source_labels: Float[Array, " Ps"], inverse: "Float[Array, 'Pt Pt'] | None" = None) -> Prediction:  # fmt: skip
    """The target's predictor (README.md in this folder, section 4.5) at the order parameters,
    given the state, the test kernels, the source's A_s^{-1} in its eigenbasis (a_s, (Ps,)) and
    its labels in that basis, in the eigenbasis of K_tt: the kernels among training points come
    from `state`; only those with the test inputs are passed in. `inverse`: M^{-1} at the order
    parameters, where known (computed here otherwise)."""
    l1 = state.lambda1
    W = _inverse(_target_matrix(Q_t - Q_tt, Q_tt, state)) if inverse is None else inverse  # M^{-1}
    c0 = (Q_t * kernels.own - Q_tt * kernels.replica) / l1  # C_e(X_t, x0)
    Z = W @ c0  # M^{-1} c0
    # g enters through H_0 = K_0s U_s A_s^{-1/2} and H_t = U^T K_ts U_s A_s^{-1/2}.
    root_a = jnp.sqrt(source_inverse)
    H_0 = kernels.cross * root_a
    H_t = state.cross_kernel * root_a
    # mean = m_g(x0) + Z^T (y_t - m_g(X_t)), with m_g = (Q_st/lambda1) K_.s A_s^{-1} y_s = Q_st u
    mean = (Q_st / l1) * (H_0 @ (root_a * source_labels)) + Z.T @ (state.labels - Q_st * state.source_field)
    own_variance = (Q_t * kernels.own_diagonal - Q_tt * kernels.replica_diagonal) / l1 - jnp.sum(c0 * Z, axis=0)
    # Var of g(x0) - Z^T g(X_t) under S_g = (Q_tt/lambda1) K' - (Q_st/lambda1)^2 H H^T.
    a, b = Q_tt / l1, (Q_st / l1) ** 2
    field_variance = (
        a * kernels.replica_diagonal - b * jnp.sum(H_0**2, axis=1)
        - 2 * jnp.sum(Z * (a * kernels.replica - b * (H_t @ H_0.T)), axis=0)
        + jnp.sum(Z * (_field_covariance(Q_tt, Q_st, state) @ Z), axis=0)
    )  # fmt: skip
    return Prediction(mean, own_variance + field_variance)


TARGET_OUTPUTS = (
    Output("test_error", "target test error", "labels^2", "lower"),
    Output("bias2", "target test error, bias^2", "labels^2", "lower"),
    Output("variance", "target test error, variance", "labels^2", "lower"),
    Output("benefit", "transfer benefit, error(γ=0) − error(γ)", "labels^2", "higher"),
    Output("benefit_prior", "benefit from the changed prior alone (not transfer)", "labels^2", "higher"),
    Output("benefit_source", "benefit carried by the source-target kernel", "labels^2", "higher"),
)
"""The target's test error and the benefit, with its split: outputs of every transfer theory
built on the Franz-Parisi block (`Transfer`, the deep `DeepTransfer`)."""


class Transfer(Theory):
    """The transfer theory as a `jaxtl.theory.Theory`: the source (Xs, ys), the target
    (Xt, yt), the test set (X0, y0) of a task pair; the source's solve is what points share."""

    name = "transfer"
    parameters = (
        WIDTH,
        Number("temperature", "(0, inf)", "target temperature T_t (units of the loss 1/2 sum (y - f)^2)"),
        Number("coupling", "[0, inf]", "coupling γ (inf: the source's first layer, kept)"),
        Number("source_temperature", "(0, inf)", "source temperature T_s (units of the loss; default: T_t)",
               fallback="temperature"),
        LAMBDA0, LAMBDA1, ACTIVATION,
    )  # fmt: skip
    outputs = (
        Output("Q_s", "source order parameter Q_s", "1"),
        Output("Q_t", "target order parameter Q_t", "1"),
        Output("Q_tt", "target replica overlap Q_tt", "1"),
        Output("Q_st", "source-target overlap Q_st", "1"),
        *TARGET_OUTPUTS,
        Output("relatedness", "label fraction the source explains, 1 − |y_t − m_g|²/|y_t|²", "1", "higher"),
    )
    objective = "benefit"
    max_chunk = 64  # a knob axis of up to 64 values in one block: each coupling's kernels built once (`_sweep._chunk_size`)

    def shared(self, pair, parameters) -> SingleTaskSolution:
        """The source's single-task solve: it depends on the source data, width, source
        temperature, lambda0, lambda1 and activation only (not on the coupling, nor the target)."""
        p = parameters
        return solve_single_task(pair.Xs, pair.ys, width=p["width"], temperature=p["source_temperature"], lambda0=p["lambda0"],
                                 lambda1=p["lambda1"], activation=p["activation"], throw=False)

    def evaluate(self, pair, parameters, shared) -> Evaluation:
        sol = solve_target(shared, pair.Xt, pair.yt, coupling=parameters["coupling"], temperature=parameters["temperature"],
                           throw=False)
        error = sol.test_error(pair.X0, pair.y0)  # NaN unless converged to a physical point
        benefit = benefit_given_error(sol, pair.X0, pair.y0, error.total)  # the error computed once
        values = dict(
            Q_s=sol.Q_s, Q_t=sol.Q_t, Q_tt=sol.Q_tt, Q_st=sol.Q_st,
            test_error=error.total, bias2=error.bias2, variance=error.variance,
            benefit=benefit.total, benefit_prior=benefit.prior, benefit_source=benefit.source,
            relatedness=sol.relatedness,
        )  # fmt: skip
        return Evaluation(values, sol.result, sol.num_steps)
