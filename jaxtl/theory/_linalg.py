"""Symmetric eigendecomposition, matrix inverse, linear solve and positive-definiteness test for the
theories.

All four differ from `jnp.linalg` in two ways:

- their derivatives are written out (`eigh` survives degenerate eigenvalues; the test has
  none: it is a condition);
- under `jax.vmap` they loop over the batch (`lax.map`) instead of calling LAPACK's batched
  kernels. On CPU, jaxlib 0.10.2's batched LAPACK kernels (`ParallelBatchMap`) spread the
  batch over XLA's intra-op thread pool from inside a pool thread and block that thread until
  their share is done; as many of them at once as the pool has threads (independent solves of
  one vmapped program, or one per device of a sharded sweep: four forced host devices on two
  cores) leave no thread to do the work, and the program waits for good, every thread idle.
  One matrix per call runs on the calling thread and never waits on the pool.
"""

import jax
import jax.numpy as jnp
from equinox.internal import unvmap_any
from jaxtyping import Array, Bool, Float


def _one_at_a_time(f):
    """`f` (of one array) batched by a loop under `jax.vmap`."""
    f = jax.custom_batching.custom_vmap(f)

    @f.def_vmap
    def rule(axis_size, in_batched, x):
        out = jax.lax.map(f, x) if in_batched[0] else f(x)
        return out, jax.tree.map(lambda _: in_batched[0], out)

    return f


@_one_at_a_time
def _eigh(K):
    k, U = jnp.linalg.eigh(K, symmetrize_input=False)
    return k, U


_inv = _one_at_a_time(jnp.linalg.inv)


_BASE = 32  # matrices up to this size are inverted by LU


def _schur_inverse(M):
    """M^{-1} of a symmetric M = ((A, B), (B^T, C)) by its Schur complement S = C - B^T A^{-1} B:
    M^{-1} = ((A^{-1} + X (A^{-1} B)^T, -X), (-X^T, S^{-1})), X = A^{-1} B S^{-1}, with A^{-1}
    and S^{-1} the same way down to `_BASE` (LU there). Four products of half the size a level:
    about one product of M's size in all, and products use every core, where LAPACK's LU of the
    whole matrix runs on one (five products' time for 200 x 200 on the project's machine). No
    pivoting across blocks: defined for a positive-definite M (A and S are then positive
    definite), and for an indefinite one unless a leading block is singular; accurate where M is
    well conditioned (`inv` scales it first)."""
    n = M.shape[-1]
    if n <= _BASE:
        return _inv(M)
    h = n // 2
    A, B, C = M[:h, :h], M[:h, h:], M[h:, h:]
    Ai = _schur_inverse(A)
    AiB = Ai @ B
    Si = _schur_inverse(C - B.T @ AiB)
    X = AiB @ Si
    return jnp.block([[Ai + X @ AiB.T, -X], [-X.T, Si]])


@jax.custom_jvp
def eigh(K: Float[Array, "P P"]) -> tuple[Float[Array, " P"], Float[Array, "P P"]]:
    """Eigenvalues (ascending) and orthonormal eigenvectors (columns) of the symmetric K, from
    one triangle (LAPACK's syevd; every caller's K is a kernel matrix, symmetric to rounding).
    Averaging K with K^T first, as `jnp.linalg.eigh` does, fused that pass into the kernel's and
    computed each entry twice; and LAPACK reads column-major arrays, so K itself went through a
    transposing copy, while K^T in column-major order is K's own row-major memory: K^T is what
    LAPACK is given (the 1000 x 1000 erf kernel's last pass 12.8 -> 6.4 ms on the project's
    machine; with the average dropped, the sweep's shared part 6-8 ms less; one-off profiles).

    Same as `jnp.linalg.eigh` otherwise, except in its derivative: the eigenvector tangent
    U (F * U^T dK U), F[i, j] = 1/(k_j - k_i), drops the pairs whose eigenvalues agree to
    working precision (relative gap below P * eps), where `jnp.linalg.eigh` divides by zero
    or by rounding noise. Every jaxtl quantity is a spectral function of K, invariant under
    rotations inside a degenerate eigenspace, so those pairs carry no derivative of it: for
    the identity kernel with P > N0, for instance, U^T dK U vanishes on the null space.
    """
    return _eigh(K.T)


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


def _jacobi_scaled(M):
    """(S, S M S) with S = |diag M|^{-1/2}: M scaled to a unit diagonal (up to signs)."""
    S = 1 / jnp.sqrt(jnp.abs(jnp.diagonal(M)))
    return S, S[:, None] * M * S[None, :]


