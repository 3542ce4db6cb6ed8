"""The transfer theory over a (gamma, rho) grid: jaxtl against a per-point SciPy solve.

One teacher pair (erf, Ps = 1000, Pt = 200, P0 = 500, N0 = 200, N1 = 500, T = 0.05); rho
changes only the target labels, gamma the target kernels. jaxtl: `jaxtl.transfer` and the
target test error, `jax.vmap` over rho inside `jax.lax.map` over gamma (one gamma's points per
chunk, so the kernels of a gamma are built once and memory stays at one chunk). SciPy: the same
equations with dense NumPy matrices per point (kernels, Brent for Q_s, `scipy.optimize.root` on
the gradient of the potential, the predictor), as in `tests/helpers.py`, timed on a few points.
A second jaxtl row runs the same grid warm-started along gamma (`lax.scan` over gamma, each
rho's Newton solve starting from its solution at the previous gamma; jaxtl-internal `start`).

What bounds the time (Pt = 200, float64, CPU): the target solve is a presolve of O(Pt) a step,
then three exact gradients of the potential (chord steps), each one Pt x Pt inverse and two
Pt x Pt products (README.md of jaxtl/theory, section 6.4); the test error reuses the last
inverse and takes one more product (section 4.5). Nothing O(Pt^3) is shared between points,
since M = C_e + T I mixes K_tt, K_tt' and I with point-dependent weights. A warm start along
gamma changes only the presolve's start: it saves little now. benchmarks/README.md has the
measured tables, and `benchmarks/transfer_sweep.py` the cost a point in 200 x 200 products.

    python benchmarks/transfer.py                 # 100 x 100 = 10^4 points
    python benchmarks/transfer.py --gammas 10 --rhos 10 --scipy-points 3
"""

import argparse
import os
import pathlib
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

import jaxtl

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tests"))
import helpers  # noqa: E402  (the independent dense reference of the test suite)

SIZES = dict(Ps=1000, Pt=200, P0=500, N0=200)
WIDTH, TEMPERATURE = 500.0, 0.05


def grid_function():
    def point(Xs, ys, Xt, yt, X0, y0, gamma):
        sol = jaxtl.transfer((Xs, ys), (Xt, yt), width=WIDTH, temperature=TEMPERATURE, coupling=gamma, throw=False)
        return sol.test_error(X0, y0).total, sol.converged, sol.num_steps

    over_rho = jax.vmap(point, in_axes=(None, None, None, 0, None, 0, None))

    @jax.jit
    def grid(Xs, ys, Xt, yts, X0, y0s, gammas):
        return jax.lax.map(lambda g: over_rho(Xs, ys, Xt, yts, X0, y0s, g), gammas)

    return grid


def warm_grid_function():
    """The same grid, gamma by gamma in a `lax.scan` whose carry is each rho's solution: Newton
    starts from the solution at the previous gamma (jaxtl's internal `start`, a cold start where
    that one did not converge). Same equations, same tolerance, fewer Newton steps."""
    from jaxtl.kernels import get_activation
    from jaxtl.theory._transfer import _solve

    act = get_activation("erf")
    scalar = lambda v: jnp.asarray(v, float)

    def point(Xs, ys, Xt, yt, X0, y0, gamma, start):
        sol = _solve(Xs, ys, Xt, yt, width=scalar(WIDTH), temperature=scalar(TEMPERATURE),
                     source_temperature=scalar(TEMPERATURE), coupling=gamma, lambda0=scalar(1.0), lambda1=scalar(1.0),
                     activation=act, throw=False, start=start)  # fmt: skip
        x = jnp.stack([jnp.log(sol.Q_t - sol.Q_tt), sol.Q_tt])
        return (sol.test_error(X0, y0).total, sol.converged, sol.num_steps), x

    over_rho = jax.vmap(point, in_axes=(None, None, None, 0, None, 0, None, 0))

    @jax.jit
    def grid(Xs, ys, Xt, yts, X0, y0s, gammas):
        def along_gamma(start, g):
            out, x = over_rho(Xs, ys, Xt, yts, X0, y0s, g, start)
            return jnp.where(out[1][:, None], x, jnp.nan), out

        return jax.lax.scan(along_gamma, jnp.full((yts.shape[0], 2), jnp.nan), gammas)[1]

    return grid


