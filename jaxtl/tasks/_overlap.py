"""Overlaps between the two tasks of a pair: of their teachers and of their input distributions."""

import jax.numpy as jnp
from jaxtyping import Array, Float


def cosine(a: Float[Array, "*shape"], b: Float[Array, "*shape"]) -> Float[Array, ""]:
    """a . b / (|a| |b|) over all entries: the overlap of two teacher vectors (or feature matrices)."""
    return jnp.vdot(a, b) / (jnp.linalg.norm(a) * jnp.linalg.norm(b))


def input_overlap(X1: Float[Array, "P1 N0"], X2: Float[Array, "P2 N0"]) -> Float[Array, ""]:
    """Overlap of two input distributions: the cosine of their second-moment matrices.

    With S = E[x x^T] (not centred, so a shift of the mean counts), the overlap is
    Tr(S1 S2) / sqrt(Tr(S1^2) Tr(S2^2)): 1 for identical distributions, 0 for inputs in
    orthogonal subspaces. It is the alignment of the two linear kernels x . x'.

    Each trace is estimated without bias: Tr(S1 S2) by the mean of (x . x')^2 over all
    P1 P2 pairs of a point of X1 and a point of X2, Tr(S^2) by the mean of (x_a . x_b)^2 over
    the P (P - 1) pairs a != b of one sample, so that two samples of one distribution give
    1 up to sampling error, with no bias of order N0 / P. NaN if P1 or P2 is 1.

    Example: for x ~ N(0, I) against x ~ N(mu, I) it is (1 + m) / sqrt(1 + 2 m + N0 m^2) with
    m = |mu|^2 / N0.
    """
    p1, p2 = X1.shape[0], X2.shape[0]
    self1 = _frobenius_sq(X1, X1) - jnp.sum(jnp.sum(X1 * X1, axis=1) ** 2)
    self2 = _frobenius_sq(X2, X2) - jnp.sum(jnp.sum(X2 * X2, axis=1) ** 2)
    cross = _frobenius_sq(X1, X2) / (p1 * p2)
    return cross / jnp.sqrt(self1 / (p1 * (p1 - 1)) * self2 / (p2 * (p2 - 1)))


def _frobenius_sq(A: Float[Array, "P1 N0"], B: Float[Array, "P2 N0"]) -> Float[Array, ""]:
    """|A B^T|_F^2 = Tr(A^T A B^T B), through the P1 x P2 or the N0 x N0 products, whichever is smaller."""
    if A.shape[0] * B.shape[0] <= A.shape[1] ** 2:
        return jnp.sum((A @ B.T) ** 2)
    return jnp.sum((A.T @ A) * (B.T @ B))
