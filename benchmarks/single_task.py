"""Single-task theory over a (T, N1) grid with the test error: jaxtl against per-point SciPy.

Every method computes, at each of the grid's points, Q* and the test error on P0 test points.
jaxtl, timed from the data (the P x P kernel and its eigendecomposition, and the test kernels,
included), second call, median of `--repeats`:

- `jaxtl.sweep` of the single-task theory on the data as a `jaxtl.tasks.TaskPair`;
- one `jax.jit` of nested `jax.vmap`s of `jaxtl.single_task` and its test error, N1 innermost
  (the starting grid's sums over eigenvalues are then computed once per temperature).

The baselines run in this process on the same data, one point at a time:

- lean: `scipy.optimize.minimize` (L-BFGS-B) of the action in the kernel's eigenbasis, O(P) an
  evaluation, then the test error from the eigendecomposition and test kernels (one P x P0
  matrix-vector product); the eigendecomposition and test kernels computed once, not timed;
- peer: the same minimize with the action from a P x P log-determinant and solve at each
  evaluation, as older kernel-renormalization code does, and the predictor from one P x P
  solve, on a few points.

What jaxtl computes once per data set (the kernel, its eigendecomposition, the labels in its
eigenbasis and the test kernels, which the lean baseline is given untimed) is timed alone too
(jaxtl, in this process), and the per-point cost beyond it is compared with the lean baseline
on that footing: the nested call's time a point minus the once-per-data-set time a point.

With `--baseline REV`, jaxtl as of git revision REV (`git archive` into a temporary folder,
imported as a second package) runs the same `jaxtl.sweep`, its calls interleaved with the current
ones: one more row, its ratios, the ratio of the two and the largest relative difference of their
test errors.

    python benchmarks/single_task.py [--points 10000] [--P 1000] [--scipy-points 10000] [--dense-points 10] [--no-sweep]
    python benchmarks/single_task.py --baseline eafb44e
"""

import argparse
import statistics
import time

import jax
import numpy as np
import scipy.optimize

import jaxtl
from _baseline import baseline_package
from jaxtl.kernels import get_activation, nngp
from jaxtl.theory._single_task import kernel_spectrum, kernels_on_test_set


def lean_action_minimum(k, y_eig, width, temperature):
    def action(x):
        Q = x[0]
        a = temperature + Q * k
        return Q - np.log(Q) + np.sum(np.log(a) + y_eig**2 / a) / width

    return scipy.optimize.minimize(action, x0=[1.0], method="L-BFGS-B", bounds=[(1e-10, None)]).x[0]


def lean_point(k, y_eig, k0, mean_k00, v, y0, width, temperature):
    """Q* and the test error, O(P) per action evaluation and one P x P0 product (lambda1 = 1)."""
    Q = lean_action_minimum(k, y_eig, width, temperature)
    w = 1 / (k + temperature / Q)
    return Q, np.mean((y0 - k0.T @ (w * y_eig)) ** 2) + Q * (mean_k00 - w @ v)


def peer_point(K, y, K0, mean_k00, y0, width, temperature):
    """The same with a P x P log-determinant and solve per evaluation and a P x P solve for the
    predictor (lambda1 = 1)."""

    def action(x):
        A = temperature * np.eye(len(y)) + x[0] * K
        return x[0] - np.log(x[0]) + (np.linalg.slogdet(A)[1] + y @ np.linalg.solve(A, y)) / width

    Q = scipy.optimize.minimize(action, x0=[1.0], method="L-BFGS-B", bounds=[(1e-10, None)]).x[0]
    Z = np.linalg.solve(K + (temperature / Q) * np.eye(len(y)), np.column_stack([y, K0]))
    variance = Q * (mean_k00 - np.mean(np.sum(K0 * Z[:, 1:], axis=0)))
    return Q, np.mean((y0 - K0.T @ Z[:, 0]) ** 2) + variance


