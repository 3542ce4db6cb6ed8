"""Theory against Langevin-sampled networks as the sizes grow.

Single task (jaxtl/theory/README.md, section 3) and transfer (section 4), erf networks
with float32 weights, on teacher pairs (rho = 1, tanh(2 w.x / sqrt(N0)) labels, label noise 0.1,
noiseless test labels): for every width N1 and load alpha = P / N1, the theory's target test
error (`jaxtl.single_task`, `jaxtl.transfer`) against the networks' (`jaxtl.nets`), with the
standard error over independent chains and the relative deviation. N0 = N1 / 2 and P = alpha N1
(for transfer: Ps = N1, and P = Pt the target's) grow together with N1, the proportional regime
the scalar renormalization describes, so the deviation should shrink as N1 grows.

A last case leaves that regime on purpose: P much larger than N0 (N0 = 30, P = 400), where the
networks learn the teacher's direction (a feature) and the kernel theory, which has only the
scalar Q to adapt, cannot follow (jaxtl/theory/README.md, section 7.1).

Burn-ins scale with alpha: the automatic step size shrinks as the data's curvature grows, and
the slowest relaxation (the prior's, rate eta T lambda per step) must be covered.

    python benchmarks/validation.py --quick   # N1 in {50, 100}, shorter chains; 100 s on two CPU cores
    python benchmarks/validation.py           # N1 in {100, 300, 1000}; for a GPU
    python benchmarks/validation.py --widths 100 300   # the full chains at the widths given

On two CPU cores, `--widths 100 300` took 30 minutes (N1 = 300: 26 minutes) on a day when the
machine ran about 2x slower than usual; a step costs ~ N1 N0 P ~ N1^3, so N1 = 1000 would take
several hours there (benchmarks/README.md).
"""

import argparse
import datetime
import time

import jax
import numpy as np

import jaxtl
from jaxtl import nets

TEMPERATURE, NOISE, GAIN, P0 = 0.05, 0.1, 2.0, 200


def teacher(seed, Ps, Pt, N0):
    """A teacher pair with float32 source inputs (the networks' dtype follows them)."""
    pair = jaxtl.tasks.teacher_pair(jax.random.key(seed), Ps=Ps, Pt=Pt, P0=P0, N0=N0, gain=GAIN, noise=NOISE)
    return jaxtl.tasks.TaskPair(pair.Xs.astype(np.float32), pair.ys, pair.Xt, pair.yt, pair.X0, pair.y0)


def single_task_row(seed, N0, N1, P, chains, burn_in, samples, thin):
    """Single-task theory against sampled networks: the test-error row of `compare_single_task`."""
    pair = teacher(seed, P, 1, N0)
    c = nets.compare_single_task(
        jax.random.key(seed), pair.Xs, pair.ys, pair.X0, pair.y0, width=N1, temperature=TEMPERATURE,
        sampler=nets.Langevin(n_chains=chains, burn_in=burn_in, n_samples=samples, thin=thin),
    )
    return c["test error"]


def transfer_row(seed, N0, N1, Ps, Pt, coupling, chains, burn_in, samples, thin):
    """Transfer theory against the transfer protocol: the target test-error row of `compare`."""
    pair = teacher(seed, Ps, Pt, N0)
    params = dict(width=N1, temperature=TEMPERATURE, coupling=coupling)
    theory = jaxtl.transfer((pair.Xs, pair.ys), (pair.Xt, pair.yt), **params)
    networks = nets.transfer(
        jax.random.key(seed), pair, **params,
        source_sampler=nets.Langevin(n_chains=chains, burn_in=burn_in, n_samples=2, thin=burn_in // 2),
        target_sampler=nets.Langevin(n_chains=2, burn_in=burn_in, n_samples=samples, thin=thin),
    )
    return nets.compare(theory, networks, pair.X0, pair.y0)["test error"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: N1 in {50, 100}, shorter chains")
    parser.add_argument("--widths", type=int, nargs="+", help="the widths N1 to run (default: 100 300 1000; "
                        "50 100 with --quick)")
    args = parser.parse_args()
    if args.quick:
        widths, alphas, alphas_t, couplings = (50, 100), (0.5, 1.0, 2.0), (0.3,), (1.0, np.inf)
        chains, burn_in, samples, thin = 16, 3000, 40, 25
    else:
        widths, alphas, alphas_t, couplings = (100, 300, 1000), (0.5, 1.0, 2.0), (0.3, 1.0), (1.0, np.inf)
        chains, burn_in, samples, thin = 16, 4000, 50, 40
    if args.widths:
        if min(args.widths) < 2:
            parser.error(f"--widths must be integers >= 2 (N0 = N1 // 2), got {args.widths}")
        widths = tuple(args.widths)

    print(f"jaxtl.validation, {datetime.date.today()}, jax {jax.__version__} on {jax.default_backend()}; "
          f"erf, T = {TEMPERATURE}, lambda0 = lambda1 = 1, P0 = {P0} test points, float32 networks")
    columns = (("task", -10), ("N0", 6), ("N1", 6), ("Ps", 6), ("P", 6), ("alpha", 7), ("gamma", 7), ("theory", 9),
               ("networks", 10), ("stderr", 9), ("rel.dev", 9), ("dev/se", 8), ("s", 6))
    print("".join(f"{name:<{-width}}" if width < 0 else f"{name:>{width}}" for name, width in columns))

    def show(task, N0, N1, Ps, P, gamma, row, seconds):
        print(f"{task:<10}{N0:>6}{N1:>6}{Ps:>6}{P:>6}{P / N1:>7.2f}{gamma:>7}{row['theory']:>9.4f}{row['networks']:>10.4f}"
              f"{row['stderr']:>9.4f}{row['relative_deviation']:>+9.3f}{(row['networks'] - row['theory']) / row['stderr']:>+8.1f}"
              f"{seconds:>6.0f}", flush=True)

    for N1 in widths:
        N0 = N1 // 2
        for alpha in alphas:
            P, scale = int(alpha * N1), max(1.0, alpha)
            start = time.perf_counter()
            row = single_task_row(1, N0, N1, P, chains, int(burn_in * scale), samples, thin)
            show("single", N0, N1, "-", P, "-", row, time.perf_counter() - start)
        for alpha_t in alphas_t:
            Pt = int(alpha_t * N1)
            for gamma in couplings:
                start = time.perf_counter()
                row = transfer_row(2, N0, N1, N1, Pt, gamma, chains, burn_in, samples, thin)
                show("transfer", N0, N1, N1, Pt, gamma, row, time.perf_counter() - start)

    start = time.perf_counter()
    row = single_task_row(3, 30, 100, 400, chains, 4 * burn_in, samples, thin)
    show("single", 30, 100, "-", 400, "-", row, time.perf_counter() - start)
    print("Last row: P >> N0, outside the proportional regime. The networks learn the teacher's direction, a\n"
          "feature the scalar kernel renormalization does not capture: there the theory and the networks part.")


if __name__ == "__main__":
    main()
