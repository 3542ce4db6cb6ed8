"""The transfer theory over a (gamma, rho) grid: jaxtl against a per-point SciPy solve.

One teacher pair (erf, Ps = 1000, Pt = 200, P0 = 500, N0 = 200, N1 = 500, T = 0.05); rho
changes only the target labels, gamma the target kernels. jaxtl: `jaxtl.transfer` and the
target test error, `jax.vmap` over rho inside `jax.lax.map` over gamma (one gamma's points per
chunk, so the kernels of a gamma are built once and memory stays at one chunk). SciPy: the same
equations with dense NumPy matrices per point (kernels, Brent for Q_s, `scipy.optimize.root` on
the gradient of the potential, the predictor), as in `tests/helpers.py`, timed on a few points.

    python benchmarks/transfer.py                 # 100 x 100 = 10^4 points
    python benchmarks/transfer.py --gammas 10 --rhos 10 --scipy-points 3
"""

import argparse
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

    grid = grid_function()
    start = time.perf_counter()
    errors, converged, steps = jax.block_until_ready(grid(*data))
    first = time.perf_counter() - start
    runs = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        jax.block_until_ready(grid(*data))
        runs.append(time.perf_counter() - start)
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
    run = statistics.median(runs)

    print(f"transfer theory, erf, {SIZES}, N1 = {WIDTH:g}, T = {TEMPERATURE}")
    print(f"grid: {args.gammas} gammas (1e-2..1e2) x {args.rhos} rhos (0..1) = {n} points; "
          f"converged {int(converged.sum())}/{n}; Newton steps median {float(jnp.median(steps)):g}, max {int(steps.max())}")
    print(f"| method | grid time (s) | per point (ms) | ratio |")
    print(f"|---|---|---|---|")
    print(f"| jaxtl, first call (compile + run) | {first:.2f} | {1e3 * first / n:.3f} | |")
    print(f"| jaxtl, median of {args.repeats} | {run:.2f} | {1e3 * run / n:.3f} | 1 |")
    print(f"| SciPy per point, median of {args.scipy_points} (grid extrapolated) | {per_point_scipy * n:.1f} | "
          f"{1e3 * per_point_scipy:.1f} | {per_point_scipy * n / run:.0f}x |")
    print(f"largest relative deviation of the test error, jaxtl vs SciPy, on those points: {max(deviations):.1e}")


if __name__ == "__main__":
    main()
