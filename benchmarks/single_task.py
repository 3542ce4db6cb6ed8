"""Single-task theory over a (T, N1) grid: jaxtl vmapped vs a per-point SciPy minimize.

The baseline is how existing kernel-renormalization code solves the theory: for each
parameter point, `scipy.optimize.minimize` of the effective action S(Q), evaluated in the
eigenbasis of the kernel (O(P) per evaluation, the same eigendecomposition for all points);
a second baseline evaluates S(Q) with a P x P log-determinant and solve, as older code does,
on a few points.
jaxtl's timing includes building the kernel and its eigendecomposition; the baseline's
excludes them. Both run in this process, one after the other, on the same data.

    python benchmarks/single_task.py [--points 10000] [--P 1000] [--scipy-points 10000]
"""

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np
import scipy.optimize

import jaxtl


def scipy_solve(k, y_eig, width, temperature, lambda1):
    def action(x):
        Q = x[0]
        a = temperature + Q * k / lambda1
        return Q - np.log(Q) + np.sum(np.log(a) + y_eig**2 / a) / width

    return scipy.optimize.minimize(action, x0=[1.0], method="L-BFGS-B", bounds=[(1e-10, None)]).x[0]


def dense_scipy_solve(K, y, width, temperature, lambda1):
    """The same minimize, with S(Q) from a P x P log-determinant and solve per evaluation."""

    def action(x):
        A = temperature * np.eye(len(y)) + x[0] * K / lambda1
        return x[0] - np.log(x[0]) + (np.linalg.slogdet(A)[1] + y @ np.linalg.solve(A, y)) / width

    return scipy.optimize.minimize(action, x0=[1.0], method="L-BFGS-B", bounds=[(1e-10, None)]).x[0]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=10_000)
    parser.add_argument("--scipy-points", type=int, default=10_000, help="baseline points (a random subset)")
    parser.add_argument("--dense-points", type=int, default=20, help="dense-baseline points")
    parser.add_argument("--P", type=int, default=1000)
    parser.add_argument("--N0", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    X = rng.standard_normal((args.P, args.N0))
    y = np.tanh(2 * X @ rng.standard_normal(args.N0) / np.sqrt(args.N0))
    side = int(round(np.sqrt(args.points)))
    T, N1 = (a.ravel() for a in np.meshgrid(np.logspace(-3, 0, side), np.logspace(1.5, 4, side)))

    # Data as arguments, not closed over: XLA would constant-fold the kernel at compile time.
    solve = jax.jit(
        jax.vmap(lambda X, y, T, N1: jaxtl.single_task(X, y, width=N1, temperature=T).Q, (None, None, 0, 0))
    )
    Q = np.asarray(solve(X, y, T, N1))  # compile
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        solve(X, y, T, N1).block_until_ready()
        times.append(time.perf_counter() - start)
    jaxtl_seconds = float(np.median(times))

    sol = jaxtl.single_task(X, y, width=100.0, temperature=0.1)
    k, y_eig = np.asarray(sol.eigenvalues), np.asarray(sol.labels_eig)
    subset = rng.choice(T.size, min(args.scipy_points, T.size), replace=False)
    start = time.perf_counter()
    Q_scipy = np.array([scipy_solve(k, y_eig, N1[i], T[i], 1.0) for i in subset])
    scipy_seconds = time.perf_counter() - start
    K = np.asarray(jaxtl.kernels.nngp(X, X))
    dense = subset[: args.dense_points]
    start = time.perf_counter()
    Q_dense = np.array([dense_scipy_solve(K, y, N1[i], T[i], 1.0) for i in dense])
    dense_seconds = time.perf_counter() - start

    per_jaxtl, per_scipy, per_dense = jaxtl_seconds / T.size, scipy_seconds / subset.size, dense_seconds / dense.size
    print(f"P = {args.P}, N0 = {args.N0}, grid: {side} temperatures in [1e-3, 1] x {side} widths in [31.6, 1e4]")
    print(f"{'method':<38}{'points':>8}{'seconds':>10}{'us / point':>12}")
    print(f"{'jaxtl (jit + vmap, median of ' + str(args.repeats) + ')':<38}{T.size:>8}{jaxtl_seconds:>10.3f}{1e6 * per_jaxtl:>12.2f}")
    print(f"{'scipy.optimize.minimize per point':<38}{subset.size:>8}{scipy_seconds:>10.3f}{1e6 * per_scipy:>12.2f}")
    print(f"{'same, P x P solve per evaluation':<38}{dense.size:>8}{dense_seconds:>10.3f}{1e6 * per_dense:>12.2f}")
    print(f"ratio per point, eigenbasis scipy / jaxtl: {per_scipy / per_jaxtl:.0f}x")
    print(f"ratio per point, dense scipy / jaxtl: {per_dense / per_jaxtl:.0f}x")
    deviation = max(np.max(np.abs(Q[subset] / Q_scipy - 1)), np.max(np.abs(Q[dense] / Q_dense - 1)))
    print(f"max |Q_jaxtl / Q_scipy - 1| = {deviation:.1e} (L-BFGS-B default tolerances)")


if __name__ == "__main__":
    main()
