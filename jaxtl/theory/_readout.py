"""A readout learned on frozen features: exact learning curves of the Gaussian covariate model
(README.md in this folder, section 9).

A latent vector u ~ N(0, I_D) sets the label y = sign(theta . u / sqrt(D)); the features v
(K of them, e.g. a frozen first layer applied to inputs made from u) are jointly Gaussian with
u, with population covariances Omega = E[v v^T] (K x K) and Phi = E[v u^T] (K x D). A readout
w is fitted on P samples by ridge regression,

    w = argmin 1/2 sum_mu (y_mu - w . v_mu / sqrt(K))^2 + (ridge / 2) |w|^2,

and its test behaviour in the proportional limit (P, K, D large, alpha = P/K and
gamma = D/K fixed) depends on w through three overlaps only: V (the readout's response), q
(its self-overlap w^T Omega w / K) and m (its overlap with the teacher, w^T Phi theta /
sqrt(K D)). They solve the replica saddle-point equations of the Gaussian covariate model in
the eigenbasis of Omega (one eigendecomposition, then O(K) per evaluation). For the square
loss the equations reduce to one scalar equation for V, solved by the library's Newton
(`_solve.stationary_point`, implicit derivatives); q and m then follow in closed form. For
the logistic loss, sum log(1 + exp(-y w . v / sqrt(K))) + (ridge / 2) |w|^2, the data side
needs a proximal step per quadrature node, and Newton solves for (V, q, m) together, started
from the square loss's solution.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Int

from .. import _checks
from .._repr import Readable
from ._linalg import eigh
from ._solve import RESULTS, first_failure, stationary_point

LOSSES = ("square", "logistic")
_NODES, _WEIGHTS = np.polynomial.hermite_e.hermegauss(64)  # E over xi ~ N(0, 1)
_WEIGHTS = _WEIGHTS / _WEIGHTS.sum()
_PROX_STEPS = 30  # Newton steps of the logistic proximal problem (quadratically convergent)


class ReadoutSpectrum(eqx.Module):
    """What the readout's equations depend on besides the overlaps (README.md in this folder,
    section 9.2), in the eigenbasis Omega = U diag(omega) U^T:

    - `omega`: the eigenvalues of Omega, shape (K,) (clipped at 0).
    - `teacher`: t_i = (U^T Phi theta)_i^2, the teacher's weight on each eigendirection, shape (K,).
    - `rho`: |theta|^2 / D, the teacher's norm. `gamma`: D / K.
    - `alpha`: P / K, samples per feature. `ridge`: lambda.
    """

    omega: Float[Array, " K"]
    teacher: Float[Array, " K"]
    rho: Float[Array, ""]
    gamma: Float[Array, ""]
    alpha: Float[Array, ""]
    ridge: Float[Array, ""]


def _response_equation(log_V, s: ReadoutSpectrum):
    """g(u) = V - <omega_i / (lambda + Vhat omega_i)>, Vhat = alpha/(1 + V), V = e^u, and its
    derivative in u: the square loss's equation for V (section 9.3)."""
    V = jnp.exp(log_V)
    V_hat = s.alpha / (1 + V)
    den = s.ridge + V_hat * s.omega
    g = V - jnp.mean(s.omega / den)
    # d/dV <omega / den> = <omega^2 / den^2> * alpha / (1 + V)^2
    dg_dV = 1 - jnp.mean(s.omega**2 / den**2) * s.alpha / (1 + V) ** 2
    return g, V * dg_dV


