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
    np.testing.assert_allclose(jax.jit(jax.vmap(inv))(M), np.linalg.inv(M), rtol=1e-10, atol=1e-14)
    A = np.random.default_rng(5).standard_normal((75, 75))
    S = A + A.T
    np.testing.assert_allclose(jax.jit(inv)(S) @ S, np.eye(75), atol=1e-9)


def test_inverse_is_accurate_for_a_wide_diagonal_and_for_dense_ill_conditioned_matrices():
    """A diagonal spread over nine decades with a 1% off-diagonal part (condition number 1e9,
    like the transfer theory's M): the Jacobi-scaled Schur inverse is accurate to rounding. A
    dense positive-definite matrix with condition number 1e6, where Schur complements alone
    lose six digits: the residual probe hands it to LU, as accurate as NumPy's."""
    rng = np.random.default_rng(6)
    n = 200
    d = np.logspace(0, -9, n)
    A = rng.standard_normal((n, n))
    E = (A + A.T) / 2
    np.fill_diagonal(E, 0)
    E *= 0.01 / np.linalg.norm(E, 2)
    wide = np.sqrt(d)[:, None] * (np.eye(n) + E) * np.sqrt(d)[None, :]
    U = np.linalg.qr(rng.standard_normal((n, n)))[0]
    dense = U @ np.diag(np.logspace(0, -6, n)) @ U.T
    inverse = jax.jit(inv)
    for M, rtol in ((wide, 1e-13), (dense, 1e-9)):
        reference = np.linalg.inv(M)
        assert np.max(np.abs(np.asarray(inverse(jnp.asarray(M))) - reference)) < rtol * np.max(np.abs(reference))
    batched = jax.jit(jax.vmap(inv))(jnp.stack([wide, dense]))  # one point needs LU: the other keeps its Schur inverse
    np.testing.assert_array_equal(batched[0], inverse(jnp.asarray(wide)))
    np.testing.assert_allclose(batched[1], np.linalg.inv(dense), rtol=1e-9, atol=1e-9 * np.max(np.abs(np.linalg.inv(dense))))


def test_import_gives_scipy_blas_one_thread_unless_the_user_set_it():
    """Importing jaxtl limits SciPy's OpenBLAS (the LAPACK of JAX's CPU programs) to one thread,
    NumPy's BLAS left alone; `every_thread_for_lapack` gives back the threads it had within its
    block, limits them again after it and stops the library's worker threads (the process has
    fewer threads after the block than within it), which the next block starts again (more
    threads within it, its eigenvalues right), unless another non-daemon Python thread is alive
    (then the threads are kept); with OPENBLAS_NUM_THREADS set, jaxtl leaves the threads as set."""
    import os
    import subprocess
    import sys

    import pytest

    code = ("import os, jaxtl, threadpoolctl, numpy as np, scipy.linalg\n"
            "count = lambda: {os.path.basename(os.path.dirname(i['filepath'])): i['num_threads'] "
            "for i in threadpoolctl.threadpool_info() if i['user_api'] == 'blas'}\n"
            "tasks = lambda: len(os.listdir('/proc/self/task')) if os.path.isdir('/proc/self/task') else 0\n"
            "A = np.random.default_rng(0).standard_normal((400, 400))\nA = A + A.T\n"
            "before = count()\n"
            "with jaxtl._threads.every_thread_for_lapack():\n    within = count()\n    scipy.linalg.eigh(A)\n"
            "    busy = tasks()\n"
            "idle = tasks()\n"
            "with jaxtl._threads.every_thread_for_lapack():\n    k = scipy.linalg.eigvalsh(A)\n    again = tasks()\n"
            "import threading\nother = threading.Event()\nworker = threading.Thread(target=other.wait)\nworker.start()\n"
            "with jaxtl._threads.every_thread_for_lapack():\n    scipy.linalg.eigh(A)\n    shared = tasks()\n"
            "kept = tasks()\nother.set()\nworker.join()\n"
            "print((before, within, count(), busy, idle, float(np.max(np.abs(k - np.linalg.eigvalsh(A)))), again, shared, kept))")  # fmt: skip
    environment = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}
    threads = lambda env: eval(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,  # noqa: E731
                                              check=True).stdout)  # fmt: skip
    default, within, after, busy, idle, error, again, shared, kept = threads(environment)
    if "scipy.libs" not in default:
        pytest.skip("SciPy here does not bundle its own OpenBLAS")
    assert default["scipy.libs"] == 1 and after["scipy.libs"] == 1
    assert error < 1e-10
    if len(os.sched_getaffinity(0)) > 1:  # OpenBLAS starts with a thread per core it may use
        assert within["scipy.libs"] > 1
        if "numpy.libs" in default:
            assert default["numpy.libs"] > 1
        if busy:  # Linux: the process's threads
            assert idle < busy and again > idle  # stopped after the block, started again within the next
            assert kept == shared  # not stopped while another (non-daemon) Python thread is alive
    assert all(count["scipy.libs"] == 2 for count in threads(environment | {"OPENBLAS_NUM_THREADS": "2"})[:3])


def test_positive_definite_certified_or_factorized_agrees_with_the_spectrum():
    """`positive_definite` against the smallest eigenvalue (NumPy) on matrices the diagonal
    certificate decides (nearly diagonal, positive diagonal) and on those it leaves to
    Cholesky (strong off-diagonal parts, positive definite or not, a negative diagonal entry,
    a NaN), alone and mixed in one vmapped batch."""
    from jaxtl.theory._linalg import positive_definite

    rng = np.random.default_rng(3)
    n = 40
    noise = rng.standard_normal((n, n))
    noise = (noise + noise.T) / 2
    diagonal = np.diag(rng.uniform(1.0, 2.0, n))
    cases = [diagonal + 1e-3 * noise, diagonal + 0.08 * noise, diagonal + 0.6 * noise, spd(n, 4) * 1e-3,
             np.diag(np.r_[-0.1, np.ones(n - 1)]) + 1e-3 * noise]
    nan = cases[0].copy()
    nan[3, 5] = nan[5, 3] = np.nan
    expected = [bool(np.linalg.eigvalsh(M)[0] > 0) for M in cases] + [False]
    scaled = lambda M: M / np.sqrt(np.outer(np.diag(M), np.diag(M))) - np.eye(n)  # noqa: E731
    assert np.linalg.norm(scaled(cases[0])) < 0.9 < np.linalg.norm(scaled(cases[1]))  # certified; left to Cholesky
    assert expected[:4] == [True, True, False, True] and not expected[4]
    cases.append(nan)
    got = [bool(positive_definite(jnp.asarray(M))) for M in cases]
    assert got == expected
    assert list(np.asarray(jax.vmap(positive_definite)(jnp.asarray(np.stack(cases))))) == expected
    assert list(np.asarray(jax.vmap(positive_definite)(jnp.asarray(np.stack(cases[:1] * 3))))) == [True] * 3