def timed(grid, data, repeats):
    start = time.perf_counter()
    out = jax.block_until_ready(grid(*data))
    first = time.perf_counter() - start
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(grid(*data))
        runs.append(time.perf_counter() - start)
    return out, first, statistics.median(runs)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gammas", type=int, default=100)
    parser.add_argument("--rhos", type=int, default=100)
    parser.add_argument("--scipy-points", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    rhos = jnp.linspace(0.0, 1.0, args.rhos)
    gammas = jnp.logspace(-2, 2, args.gammas)
    make = jax.vmap(lambda r: jaxtl.tasks.teacher_pair(jax.random.key(0), rho=r, gain=2.0, noise=0.1, **SIZES))
    pairs = make(rhos)
    data = (pairs.Xs[0], pairs.ys[0], pairs.Xt[0], pairs.yt, pairs.X0[0], pairs.y0, gammas)

    (errors, converged, steps), first, run = timed(grid_function(), data, args.repeats)
    (warm_errors, warm_converged, warm_steps), warm_first, warm_run = timed(warm_grid_function(), data, args.repeats)
    n = args.gammas * args.rhos

    rng = np.random.default_rng(0)
    scipy_times, deviations = [], []
    for _ in range(args.scipy_points):
        i, j = rng.integers(args.gammas), rng.integers(args.rhos)
        arrays = [np.asarray(a) for a in (pairs.Xs[0], pairs.ys[0], pairs.Xt[0], pairs.yt[j], pairs.X0[0], pairs.y0[j])]
        start = time.perf_counter()
        ref = helpers.transfer(*arrays, width=WIDTH, temperature=TEMPERATURE, coupling=float(gammas[i]),
                               lambda0=1.0, lambda1=1.0, activation="erf")
        scipy_times.append(time.perf_counter() - start)
        deviations.append(abs(ref[4] - float(errors[i, j])) / ref[4])
    per_point_scipy = statistics.median(scipy_times)
    warm_vs_cold = float(jnp.max(jnp.abs(warm_errors - errors) / jnp.abs(errors)))

    print(f"transfer theory, erf, {SIZES}, N1 = {WIDTH:g}, T = {TEMPERATURE}; jax {jax.__version__} on "
          f"{jax.devices()[0].platform}, {os.cpu_count()} cores")
    print(f"grid: {args.gammas} gammas (1e-2..1e2) x {args.rhos} rhos (0..1) = {n} points; "
          f"converged {int(converged.sum())}/{n} (warm {int(warm_converged.sum())}/{n}); solver evaluations median "
          f"{float(jnp.median(steps)):g}, max {int(steps.max())} (warm: median {float(jnp.median(warm_steps)):g}, "
          f"max {int(warm_steps.max())})")
    print(f"| method | grid time (s) | per point (ms) | ratio |")
    print(f"|---|---|---|---|")
    print(f"| jaxtl.transfer, first call (compile + run) | {first:.2f} | {1e3 * first / n:.3f} | |")
    print(f"| jaxtl.transfer, median of {args.repeats} | {run:.2f} | {1e3 * run / n:.3f} | 1 |")
    print(f"| warm-started along gamma, first call | {warm_first:.2f} | {1e3 * warm_first / n:.3f} | |")
    print(f"| warm-started along gamma, median of {args.repeats} | {warm_run:.2f} | {1e3 * warm_run / n:.3f} | "
          f"{warm_run / run:.2f} |")
    print(f"| SciPy per point, median of {args.scipy_points} (grid extrapolated) | {per_point_scipy * n:.1f} | "
          f"{1e3 * per_point_scipy:.1f} | {per_point_scipy * n / run:.0f}x |")
    print(f"largest relative deviation of the test error, jaxtl vs SciPy, on those points: {max(deviations):.1e}; "
          f"warm vs cold start, whole grid: {warm_vs_cold:.1e}")


if __name__ == "__main__":
    main()