class ReadoutCurve(Readable):
    """The readout's overlaps at one point of the learning curve, and what follows from them.

    **Attributes:**
    - `V`, `q`, `m`: the readout's response, its self-overlap q = w^T Omega w / K and its
      teacher overlap m = w^T Phi theta / sqrt(K D) (dimensionless; section 9.1).
    - `V_hat`, `q_hat`, `m_hat`: their conjugates.
    - `rho` (|theta|^2 / D), `alpha` (P / K), `gamma` (D / K), `ridge` (lambda).
    - `loss`: "square" or "logistic".
    - `training_loss`: the loss per training sample at the fitted w, (1/P) sum_mu of
      1/2 (y_mu - w . v_mu / sqrt(K))^2 (square: (1 + q - 2 m c) / (2 (1 + V)^2)) or
      log(1 + exp(-y_mu w . v_mu / sqrt(K))) (logistic), the ridge term excluded.
    - `result`, `num_steps`, `converged`: how the solve ended (`jaxtl.RESULTS`); the
      errors are NaN unless converged to a physical point.
    """

    V: Float[Array, ""]
    q: Float[Array, ""]
    m: Float[Array, ""]
    V_hat: Float[Array, ""]
    q_hat: Float[Array, ""]
    m_hat: Float[Array, ""]
    rho: Float[Array, ""]
    alpha: Float[Array, ""]
    gamma: Float[Array, ""]
    ridge: Float[Array, ""]
    training_loss: Float[Array, ""]
    result: RESULTS
    num_steps: Int[Array, ""]
    loss: str = eqx.field(static=True)
    _shown = ("classification_error", "test_mse", "training_loss", "m", "q", "V", "alpha", "ridge", "loss", "converged")

    @property
    def converged(self):
        return self.result == RESULTS.successful

    def _only_if_converged(self, x):
        return jnp.where(self.converged, x, jnp.nan)

    @property
    def classification_error(self) -> Float[Array, ""]:
        """P(sign(w . v / sqrt(K)) != y) on a fresh sample: arccos(m / sqrt(rho q)) / pi."""
        return self._only_if_converged(jnp.arccos(self.m / jnp.sqrt(self.rho * self.q)) / jnp.pi)

    @property
    def test_mse(self) -> Float[Array, ""]:
        """E (y - w . v / sqrt(K))^2 on a fresh sample: 1 + q - 2 m c, c = sqrt(2 / (pi rho))."""
        return self._only_if_converged(1 + self.q - 2 * self.m * _label_slope(self.rho))


def _label_slope(rho):
    """c = E[y nu] / rho = sqrt(2 / (pi rho)) for y = sign(nu), nu ~ N(0, rho)."""
    return jnp.sqrt(2 / (jnp.pi * rho))


def learning_curve(
    Omega: Float[ArrayLike, "K K"],
    Phi: Float[ArrayLike, "K D"],
    theta: Float[ArrayLike, " D"],
    *,
    samples: Float[ArrayLike, ""],
    ridge: Float[ArrayLike, ""],
    loss: str = "square",
) -> ReadoutCurve:
    """The exact high-dimensional learning curve of a ridge readout on frozen features.

    **Arguments:**
    - `Omega`: E[v v^T], the features' population covariance, shape (K, K), symmetric
      positive semidefinite.
    - `Phi`: E[v u^T], the features' covariance with the latent vector u ~ N(0, I_D), shape
      (K, D). (Omega - Phi Phi^T must be positive semidefinite for (u, v) to exist.)
    - `theta`: the teacher on the latent space, shape (D,): y = sign(theta . u / sqrt(D)).
    - `samples`: P > 0, the number of training samples (a real number: the theory depends on
      alpha = P / K).
    - `ridge`: lambda > 0 of (lambda / 2) |w|^2.
    - `loss`: "square", 1/2 sum (y - w . v / sqrt(K))^2, or "logistic",
      sum log(1 + exp(-y w . v / sqrt(K))).

    **Returns:** a `ReadoutCurve`: the overlaps m, q, V and their conjugates, `converged`,
    `classification_error`, `test_mse` and `training_loss`.

    One eigendecomposition of Omega (under `jax.vmap` over `samples` or `ridge` alone it is
    computed once), then O(K) per Newton step (logistic: plus 128 one-dimensional proximal
    problems). Works under `jax.jit`, `jax.vmap` (over
    samples, ridge, or batches of covariances) and `jax.grad` (implicit differentiation at the
    root, with respect to samples, ridge and the covariances).
    """
    loss = _checks.choice("loss", loss, LOSSES)
    Omega, Phi, theta = (_checks.finite(n, a) for n, a in (("Omega", Omega), ("Phi", Phi), ("theta", theta)))
    if Omega.ndim != 2 or Omega.shape[0] != Omega.shape[1] or Omega.shape[0] < 1:
        raise ValueError(f"Omega must have shape (K, K) with K >= 1, got {Omega.shape}")
    K = Omega.shape[0]
    if Phi.ndim != 2 or Phi.shape[0] != K or Phi.shape[1] < 1:
        raise ValueError(f"Phi must have shape (K, D) = ({K}, D) with D >= 1, got {Phi.shape}")
    _checks.shape("theta", theta, (Phi.shape[1],), "(D,)")
    samples = _checks.positive("samples", samples)
    ridge = _checks.positive("ridge", ridge)
    return _solve(Omega, Phi, theta, samples=samples, ridge=ridge, loss=loss)


