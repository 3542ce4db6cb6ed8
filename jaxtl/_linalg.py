"""Symmetric eigendecomposition whose derivative survives degenerate eigenvalues."""

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float


@jax.custom_jvp
def eigh(K: Float[Array, "P P"]) -> tuple[Float[Array, " P"], Float[Array, "P P"]]:
    """Eigenvalues (ascending) and orthonormal eigenvectors (columns) of the symmetric K.

    Same as `jnp.linalg.eigh`, except in its derivative: the eigenvector tangent
    U (F * U^T dK U), F[i, j] = 1/(k_j - k_i), drops the pairs whose eigenvalues agree to
    working precision (relative gap below P * eps), where `jnp.linalg.eigh` divides by zero
    or by rounding noise. Every jaxtl quantity is a spectral function of K, invariant under
    rotations inside a degenerate eigenspace, so those pairs carry no derivative of it: for
    the identity kernel with P > N0, for instance, U^T dK U vanishes on the null space.
    """
    k, U = jnp.linalg.eigh((K + K.T) / 2)
    return k, U


@eigh.defjvp
def _eigh_jvp(primals, tangents):
    (K,), (dK,) = primals, tangents
    k, U = eigh(K)
    dKt = U.T @ ((dK + dK.T) / 2) @ U
    gap = k[None, :] - k[:, None]
    tol = k.shape[-1] * jnp.finfo(k.dtype).eps * jnp.max(jnp.abs(k))
    separated = jnp.abs(gap) > tol
    F = jnp.where(separated, 1 / jnp.where(separated, gap, 1.0), 0.0)
    return (k, U), (jnp.diagonal(dKt), U @ (F * dKt))
