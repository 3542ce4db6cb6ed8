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
(`_solve.stationary_point`, implicit derivatives); q and m then follow in closed form.
"""

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, Int

from .. import _checks
from .._repr import Readable
from ._linalg import eigh
from ._solve import RESULTS, first_failure, stationary_point

LOSSES = ("square",)


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
    - `result`, `num_steps`, `converged`: how the solve ended (`jaxtl.RESULTS`); the
      properties below are NaN unless converged to a physical point.
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
    result: RESULTS
    num_steps: Int[Array, ""]
    _shown = ("classification_error", "test_mse", "training_loss", "m", "q", "V", "alpha", "ridge", "converged")

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

    @property
    def training_loss(self) -> Float[Array, ""]:
        """(1/P) sum_mu 1/2 (y_mu - w . v_mu / sqrt(K))^2 at the fitted w (the ridge term
        excluded): (1 + q - 2 m c) / (2 (1 + V)^2)."""
        return self._only_if_converged((1 + self.q - 2 * self.m * _label_slope(self.rho)) / (2 * (1 + self.V) ** 2))


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
    - `loss`: "square", 1/2 sum (y - w . v / sqrt(K))^2. (The logistic readout is not
      implemented yet: a ValueError says so.)

    **Returns:** a `ReadoutCurve`: the overlaps m, q, V and their conjugates, `converged`,
    `classification_error`, `test_mse` and `training_loss`.

    One eigendecomposition of Omega (under `jax.vmap` over `samples` or `ridge` alone it is
    computed once), then O(K) per Newton step. Works under `jax.jit`, `jax.vmap` (over
    samples, ridge, or batches of covariances) and `jax.grad` (implicit differentiation at the
    root, with respect to samples, ridge and the covariances).
    """
    if not isinstance(loss, str) or loss not in LOSSES + ("logistic",):
        raise ValueError(f"loss must be one of {', '.join(map(repr, LOSSES))}, got {loss!r}")
    if loss == "logistic":
        raise ValueError("loss must be 'square': the logistic readout is not implemented yet")
    Omega, Phi, theta = (_checks.finite(n, a) for n, a in (("Omega", Omega), ("Phi", Phi), ("theta", theta)))
    if Omega.ndim != 2 or Omega.shape[0] != Omega.shape[1] or Omega.shape[0] < 1:
        raise ValueError(f"Omega must have shape (K, K) with K >= 1, got {Omega.shape}")
    K = Omega.shape[0]
    if Phi.ndim != 2 or Phi.shape[0] != K or Phi.shape[1] < 1:
        raise ValueError(f"Phi must have shape (K, D) = ({K}, D) with D >= 1, got {Phi.shape}")
    _checks.shape("theta", theta, (Phi.shape[1],), "(D,)")
    samples = _checks.positive("samples", samples)
    ridge = _checks.positive("ridge", ridge)
    return _solve(Omega, Phi, theta, samples=samples, ridge=ridge)


@eqx.filter_jit
def _solve(Omega, Phi, theta, *, samples, ridge) -> ReadoutCurve:
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
    return _overlaps(jnp.exp(stationary.value), stationary, spectrum)


def _overlaps(V, stationary, s: ReadoutSpectrum) -> ReadoutCurve:
    """q, m and the conjugates given V (section 9.3), and the physical checks (section 9.4)."""
    c = _label_slope(s.rho)
    V_hat = s.alpha / (1 + V)
    m_hat = s.alpha / jnp.sqrt(s.gamma) * c / (1 + V)
    den = s.ridge + V_hat * s.omega
    m = m_hat / jnp.sqrt(s.gamma) * jnp.mean(s.teacher / den)
    # q = q_hat <omega^2/den^2> + m_hat^2 <t omega/den^2>, q_hat = a (1 + q - 2 m c), linear in q
    a = s.alpha / (1 + V) ** 2
    A, B = jnp.mean(s.omega**2 / den**2), jnp.mean(s.teacher * s.omega / den**2)
    solvable = 1 - a * A
    q = (a * (1 - 2 * m * c) * A + m_hat**2 * B) / solvable
    q_hat = a * (1 + q - 2 * m * c)
    result = first_failure(stationary.result, [
        ((solvable > 0) & (q > 0) & (m**2 <= s.rho * q * (1 + 1e-12)) & (q_hat >= 0), RESULTS.readout_not_physical),
    ])  # fmt: skip
    return ReadoutCurve(V=V, q=q, m=m, V_hat=V_hat, q_hat=q_hat, m_hat=m_hat, rho=s.rho, alpha=s.alpha,
                        gamma=s.gamma, ridge=s.ridge, result=result, num_steps=stationary.num_steps)  # fmt: skip