@eqx.filter_jit
def _solve(Omega, Phi, theta, *, samples, ridge, loss) -> ReadoutCurve:
    K, D = Phi.shape
    omega, U = eigh((Omega + Omega.T) / 2)
    omega = jnp.maximum(omega, 0.0)  # positive semidefinite; drop rounding noise below zero
    spectrum = ReadoutSpectrum(
        omega=omega,
        teacher=(U.T @ (Phi @ theta)) ** 2,
        rho=theta @ theta / D,
        gamma=jnp.asarray(D / K, float),
        alpha=samples / K,
        ridge=ridge,
    )
    # V <= <omega>/lambda (its value at alpha = 0): Newton in log V from there.
    start = jnp.log(jnp.maximum(jnp.mean(omega), jnp.finfo(float).tiny) / ridge)
    stationary = stationary_point(_response_equation, start, spectrum, rtol=1e-12, atol=1e-12)
    square = _overlaps(jnp.exp(stationary.value), stationary, spectrum)
    if loss == "square":
        return square
    x0 = jax.lax.stop_gradient(jnp.stack([jnp.log(square.V), jnp.log(square.q), square.m]))
    x0 = jnp.where(jnp.all(jnp.isfinite(x0)), x0, jnp.array([0.0, 0.0, 0.1]))
    logistic = stationary_point(_logistic_equations, x0, spectrum)
    V, q, m = jnp.exp(logistic.value[0]), jnp.exp(logistic.value[1]), logistic.value[2]
    V_hat, q_hat, m_hat, training = _logistic_data_side(V, q, m, spectrum)
    return _curve(V, q, m, V_hat, q_hat, m_hat, training, logistic, spectrum, "logistic")


def _prior_side(V_hat, q_hat, m_hat, s: ReadoutSpectrum):
    """(V, q, m) from the conjugates: the ridge prior's equations (section 9.2)."""
    den = s.ridge + V_hat * s.omega
    V = jnp.mean(s.omega / den)
    q = jnp.mean((q_hat * s.omega**2 + m_hat**2 * s.teacher * s.omega) / den**2)
    m = m_hat / jnp.sqrt(s.gamma) * jnp.mean(s.teacher / den)
    return V, q, m


def _logistic_prox(omega, y, V):
    """x* = argmin_x (x - omega)^2 / (2V) + log(1 + e^{-y x}) elementwise: the root of
    x - omega - V y sigmoid(-y x), by Newton, differentiated implicitly
    (`jax.lax.custom_root`, never through the iterations).

    In z = y x the residual z - y omega - V sigmoid(-z) is increasing, convex for z < 0 and
    concave for z > 0, and its root lies above y omega. Newton started at z = max(y omega, 0)
    is on the root's safe side (below it where concave, above it where convex), so its
    iterates move monotonically to the root for every V; from x = omega (z < 0 there) it
    overshoots across the inflection and cycles once V is large (V > 11: near-separable
    data at small ridge)."""

    def residual(x):
        return x - omega - V * y * jax.nn.sigmoid(-y * x)

    def solve(f, x):
        def step(x, _):
            s = jax.nn.sigmoid(-y * x)
            return x - f(x) / (1 + V * s * (1 - s)), None

        return jax.lax.scan(step, x, None, length=_PROX_STEPS)[0]

    start = jnp.where(y * omega > 0, omega, 0.0)
    return jax.lax.custom_root(residual, start, solve, lambda g, b: b / g(jnp.ones_like(b)))


