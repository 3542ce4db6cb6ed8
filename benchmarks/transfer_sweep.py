"""The transfer theory's cost a point in `jaxtl.sweep`, in units of one 200 x 200 matrix product,
against an earlier revision of jaxtl in the same process.

The grid: `jaxtl.sweep` of the transfer theory on `teacher_pair` (erf, gain 2, noise 0.1,
Ps = 1000, Pt = 200, P0 = 500, N0 = 200, N1 = 500, T = 0.05) over 10 couplings (log-spaced in
[1e-2, 1e2]) x 50 rho (in [0, 1]): the source's solve, the target's, its test error and the
benefit split at every point, as a user gets them. Timed: the median of `--repeats` calls after
a first call that compiles. The unit: one 200 x 200 float64 product (`jax.jit`, median of 200,
dispatch included), timed in the same process between the calls (the median over rounds); the
ratio is the time a point over that product's.

With `--baseline REV`, the package as of git revision REV (extracted by `git archive` into a
temporary folder and imported as a second package, `jaxtl_baseline`) runs the same grid in the
same process, its calls interleaved with the current ones, and the script prints both rows, the
ratio of their times, and the largest relative difference of the test errors. Where that
difference is largest, it prints how far each revision's root (log(Q_t - Q_tt), Q_tt) is from a
tight one (globalized Newton at tolerance 1e-15 from the current root): which of the two is the
more accurate.

With `--parts`, what a point costs, part by part, measured on the same pair (rho = 0.5,
coupling 1) in the same process: each part `jax.jit(jax.vmap(...))` over 25 points (the state
shared, as in a sweep's block), its median time a point, and that time in products:

- the inverse of M; one exact gradient (the inverse, the products W K', W B, the traces); the
  gradient with its Jacobian (a step of the fallback Newton); the second-order presolve from
  the solve's start;
- the checks of the physical domain (Cholesky of M and of S_g);
- the test error of a solved point (`test_error_of`), and what a block shares for it (the test
  kernels and `TestMoments`, one call, divided by the 25 points);
- the whole target solve (`solve_target`, prior-only reference included).

With `--presolve`, the accuracy of the presolve (README.md of jaxtl/theory, section 6.4) on 18
teacher pairs (gamma in 0.01..100, rho in 0, 0.5, 0.9, the sizes above): the distance of its
root from the exact root and of its Jacobian from the exact Jacobian there, to second order in
the off-diagonal parts of K_tt' and B and with those parts dropped.

    python benchmarks/transfer_sweep.py                          # the current package alone
    python benchmarks/transfer_sweep.py --baseline 4acba7b       # and an earlier revision
    python benchmarks/transfer_sweep.py --parts                  # the cost of each part
    python benchmarks/transfer_sweep.py --presolve               # the presolve's accuracy
    python benchmarks/transfer_sweep.py --chunk-sizes 25 50 100  # blocks of 25, 50, 100 points
"""

import argparse
import os
import statistics
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

import jaxtl
from jaxtl.theory import _transfer
from jaxtl.theory._solve import stationary_point
from _baseline import baseline_package

FIXED = dict(width=500.0, temperature=0.05, gain=2.0, noise=0.1, Ps=1000, Pt=200, P0=500, N0=200)
COUPLINGS, RHOS = np.logspace(-2, 2, 10), np.linspace(0.0, 1.0, 50)


def sweep(package, chunk_size=None):
    return package.sweep(package.tasks.teacher_pair, coupling=COUPLINGS, rho=RHOS, progress=False, chunk_size=chunk_size,
                         **FIXED)  # fmt: skip