_RESIDUAL = 1e-10  # largest |M~ W~ v - v| / |v| accepted from the Schur-complement inverse


@jax.custom_jvp
def inv(M: Float[Array, "P P"]) -> Float[Array, "P P"]:
    """M^{-1} of a symmetric M with a nonzero diagonal, with the tangent -M^{-1} dM M^{-1}: the
    Jacobi-scaled M~ = S M S, S = |diag M|^{-1/2}, inverted by Schur complements
    (`_schur_inverse`), then M^{-1} = S M~^{-1} S. Its error grows with the condition number of
    M~, not of M: near rounding for the transfer theory's M, which is nearly diagonal in the
    eigenbasis of K_tt (its off-diagonal part about 1% of its diagonal, whatever the spread of
    that diagonal). Where M~ is ill conditioned (strong off-diagonal coupling) the blocks'
    inverses lose more digits than LU: a probe, the residual M~ W~ v - v for a fixed v (two
    matrix-vector products), finds those, and they are inverted by LU instead (under
    `jax.vmap`, LU runs only where some point of the batch needs it)."""
    S, scaled = _jacobi_scaled(M)
    W = _schur_inverse(scaled)
    v = jnp.cos(jnp.arange(M.shape[-1], dtype=M.dtype))  # a fixed probe without special structure
    inaccurate = jnp.max(jnp.abs(scaled @ (W @ v) - v)) > _RESIDUAL * jnp.max(jnp.abs(v))
    W = jax.lax.cond(unvmap_any(inaccurate), lambda: jnp.where(inaccurate, _inv(scaled), W), lambda: W)
    return S[:, None] * W * S[None, :]


@inv.defjvp
def _inv_jvp(primals, tangents):
    (M,), (dM,) = primals, tangents
    W = inv(M)
    return W, -W @ dM @ W


# Per matrix, the verdict alone: a loop under jax.vmap that wrote each whole factor into the
# batch's output would pass over that output at every iteration (0.8 ms a 200 x 200 matrix in
# batches of 50, several times the factorization).
_factorizes = _one_at_a_time(lambda M: jnp.all(jnp.isfinite(jnp.diagonal(jax.lax.linalg.cholesky(M, symmetrize_input=False)))))
_solve = _one_at_a_time(lambda Jg: jnp.linalg.solve(Jg[..., :-1], Jg[..., -1]))


def solve(J: Float[Array, "n n"], g: Float[Array, " n"]) -> Float[Array, " n"]:
    """J^{-1} g (LU) for the Newton steps of problems with more than three coordinates (the
    adaptive-kernel theories), looped under `jax.vmap` like the rest of this module. Called
    only where no derivative is needed (the solver's adjoint has its own linear solve): it has
    none."""
    return _solve(jax.lax.stop_gradient(jnp.concatenate([J, g[:, None]], axis=1)))


_CERTIFIED = 0.9  # |off-diagonal part of S M S|_F below this: positive definite without a factorization


def positive_definite(M: Float[Array, "P P"]) -> Bool[Array, ""]:
    """Whether the symmetric M is positive definite. Certified without a factorization where
    its diagonal is positive and the Jacobi-scaled S M S = I + F (S = diag(M)^{-1/2}) has an
    off-diagonal part F of Frobenius norm below 0.9: every eigenvalue of I + F is then at least
    1 - |F|_2 >= 1 - |F|_F > 0, and M is congruent to I + F (the transfer theory's M, nearly
    diagonal in the eigenbasis of K_tt: |F|_F <= 0.025 at its roots in the benchmarks). The
    certificate reads both triangles, so M must be symmetric (to rounding). Where it fails, the
    Cholesky factorization of the lower triangle decides (LAPACK's potrf; where it fails the
    factor is NaN, its diagonal too); under `jax.vmap` the factorization runs, for the whole
    batch, only when some point of it is not certified. No derivative: a condition."""
    M = jax.lax.stop_gradient(M)
    F = _jacobi_scaled(M)[1] - jnp.eye(M.shape[-1], dtype=M.dtype)
    certified = jnp.all(jnp.diagonal(M) > 0) & (jnp.sum(F**2) < _CERTIFIED**2)  # False where M has a NaN or a zero
    return jax.lax.cond(unvmap_any(~certified), lambda: certified | _factorizes(M), lambda: certified)