def _logistic_data_side(V, q, m, s: ReadoutSpectrum):
    """(V_hat, q_hat, m_hat) and the training loss for the logistic loss (section 9.6): Gauss-
    Hermite averages over xi ~ N(0, 1) of the proximal step at omega = sqrt(q) xi, for each
    label y, weighted by Z_y = P(y | omega) under the teacher."""
    V_star = s.rho - m**2 / q  # the teacher field's variance given the student's
    xi = jnp.asarray(_NODES)
    omega, omega_star = jnp.sqrt(q) * xi, (m / jnp.sqrt(q)) * xi
    sums = jnp.zeros(4)
    for y in (1.0, -1.0):
        Z = 0.5 * (1 + y * jax.scipy.special.erf(omega_star / jnp.sqrt(2 * V_star)))
        dZ = y * jnp.exp(-(omega_star**2) / (2 * V_star)) / jnp.sqrt(2 * jnp.pi * V_star)
        x = _logistic_prox(omega, y, V)
        f = (x - omega) / V
        curvature = jax.nn.sigmoid(y * x) * jax.nn.sigmoid(-y * x)
        df = -curvature / (1 + V * curvature)
        loss = jnp.logaddexp(0.0, -y * x)
        sums = sums + jnp.stack([jnp.sum(_WEIGHTS * w) for w in (dZ * f, Z * f**2, Z * df, Z * loss)])
    m_hat = s.alpha / jnp.sqrt(s.gamma) * sums[0]
    return -s.alpha * sums[2], s.alpha * sums[1], m_hat, sums[3]


def _logistic_residual(x, s: ReadoutSpectrum):
    """In x = (log V, log q, m): the prior side of the data side of (V, q, m), minus x."""
    V, q, m = jnp.exp(x[0]), jnp.exp(x[1]), x[2]
    V_new, q_new, m_new = _prior_side(*_logistic_data_side(V, q, m, s)[:3], s)
    return jnp.stack([jnp.log(V_new) - x[0], jnp.log(q_new) - x[1], m_new - m])


def _logistic_equations(x, s: ReadoutSpectrum):
    """`_logistic_residual` and its 3 x 3 Jacobian (forward-mode, through the implicit
    derivative of the proximal step), for Newton."""
    return _logistic_residual(x, s), jax.jacfwd(_logistic_residual)(x, s)


def _overlaps(V, stationary, s: ReadoutSpectrum) -> ReadoutCurve:
    """q, m and the conjugates given V (section 9.3), and the physical checks (section 9.4)."""
    c = _label_slope(s.rho)
    V_hat = s.alpha / (1 + V)
    m_hat = s.alpha / jnp.sqrt(s.gamma) * c / (1 + V)
    # The prior side's q is q_hat A + m_hat^2 B, and q_hat = a (1 + q - 2 m c) is linear in q:
    # A and m_hat^2 B (with m) are the prior side at (q_hat, m_hat) = (1, 0) and (0, m_hat).
    a = s.alpha / (1 + V) ** 2
    A = _prior_side(V_hat, 1.0, 0.0, s)[1]
    _, field, m = _prior_side(V_hat, 0.0, m_hat, s)
    solvable = 1 - a * A
    q = jnp.where(solvable > 0, (a * (1 - 2 * m * c) * A + field) / solvable, jnp.nan)
    q_hat = a * (1 + q - 2 * m * c)
    training = (1 + q - 2 * m * c) / (2 * (1 + V) ** 2)  # the proximal step: (omega + V y)/(1 + V)
    return _curve(V, q, m, V_hat, q_hat, m_hat, training, stationary, s, "square")


def _curve(V, q, m, V_hat, q_hat, m_hat, training, stationary, s: ReadoutSpectrum, loss) -> ReadoutCurve:
    """The `ReadoutCurve`, with the physical checks (section 9.4)."""
    physical = (V > 0) & (q > 0) & (m**2 <= s.rho * q * (1 + 1e-12)) & (q_hat >= 0) & (V_hat > 0)
    result = first_failure(stationary.result, [(physical, RESULTS.readout_not_physical)])
    training = jnp.where(result == RESULTS.successful, training, jnp.nan)
    return ReadoutCurve(V=V, q=q, m=m, V_hat=V_hat, q_hat=q_hat, m_hat=m_hat, rho=s.rho, alpha=s.alpha,
                        gamma=s.gamma, ridge=s.ridge, training_loss=training, result=result,
                        num_steps=stationary.num_steps, loss=loss)  # fmt: skip