def product_seconds(repeats=200):
    A = jnp.asarray(np.random.default_rng(0).standard_normal((200, 200)))
    product = jax.jit(lambda a: a @ a)
    product(A).block_until_ready()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        product(A).block_until_ready()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def tight_root_distances(current, baseline, index):
    """|x - x*| (max over the two coordinates) of the current and the baseline root at the grid
    point `index`, x* the root of the current equations at tolerance 1e-15."""
    gamma, rho = (float(current[n].values[i]) for n, i in zip(("coupling", "rho"), index))
    p = jaxtl.tasks.teacher_pair(jax.random.key(0), rho=rho, gain=FIXED["gain"], noise=FIXED["noise"],
                                 **{k: FIXED[k] for k in ("Ps", "Pt", "P0", "N0")})  # fmt: skip
    sol = jaxtl.transfer((p.Xs, p.ys), (p.Xt, p.yt), width=FIXED["width"], temperature=FIXED["temperature"], coupling=gamma)
    x = lambda ds: np.array([np.log(ds.Q_t.values[index] - ds.Q_tt.values[index]), ds.Q_tt.values[index]])  # noqa: E731
    tight = stationary_point(_transfer._gradient_and_jacobian, jnp.asarray(x(current)), sol.state, rtol=1e-15, atol=1e-15)
    if tight.result != jaxtl.RESULTS.successful:
        raise RuntimeError(f"the reference solve at tolerance 1e-15 failed: {jaxtl.RESULTS[tight.result]}")
    return [float(np.max(np.abs(x(ds) - np.asarray(tight.value)))) for ds in (current, baseline)], (gamma, rho)


def parts(points=25):
    """Rows (part, ms a point) of `--parts` (module docstring)."""
    from jaxtl.theory._linalg import positive_definite

    T = _transfer
    p = jaxtl.tasks.teacher_pair(jax.random.key(0), rho=0.5, gain=FIXED["gain"], noise=FIXED["noise"],
                                 **{k: FIXED[k] for k in ("Ps", "Pt", "P0", "N0")})  # fmt: skip
    sol = jaxtl.transfer((p.Xs, p.ys), (p.Xt, p.yt), width=FIXED["width"], temperature=FIXED["temperature"], coupling=1.0)
    root = jnp.stack([jnp.log(sol.Q_t - sol.Q_tt), sol.Q_tt])
    xs = root + jnp.linspace(0.0, 1e-4, points)[:, None]  # distinct points near the root
    labels = p.yt * jnp.linspace(0.9, 1.1, points)[:, None]
    state = sol.state
    moments = T.TestMoments.of(state, T._test_kernels(sol, p.X0), T._source_inverse(sol), sol.source.labels_eig)

    def timed(f, batched, *shared):
        """Median seconds a point of f over the rows of `batched`, the arrays `shared` passed as
        arguments (not constants of the program, which XLA would fold at compile time)."""
        g = eqx.filter_jit(jax.vmap(f, in_axes=(0,) + (None,) * len(shared)) if batched is not None else f)
        arguments = shared if batched is None else (batched, *shared)
        jax.block_until_ready(g(*arguments))
        times = []
        for _ in range(7):
            start = time.perf_counter()
            jax.block_until_ready(g(*arguments))
            times.append(time.perf_counter() - start)
        return statistics.median(times) / points

    def checks(x, state, Q_st):
        D, Q_tt = jnp.exp(x[0]), x[1]
        S_g = T._field_covariance(Q_tt, Q_st, state)
        return positive_definite(T._target_matrix(D, Q_tt, state)) & positive_definite(S_g)

    def test_moments(sol, X0):
        return T.TestMoments.of(sol.state, T._test_kernels(sol, X0), T._source_inverse(sol), sol.source.labels_eig)

    def target_solve(y, source, Xt):
        return T.solve_target(source, Xt, y, coupling=jnp.asarray(1.0), temperature=jnp.asarray(FIXED["temperature"]),
                              throw=False).Q_t  # fmt: skip

    y0s = p.y0 * jnp.linspace(0.9, 1.1, points)[:, None]
    start = T.starting_point(sol.prior_only.Q, sol.prior_only.state, jnp.asarray(1.0), jnp.asarray(1.0))
    starts = start + jnp.linspace(0.0, 1e-3, points)[:, None]  # the solve's start, as in a sweep
    inverses = jax.vmap(lambda x: T._target_inverse(jnp.exp(x[0]), x[1], state))(xs)
    rows = [
        ("inverse of M", timed(lambda x, s: T._target_inverse(jnp.exp(x[0]), x[1], s).W, xs, state)),
        ("one exact gradient (_gradient)", timed(T._gradient, xs, state)),
        ("gradient and Jacobian (a Newton step)", timed(T._gradient_and_jacobian, xs, state)),
        ("second-order presolve (to its root)", timed(lambda x, s: stationary_point(T._perturbative_gradient_and_jacobian, x, T.Expansion.of(s)).value,
                                                      starts, state)),  # fmt: skip
        ("physical checks (M, S_g positive definite)", timed(checks, xs, state, sol.Q_st)),
        ("test error of a solved point", timed(lambda y0_inv, s, m: T.test_error_of(s, sol.Q_t, sol.Q_tt, sol.Q_st, y0_inv[1], m, y0_inv[0]).total,
                                               (y0s, inverses), state, moments)),  # fmt: skip
        ("test kernels and moments, a block / 25", timed(test_moments, None, sol, p.X0)),
        ("target solve (solve_target)", timed(target_solve, labels, sol.source, p.Xt)),
    ]
    return [(name, seconds * 1e3) for name, seconds in rows]


