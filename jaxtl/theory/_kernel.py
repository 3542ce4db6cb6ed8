"""Gram matrices of one-hidden-layer networks: the single kernel function of jaxtl.

Theory note (`shared/theory/transfer.md`), section "Kernels": for first-layer weights of
variances `var1`, `var2` and covariance `cov` (per component), the pre-activations on inputs
x, x' have S11 = var1 |x|^2/N0, S22 = var2 |x'|^2/N0, S12 = cov x.x'/N0, and the kernel is
E[sigma(h1) sigma(h2)]. The NNGP kernel is var1 = var2 = cov = 1/lambda0; the transfer
theory's source, target, replica and source-target kernels are other choices of the three.
"""

import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from ._activation import Activation, get_activation


def gram(
    X1: Float[ArrayLike, "P1 N0"],
    X2: Float[ArrayLike, "P2 N0"],
    *,
    var1: Float[ArrayLike, ""],
    var2: Float[ArrayLike, ""],
    cov: Float[ArrayLike, ""],
    activation: "str | Activation" = "erf",
) -> Float[Array, "P1 P2"]:
    """Kernel matrix K[a, b] = E[sigma(w1 . X1[a] / sqrt(N0)) sigma(w2 . X2[b] / sqrt(N0))].

    **Arguments:**
    - `X1`, `X2`: inputs, one row per point, same input dimension N0.
    - `var1`, `var2`: per-component variances of the weights w1, w2 (for the NNGP kernel,
      1/lambda0 with lambda0 the first-layer prior precision).
    - `cov`: per-component covariance of w1 and w2 (|cov| <= sqrt(var1 var2)).
    - `activation`: "erf", "identity" or "tanh", or a `jaxtl.kernels.Activation`.

    **Returns:** the P1 x P2 kernel matrix. jit-, vmap- and grad-compatible in every argument
    but `activation`.
    """
    act = get_activation(activation)
    X1, X2 = jnp.asarray(X1, float), jnp.asarray(X2, float)
    n0 = X1.shape[-1]
    s11 = var1 * (X1 * X1).sum(-1) / n0
    s22 = var2 * (X2 * X2).sum(-1) / n0
    s12 = cov * (X1 @ X2.T) / n0
    return act.kernel(s11[:, None], s22[None, :], s12)


def gram_diag(
    X: Float[ArrayLike, "P N0"],
    *,
    var1: Float[ArrayLike, ""],
    var2: Float[ArrayLike, ""],
    cov: Float[ArrayLike, ""],
    activation: "str | Activation" = "erf",
) -> Float[Array, " P"]:
    """The diagonal of `gram(X, X, ...)`, K[a, a], without building the P x P matrix."""
    act = get_activation(activation)
    X = jnp.asarray(X, float)
    r = (X * X).sum(-1) / X.shape[-1]
    return act.kernel(var1 * r, var2 * r, cov * r)


def nngp(
    X1: Float[ArrayLike, "P1 N0"],
    X2: Float[ArrayLike, "P2 N0"],
    *,
    lambda0: Float[ArrayLike, ""] = 1.0,
    activation: "str | Activation" = "erf",
) -> Float[Array, "P1 P2"]:
    """NNGP kernel of the one-hidden-layer network with first-layer prior N(0, 1/lambda0)."""
    v = 1 / lambda0
    return gram(X1, X2, var1=v, var2=v, cov=v, activation=activation)
