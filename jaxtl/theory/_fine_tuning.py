"""Fine-tuning a two-layer linear network: the closed form with infinite source data (README.md
in this folder, section 11.7).

The model, in the mean-field parametrization, with D input dimensions and N hidden units:

    f(x) = (1/(gamma N)) sum_i w_i (W_i . x / sqrt(D)),    x ~ N(0, I_D),

teachers y = beta . x / sqrt(D) with |beta|^2 = D, a source teacher beta_s and a target teacher
beta_t of alignment alpha = beta_s . beta_t / D in [-1, 1].

1. Source stage: gradient flow to convergence on the population loss E(f - y_s)^2 (infinite
   source data) from a standard-normal initialization. Each neuron's pair (W_i . beta_s / |beta_s|,
   w_i) moves along a hyperbola (gradient flow keeps their squares' difference), and at
   N -> inf the first layer's second moment becomes

       W^T W / N = I + (chi/D) beta_s beta_s^T,    chi = sqrt(1 + gamma1^2) - 1,
       gamma1 = gamma sqrt(D)

   (`richness_gain`): the gain chi of the first layer in the source teacher's direction.
   With teachers of norm sqrt(D) a network of richness gamma in this parametrization has
   gamma1 = gamma sqrt(D); `tests/test_fine_tuning.py` measures it on trained networks.
2. Target stage: fine-tuning in the lazy limit gamma2 -> 0, starting from f = 0 (the readout
   restarted at zero), is ridgeless kernel regression with the frozen source-adapted kernel

       K(x, x') = x^T (I + (chi/D) beta_s beta_s^T) x' / D

   on P_t = nu2 D target samples. Its test error E(f - y_t)^2 at D -> inf with nu2 fixed
   (`fine_tuning_loss`) is

       L = (1 - nu2) [1 - 2 chi alpha^2 nu2 / (1 + chi nu2) + chi^2 alpha^2 nu2^2 / (1 + chi nu2)^2]

   for 0 <= nu2 < 1, and 0 for nu2 >= 1 (a linear teacher interpolated from D samples). In the
   units of the labels' variance, 1: without pretraining (chi = 0) L = 1 - nu2.
"""

import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from ._protocol import Number

RICHNESS = Number("gamma1", "[0, inf)", "richness γ1 of the source stage (γ1 = γ sqrt(D) for |β|^2 = D)")
FINE_TUNING_NUMBERS = (
    Number("nu2", "[0, inf)", "target samples per input dimension ν2 = P_t / D"),
    Number("alpha", "[-1, 1]", "teachers' alignment α = β_s · β_t / D"),
    Number("chi", "[0, inf)", "the source-trained first layer's gain χ in the source teacher's direction"),
)


def richness_gain(gamma1: Float[ArrayLike, "*s"]) -> Float[Array, "*s"]:
    """chi = sqrt(1 + gamma1^2) - 1, the gain of the first layer's second moment in the source
    teacher's direction after gradient flow on the source (module docstring):
    W^T W / N -> I + (chi/D) beta_s beta_s^T.

    **Arguments:**
    - `gamma1`: the source stage's richness gamma1 >= 0 (dimensionless), any shape. For the
      network f(x) = (1/(gamma N)) sum_i w_i W_i . x / sqrt(D) with teachers of norm sqrt(D),
      gamma1 = gamma sqrt(D).

    **Returns:** chi >= 0 (dimensionless), the shape of `gamma1`, float64. A ValueError names
    `gamma1` if it is negative or NaN; works under `jax.jit`, `jax.vmap` and `jax.grad`.
    """
    gamma1 = RICHNESS.check(gamma1)
    return jnp.sqrt(1.0 + gamma1**2) - 1.0


def fine_tuning_loss(
    nu2: Float[ArrayLike, "*s"], alpha: Float[ArrayLike, "*s"], chi: Float[ArrayLike, "*s"]
) -> Float[Array, "*s"]:
    """The target's test error L = E(f - y_t)^2 after lazy fine-tuning of a linear network
    pretrained on infinite source data (module docstring; README.md in this folder, 11.7):

        L = (1 - nu2) [1 - 2 chi alpha^2 nu2 / (1 + chi nu2) + chi^2 alpha^2 nu2^2 / (1 + chi nu2)^2]

    for 0 <= nu2 < 1, and 0 for nu2 >= 1. L <= 1 - nu2, the error without pretraining
    (chi = 0) or with unrelated teachers (alpha = 0); as chi -> inf, L -> (1 - nu2)(1 - alpha^2).

    **Arguments** (broadcast against each other):
    - `nu2`: nu2 = P_t / D >= 0, target samples per input dimension.
    - `alpha`: the teachers' alignment beta_s . beta_t / D in [-1, 1].
    - `chi`: the source stage's gain chi >= 0 (`richness_gain`).

    **Returns:** L in units of the labels' variance (1), the broadcast shape, float64. A
    ValueError names the argument out of its range (or NaN); works under `jax.jit`, `jax.vmap`
    and `jax.grad` (the gradient is 0 for nu2 >= 1).

    Example: `fine_tuning_loss(0.8, 0.5, 1.0)` is 0.2 (1 - 0.4/1.8 + 0.16/3.24) = 0.1654.
    """
    nu2, alpha, chi = (p.check(v) for p, v in zip(FINE_TUNING_NUMBERS, (nu2, alpha, chi)))
    below = nu2 < 1.0
    nu = jnp.where(below, nu2, 0.0)  # the formula only where it holds: no stray value in the gradient
    shrink = chi * nu / (1.0 + chi * nu)  # the share of the target's beta_s part that the spike fits
    loss = (1.0 - nu) * (1.0 - 2.0 * alpha**2 * shrink + alpha**2 * shrink**2)
    return jnp.where(below, loss, 0.0)