def presolve_accuracy():
    """Rows (gamma, rho, presolve error, Jacobian error) of `--presolve`: the second-order
    presolve's root and Jacobian against the exact ones (a root at tolerance 1e-15), and the same with the off-diagonal
    parts of K_tt' and B dropped (the presolve of the state with those parts set to zero)."""
    import dataclasses

    T = _transfer
    rows = []
    for coupling in (0.01, 0.1, 1.0, 4.64, 12.9, 100.0):
        for rho in (0.0, 0.5, 0.9):
            p = jaxtl.tasks.teacher_pair(jax.random.key(0), rho=rho, gain=FIXED["gain"], noise=FIXED["noise"],
                                         **{k: FIXED[k] for k in ("Ps", "Pt", "P0", "N0")})  # fmt: skip
            sol = jaxtl.transfer((p.Xs, p.ys), (p.Xt, p.yt), width=FIXED["width"], temperature=FIXED["temperature"],
                                 coupling=coupling)  # fmt: skip
            root = jnp.stack([jnp.log(sol.Q_t - sol.Q_tt), sol.Q_tt])  # the solve's may be the presolve's root:
            root = stationary_point(T._gradient_and_jacobian, root, sol.state, rtol=1e-15, atol=1e-15).value  # tight
            start = T.starting_point(sol.prior_only.Q, sol.prior_only.state, jnp.asarray(coupling), jnp.asarray(1.0))
            J = T._gradient_and_jacobian(root, sol.state)[1]
            diagonal = dataclasses.replace(sol.state, replica_kernel=jnp.diag(jnp.diag(sol.state.replica_kernel)),
                                           source_covariance=jnp.diag(jnp.diag(sol.state.source_covariance)))  # fmt: skip
            errors = []
            for state in (sol.state, diagonal):
                guess = stationary_point(T._perturbative_gradient_and_jacobian, start, T.Expansion.of(state)).value
                J_p = T._perturbative_gradient_and_jacobian(guess, T.Expansion.of(state))[1]
                errors += [float(jnp.max(jnp.abs(guess - root) / (1 + jnp.abs(root)))),
                           float(jnp.linalg.norm(jnp.eye(2) - jnp.linalg.solve(J_p, J), 2))]  # fmt: skip
            rows.append((coupling, rho, *errors))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", help="a git revision to compare with, in the same process")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--parts", action="store_true", help="the cost of each part of a point, instead of the sweep")
    parser.add_argument("--presolve", action="store_true", help="the presolve's accuracy on 18 pairs, instead of the sweep")
    parser.add_argument("--chunk-sizes", type=int, nargs="+", help="time the current package with these chunk sizes")
    args = parser.parse_args()
    if args.chunk_sizes:
        for size in args.chunk_sizes:
            sweep(jaxtl, size)  # compile
        times = {size: [] for size in args.chunk_sizes}
        for _ in range(args.repeats):  # interleaved
            for size in args.chunk_sizes:
                start = time.perf_counter()
                sweep(jaxtl, size)
                times[size].append(time.perf_counter() - start)
        n = len(COUPLINGS) * len(RHOS)
        print(f"{time.strftime('%Y-%m-%d %H:%M')}, load {os.getloadavg()[0]:.2f}; the sweep by chunk size (points a block "
              f"per device), median of {args.repeats}, interleaved")  # fmt: skip
        for size in args.chunk_sizes:
            print(f"chunk_size {size:>4}: {statistics.median(times[size]) / n * 1e3:7.3f} ms / point")
        return
    if args.presolve:
        print(f"presolve root and Jacobian against the exact ones, teacher_pair {FIXED}; errors: max |x_p - x| / (1 + |x|), "
              "|I - J_p^-1 J|")
        print(f"{'gamma':>7} {'rho':>4} | {'second order':>12} {'Jacobian':>9} | {'diagonal':>9} {'Jacobian':>9}")
        for coupling, rho, root, jac, root_d, jac_d in presolve_accuracy():
            print(f"{coupling:>7.2f} {rho:>4.1f} | {root:>12.1e} {jac:>9.1e} | {root_d:>9.1e} {jac_d:>9.1e}")
        return
    if args.parts:
        before = product_seconds()
        rows = parts()
        after = product_seconds()
        unit = (before + after) / 2
        print(f"{time.strftime('%Y-%m-%d %H:%M')}, jax {jax.__version__} on {jax.devices()[0].platform}, {os.cpu_count()} cores, "
              f"load {os.getloadavg()[0]:.2f}; one 200 x 200 float64 product: {unit * 1e3:.3f} ms (mean of {before * 1e3:.3f} "
              f"before and {after * 1e3:.3f} after the parts); parts over 25 points (vmap)")
        print(f"{'part':<42} {'ms / point':>10} {'products / point':>16}")
        for name, ms in rows:
            print(f"{name:<42} {ms:>10.3f} {ms / 1e3 / unit:>16.1f}")
        return
    packages = {"current": jaxtl}
    if args.baseline:
        packages[f"baseline {args.baseline}"] = baseline_package(args.baseline)

    n = len(COUPLINGS) * len(RHOS)
    first, times, results = {}, {name: [] for name in packages}, {}
    for name, package in packages.items():
        start = time.perf_counter()
        results[name] = sweep(package)
        first[name] = time.perf_counter() - start
    units = []
    for _ in range(args.repeats):  # interleaved: both, and the unit, see the same load
        for name, package in packages.items():
            start = time.perf_counter()
            sweep(package)
            times[name].append(time.perf_counter() - start)
        units.append(product_seconds())
    unit = statistics.median(units)

    print(f"jaxtl.sweep, transfer theory, teacher_pair {FIXED}, erf; {len(COUPLINGS)} couplings (1e-2..1e2) x "
          f"{len(RHOS)} rho (0..1) = {n} points")
    print(f"{time.strftime('%Y-%m-%d %H:%M')}, jax {jax.__version__} on {jax.devices()[0].platform}, "
          f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}; one 200 x 200 float64 product: {unit * 1e3:.3f} ms "
          f"(median of {len(units)} rounds, {min(units) * 1e3:.3f}-{max(units) * 1e3:.3f})")
    print(f"{'revision':<22} {'first call s':>12} {'median s':>9} {'ms / point':>10} {'products / point':>16} {'converged':>10}")
    for name in packages:
        median = statistics.median(times[name])
        print(f"{name:<22} {first[name]:>12.2f} {median:>9.2f} {median / n * 1e3:>10.3f} {median / n / unit:>16.1f} "
              f"{int(results[name].converged.sum()):>5}/{n}")
    steps, counts = np.unique(results["current"].num_steps.values, return_counts=True)
    print("solver evaluations a point, current: " + ", ".join(f"{c} points {s}" for s, c in zip(steps, counts)))
    if args.baseline:
        (current, baseline), (name, _) = results.values(), list(packages.items())[1]
        speedup = statistics.median(times[name]) / statistics.median(times["current"])
        deviation = np.abs(current.test_error.values - baseline.test_error.values) / np.abs(baseline.test_error.values)
        index = np.unravel_index(np.nanargmax(deviation), deviation.shape)
        (mine, theirs), (gamma, rho) = tight_root_distances(current, baseline, index)
        print(f"ratio of medians, {name} / current: {speedup:.2f}x")
        print(f"test error, current vs {name}: largest relative difference {np.nanmax(deviation):.1e} "
              f"({int(np.sum(deviation > 1e-10))} of {n} points above 1e-10); there (gamma = {gamma:.3g}, "
              f"rho = {rho:.3g}) the roots are {mine:.1e} (current) and {theirs:.1e} ({name}) from the root "
              "at tolerance 1e-15")


if __name__ == "__main__":
    jax.config.update("jax_enable_x64", True)
    main()
