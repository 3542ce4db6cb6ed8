import re

import jax
import jax.numpy as jnp
import numpy as np

from jaxtl.theory._linalg import eigh, inv


def spd(n, seed, batch=()):
    A = np.random.default_rng(seed).standard_normal((*batch, n, n))
    return A @ np.swapaxes(A, -1, -2) + n * np.eye(n)


def test_vmapped_eigh_and_inverse_match_numpy():
    M = spd(6, 0, batch=(3, 2))
    k, U = jax.vmap(jax.vmap(eigh))(M)
    np.testing.assert_allclose(k, np.linalg.eigvalsh(M), rtol=1e-12)
    np.testing.assert_allclose(U @ (k[..., None] * np.swapaxes(U, -1, -2)), M, rtol=1e-12)
    np.testing.assert_allclose(jax.vmap(jax.vmap(inv))(M), np.linalg.inv(M), rtol=1e-12)


def test_batched_by_a_loop_not_by_lapack():
    # Under vmap the batched LAPACK kernels (which may wait on XLA's CPU thread pool for good)
    # are replaced by a loop over single matrices: every lu and eigh acts on one 4 x 4 matrix.
    jaxpr = str(jax.make_jaxpr(jax.vmap(lambda m: (inv(m), eigh(m))))(jnp.asarray(spd(4, 1, batch=(5,)))))
    shapes = re.findall(r"(f64\[[\d,]+\])[^\n]*= (?:lu|eigh)\b", jaxpr)
    assert shapes and all(s == "f64[4,4]" or s == "f64[4]" for s in shapes), shapes


def test_inverse_derivatives_match_finite_differences():
    M, dM = spd(5, 2), np.random.default_rng(3).standard_normal((5, 5))
    f = lambda t: jnp.sum(jnp.sin(inv(M + t * dM)))
    h = 1e-6
    np.testing.assert_allclose(jax.grad(f)(0.0), (f(h) - f(-h)) / (2 * h), rtol=1e-6)
    np.testing.assert_allclose(jax.jacfwd(f)(0.0), (f(h) - f(-h)) / (2 * h), rtol=1e-6)


def test_inverse_by_schur_complements_matches_numpy_above_the_lu_size():
    # 75 = 37 + 38 and 37 = 18 + 19: uneven splits, two levels of Schur complements, batched;
    # an indefinite symmetric matrix too (its leading blocks are not singular).
    M = spd(75, 4, batch=(3,))
    np.testing.assert_allclose(jax.vmap(inv)(M), np.linalg.inv(M), rtol=1e-10, atol=1e-14)
    A = np.random.default_rng(5).standard_normal((75, 75))
    S = A + A.T
    np.testing.assert_allclose(inv(S) @ S, np.eye(75), atol=1e-9)