def median_time(f, repeats):
    jax.block_until_ready(f())  # compile (and the first call)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(f())
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=10_000)
    parser.add_argument("--scipy-points", type=int, default=10_000, help="lean-baseline points (a random subset)")
    parser.add_argument("--dense-points", type=int, default=10, help="peer-baseline points")
    parser.add_argument("--P", type=int, default=1000)
    parser.add_argument("--P0", type=int, default=200)
    parser.add_argument("--N0", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-sweep", action="store_true", help="leave out the jaxtl.sweep row")
    parser.add_argument("--baseline", help="a git revision whose jaxtl.sweep is timed too, in the same process")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    teacher = rng.standard_normal(args.N0)
    X, X0 = rng.standard_normal((args.P, args.N0)), rng.standard_normal((args.P0, args.N0))
    y, y0 = (np.tanh(2 * Z @ teacher / np.sqrt(args.N0)) for Z in (X, X0))
    side = int(round(np.sqrt(args.points)))
    temperatures, widths = np.logspace(-3, 0, side), np.logspace(1.5, 4, side)
    T, N1 = (a.ravel() for a in np.meshgrid(temperatures, widths, indexing="ij"))  # N1 fastest
    n = T.size

    # Data as arguments, not closed over: XLA would constant-fold the kernel at compile time.
    def point(X, y, X0, y0, T, N1):
        sol = jaxtl.single_task(X, y, width=N1, temperature=T, throw=False)
        return sol.Q, sol.test_error(X0, y0).total

    nested = jax.jit(jax.vmap(jax.vmap(point, (None,) * 5 + (0,)), (None,) * 4 + (0, None)))
    nested_seconds = median_time(lambda: nested(X, y, X0, y0, temperatures, widths), args.repeats)
    Q, error = (np.ravel(a) for a in nested(X, y, X0, y0, temperatures, widths))

    sweep_seconds = sweep_deviation = np.nan
    baseline = {}  # with --baseline: its sweep's time and its test errors' largest deviation
    if not args.no_sweep:
        packages = [jaxtl] + ([baseline_package(args.baseline)] if args.baseline else [])

        def sweep(package):
            pair = package.tasks.TaskPair(Xs=X, ys=y, Xt=X, yt=y, X0=X0, y0=y0)
            return package.sweep(pair, theory="single_task", temperature=temperatures, width=widths,
                                 progress=False).test_error.values  # fmt: skip

        errors = [sweep(package) for package in packages]  # compile
        times = [[] for _ in packages]
        for _ in range(args.repeats):  # interleaved: each revision sees the same load
            for package, seconds in zip(packages, times):
                start = time.perf_counter()
                sweep(package)
                seconds.append(time.perf_counter() - start)
        sweep_seconds = statistics.median(times[0])
        sweep_deviation = np.max(np.abs(errors[0].ravel() / error - 1))
        if args.baseline:
            baseline = dict(seconds=statistics.median(times[1]), deviation=np.max(np.abs(errors[0] / errors[1] - 1)))

    # What jaxtl computes once per data set (the lean baseline is given it, untimed): the
    # kernel's eigendecomposition, the labels in its eigenbasis and the test kernels.
    erf = get_activation("erf")

    def once(X, y, X0):
        k, U = kernel_spectrum(X, 1.0, erf)
        return k, U.T @ y, kernels_on_test_set(X, U, X0, 1.0, erf)

    once = jax.jit(once)
    eig_seconds = median_time(lambda: once(X, y, X0), args.repeats)

    sol = jaxtl.single_task(X, y, width=100.0, temperature=0.1)
    k, U, y_eig = np.asarray(sol.eigenvalues), np.asarray(sol.eigenvectors), np.asarray(sol.labels_eig)
    K, K0 = np.asarray(nngp(X, X)), np.asarray(nngp(X, X0))
    mean_k00 = float(np.mean(np.asarray(jaxtl.kernels.gram_diag(X0, var1=1.0, var2=1.0, cov=1.0))))
    k0 = U.T @ K0
    v = np.mean(k0**2, axis=1)
    subset = rng.choice(n, min(args.scipy_points, n), replace=False)
    start = time.perf_counter()
    lean = np.array([lean_point(k, y_eig, k0, mean_k00, v, y0, N1[i], T[i]) for i in subset])
    lean_seconds = time.perf_counter() - start
    dense = subset[: args.dense_points]
    start = time.perf_counter()
    peer = np.array([peer_point(K, y, K0, mean_k00, y0, N1[i], T[i]) for i in dense])
    peer_seconds = time.perf_counter() - start

    per = dict(sweep=sweep_seconds / n, nested=nested_seconds / n, eig=eig_seconds / n,
               lean=lean_seconds / subset.size, peer=peer_seconds / dense.size)
    if baseline:
        per[f"sweep at {args.baseline}"] = baseline["seconds"] / n
    print(f"P = {args.P}, N0 = {args.N0}, P0 = {args.P0} test points; jax {jax.__version__}; grid: {side} "
          f"temperatures in [1e-3, 1] x {side} widths in [31.6, 1e4]; Q* and the test error at every point")
    print(f"{'method':<52}{'points':>8}{'seconds':>10}{'us / point':>12}")
    rows = [
        (f"jaxtl.sweep, theory='single_task' (median of {args.repeats})", n, sweep_seconds, per["sweep"]),
        *([(f"jaxtl.sweep as of {args.baseline} (median of {args.repeats})", n, baseline["seconds"],
            per[f"sweep at {args.baseline}"])] if baseline else []),
        (f"jaxtl jit(vmap(vmap)), N1 innermost (median of {args.repeats})", n, nested_seconds, per["nested"]),
        ("  of which: once per data set (alone)", n, eig_seconds, per["eig"]),
        ("lean: scipy minimize, eigenbasis, per point", subset.size, lean_seconds, per["lean"]),
        ("peer: scipy minimize, P x P solve per evaluation", dense.size, peer_seconds, per["peer"]),
    ]
    for name, points, seconds, each in rows:
        print(f"{name:<52}{points:>8}{seconds:>10.3f}{1e6 * each:>12.2f}")
    for name in ("sweep", "nested", *([f"sweep at {args.baseline}"] if baseline else [])):
        print(f"ratio per point, {name}: peer / jaxtl {per['peer'] / per[name]:.0f}x, lean / jaxtl "
              f"{per['lean'] / per[name]:.1f}x")
    if baseline:
        print(f"sweep, {args.baseline} / current: {baseline['seconds'] / sweep_seconds:.2f}x (medians of interleaved calls); "
              f"test errors, current vs {args.baseline}: largest relative difference {baseline['deviation']:.1e}")
    beyond = per["nested"] - per["eig"]
    print(f"per point beyond the once-per-data-set part (the lean baseline's footing: it is given the "
          f"eigendecomposition and test kernels): jaxtl {1e6 * beyond:.2f} us, lean / jaxtl {per['lean'] / beyond:.1f}x")
    deviation = max(np.max(np.abs(Q[subset] / lean[:, 0] - 1)), np.max(np.abs(Q[dense] / peer[:, 0] - 1)))
    error_deviation = np.max(np.abs(error[dense] / peer[:, 1] - 1))
    print(f"max |Q_jaxtl / Q_scipy - 1| = {deviation:.1e} (L-BFGS-B default tolerances); test error, jaxtl vs "
          f"peer: {error_deviation:.1e}; sweep vs jit(vmap(vmap)): {sweep_deviation:.1e}")


if __name__ == "__main__":
    main()
