"""The GPU path in one command: the single-task sweep, the transfer sweep and a Langevin run
timed on an accelerator, against the CPU numbers recorded in benchmarks/README.md.

Three workloads, each the one its CPU benchmark times (same sizes, float64 for the theories):

1. single task: one `jax.jit(jax.vmap(...))` of `jaxtl.single_task` over 10^4 (T, N1) points at
   P = 1000, N0 = 500 (as `benchmarks/single_task.py`), Q alone and Q with the test error on
   200 test points; median of `--repeats` calls after compiling, kernel and eigendecomposition
   included.
2. transfer: `jaxtl.sweep` of the transfer theory over 10 couplings x 50 rho at Ps = 1000,
   Pt = 200, P0 = 500, N0 = 200, N1 = 500 (as `benchmarks/sweep.py`), the second call of the
   process (the first compiles).
3. Langevin: the marginal cost of a step of `jaxtl.nets.sample` at N0 = 784, N1 = P = 1000,
   float32, one chain (as `benchmarks/langevin_step.py`): a long run minus a short run.

The recorded CPU numbers come from the 2-core CPU machine (benchmarks/README.md); the ratio
column is CPU time over this device's time (> 1: the device is faster). `--also-cpu` times the
same workloads on this machine's CPU too, in the same process. `--quick` shrinks every size
(a smoke test that runs anywhere in a minute; its ratios mean nothing).

    python benchmarks/gpu.py                 # on a machine with a GPU
    python benchmarks/gpu.py --also-cpu      # and this machine's CPU, same process
    python benchmarks/gpu.py --quick --device cpu
"""

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

import jaxtl
from jaxtl import nets
from jaxtl.tasks import teacher_pair

RECORDED_CPU = {  # `python benchmarks/gpu.py --device cpu` on the 2-core CPU machine, nothing else running,
    # 2026-12-05 19:04 UTC (benchmarks/README.md, "The GPU path")
    "single task, Q (us/point)": 33.263,
    "single task, Q + test error (us/point)": 39.263,
    "transfer sweep (ms/point)": 4.358,
    "Langevin step (ms/step)": 18.268,
}
TRANSFER = dict(width=500.0, temperature=0.05, gain=2.0, noise=0.1, Ps=1000, Pt=200, P0=500, N0=200)
QUICK_TRANSFER = dict(TRANSFER, Ps=100, Pt=40, P0=50, N0=30, width=50.0)


def median_seconds(run, repeats):
    run()  # compile
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def single_task(device, quick, repeats):
    P, N0, side, P0 = (100, 50, 10, 20) if quick else (1000, 500, 100, 200)
    rng = np.random.default_rng(0)
    teacher = rng.standard_normal(N0)
    X, X0 = rng.standard_normal((P, N0)), rng.standard_normal((P0, N0))
    y, y0 = (np.tanh(2 * A @ teacher / np.sqrt(N0)) for A in (X, X0))
    T, N1 = (a.ravel() for a in np.meshgrid(np.logspace(-3, 0, side), np.logspace(1.5, 4, side)))
    data = jax.device_put((X, y, X0, y0, T, N1), device)

    def point(X, y, X0, y0, T, N1, error):
        sol = jaxtl.single_task(X, y, width=N1, temperature=T, throw=False)
        return sol.test_error(X0, y0).total if error else sol.Q

    rows = {}
    for name, error in (("single task, Q (us/point)", False), ("single task, Q + test error (us/point)", True)):
        solve = jax.jit(jax.vmap(lambda *a, e=error: point(*a, e), (None, None, None, None, 0, 0)))
        seconds = median_seconds(lambda: solve(*data).block_until_ready(), repeats)
        rows[name] = 1e6 * seconds / T.size
    return rows


def transfer(device, quick):
    fixed = QUICK_TRANSFER if quick else TRANSFER
    grid = dict(coupling=np.logspace(-2, 2, 10), rho=np.linspace(0, 1, 5 if quick else 50))
    with jax.default_device(device):
        run = lambda: jaxtl.sweep(teacher_pair, theory="transfer", **fixed, **grid, progress=False)  # noqa: E731
        run()  # compile
        start = time.perf_counter()
        ds = run()
        seconds = time.perf_counter() - start
    points = grid["coupling"].size * grid["rho"].size
    return {"transfer sweep (ms/point)": 1e3 * seconds / points}, int(ds.converged.sum()), points


def langevin(device, quick, repeats):
    n0, n1, P, short, long = (50, 100, 100, 20, 120) if quick else (784, 1000, 1000, 50, 550)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((P, n0)).astype(np.float32)
    y = np.tanh(2 * X @ rng.standard_normal(n0).astype(np.float32) / np.sqrt(n0)).astype(np.float32)
    X, y = jax.device_put((jnp.asarray(X), jnp.asarray(y)), device)

    def run(steps):
        sampler = nets.Langevin(n_chains=1, burn_in=0, n_samples=steps // 10, thin=10, step_size=1e-4)
        with jax.default_device(device):
            s = nets.sample(jax.random.key(0), X, y, width=n1, temperature=0.01, sampler=sampler)
            jax.block_until_ready(s.final)

    t_short, t_long = (median_seconds(lambda n=n: run(n), repeats) for n in (short, long))
    return {"Langevin step (ms/step)": 1e3 * (t_long - t_short) / (long - short)}


def measure(device, quick, repeats):
    rows = single_task(device, quick, repeats)
    transfer_rows, converged, points = transfer(device, quick)
    rows |= transfer_rows
    rows |= langevin(device, quick, repeats)
    return rows, f"{converged}/{points}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="gpu", help="platform to time: gpu (default), tpu or cpu")
    parser.add_argument("--also-cpu", action="store_true", help="time this machine's CPU too, in the same process")
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke test (ratios mean nothing)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    try:
        device = jax.devices(args.device)[0]
    except RuntimeError as error:
        raise SystemExit(f"no {args.device} device here ({error}); pass --device cpu to time the CPU") from None
    print(f"jax {jax.__version__}, jaxtl {jaxtl.__version__}; timing {device.platform}: {device.device_kind}"
          f"{' (quick sizes)' if args.quick else ''}")  # fmt: skip
    rows, converged = measure(device, args.quick, args.repeats)
    local = measure(jax.devices("cpu")[0], args.quick, args.repeats)[0] if args.also_cpu else {}
    header = f"{'workload':<40}{device.platform:>12}{'recorded CPU':>14}{'ratio':>8}"
    print(header + (f"{'this CPU':>12}{'ratio':>8}" if local else ""))
    for name, value in rows.items():
        recorded = RECORDED_CPU.get(name)
        line = f"{name:<40}{value:>12.3f}" + (f"{recorded:>14.3f}{recorded / value:>8.1f}" if recorded else f"{'-':>14}{'-':>8}")
        if local:
            line += f"{local[name]:>12.3f}{local[name] / value:>8.1f}"
        print(line)
    print(f"transfer sweep: {converged} points converged")


if __name__ == "__main__":
    main()
