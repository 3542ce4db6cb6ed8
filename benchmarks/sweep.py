"""Points per second of `jaxtl.sweep` (the transfer theory) vs grid size, on 1 and 4 host devices.

The issue-6 problem: teacher pairs (erf theory, tanh teacher, gain 2, noise 0.1) with
Ps = 1000, Pt = 200, P0 = 500, N0 = 200, N1 = 500, T = 0.05, swept over a (coupling, rho)
grid: coupling log-spaced in [1e-2, 1e2], rho in [0, 1], n_coupling x n_rho = 10^2, 10^3,
10^4, 10^5 points. Each device count runs in its own Python process, because the number of
host devices has to be set (`XLA_FLAGS=--xla_force_host_platform_device_count=N`) before JAX
starts. Every timing is a whole `jaxtl.sweep` call (pair generation, source solve, solves,
assembling the Dataset), as a user sees it; the first call of a process compiles, later calls
of the same block shape reuse the program. The median over `--repeats` calls where the
estimated time allows (and for the smallest size), one call otherwise. The "marginal" rate
between two sizes, (N2 - N1) / (t2 - t1), leaves out what every call pays once. The test
errors of every device count are compared with those of the first one, size by size (the
sharded sweep must give the single-device result).

Sizes up to `--always` points are always run. A larger size is run only if its estimated
time is within `--cap` seconds: estimated from the last two sizes (their time plus the
marginal cost per point), or from one size scaled linearly. Sizes not run are listed with
their estimate, never filled in. A worker whose sweep call hangs (no CPU use for `--idle`
seconds) or crashes is killed and reported, and its larger sizes are listed as not run.

    python benchmarks/sweep.py                          # 10^2..10^5, cap 300 s per call
    python benchmarks/sweep.py --sizes 100 1000 --devices 1 4 --repeats 3
"""

import argparse
import json
import math
import os
import platform
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time

SIZES = dict(Ps=1000, Pt=200, P0=500, N0=200)
FIXED = dict(width=500.0, temperature=0.05, gain=2.0, noise=0.1, **SIZES)
GRIDS = {100: (10, 10), 1000: (40, 25), 10_000: (100, 100), 100_000: (400, 250)}


def grid_shape(points):
    """(n_coupling, n_rho) with n_coupling * n_rho = points."""
    if points in GRIDS:
        return GRIDS[points]
    n = math.isqrt(points)
    while points % n:
        n -= 1
    return points // n, n


def worker(devices, sizes, repeats, cap, always, out):
    """Runs in a process whose XLA_FLAGS force `devices` host devices; one JSON line per size."""
    import jax
    import numpy as np

    import jaxtl

    assert jax.device_count() == devices, (jax.device_count(), devices)
    measured = []  # (points, median seconds) of the sizes run so far
    for points in sizes:
        n_coupling, n_rho = grid_shape(points)
        record = dict(devices=devices, points=points, grid=f"{n_coupling} x {n_rho}")
        estimate, basis = None, ""
        if len(measured) >= 2 and measured[-1][1] > measured[-2][1]:
            (p1, t1), (p2, t2) = measured[-2:]
            estimate = t2 + (points - p2) * (t2 - t1) / (p2 - p1)
            basis = f"{t2:.0f} s at {p2} points + {(t2 - t1) / (p2 - p1) * 1e3:.0f} ms per further point"
        elif len(measured) == 1 and points > always:
            (p1, t1), = measured
            estimate, basis = t1 * points / p1, f"{t1:.0f} s at {p1} points, scaled linearly"
        if estimate is not None and estimate > cap:
            record.update(skipped=f"estimated {estimate:.0f} s > cap {cap:.0f} s ({basis})")
            print(json.dumps(record), flush=True)
            continue
        few = estimate * repeats <= cap if estimate is not None else points == sizes[0]
        times = []
        for _ in range(repeats if few else 1):
            print(json.dumps(dict(event="start", points=points)), flush=True)
            start = time.perf_counter()
            ds = jaxtl.sweep(
                jaxtl.tasks.teacher_pair,
                coupling=np.logspace(-2, 2, n_coupling),
                rho=np.linspace(0.0, 1.0, n_rho),
                progress=False,
                **FIXED,
            )
            times.append(time.perf_counter() - start)
        np.save(os.path.join(out, f"{devices}-{points}.npy"), ds.test_error.values)
        record.update(times=times, converged=int(ds.converged.sum()), num_steps=int(ds.num_steps.max()))
        print(json.dumps(record), flush=True)
        measured.append((points, statistics.median(times)))


def _cpu_seconds(pid):
    """User + system CPU time of a process (Linux /proc), or None where unavailable."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def run_devices(devices, args):
    """One worker process for `devices` forced host devices; its records as they come.

    A worker that uses less than 1 s of CPU in `--idle` seconds while a sweep call is running
    is declared hung (XLA idle, waiting on itself) and killed; so is one whose call runs
    longer than 3 `--cap` + 300 s. The sizes it did not reach are reported as not run."""
    env = dict(os.environ)
    flag = f"--xla_force_host_platform_device_count={devices}"
    env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} {flag}".strip()
    command = [sys.executable, __file__, "--worker", str(devices), "--sizes", *map(str, args.sizes),
               "--repeats", str(args.repeats), "--cap", str(args.cap), "--always", str(args.always), "--out", args.out]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
    lines = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout] + [lines.put(None)], daemon=True).start()
    records, running, samples = [], None, []
    while True:
        try:
            line = lines.get(timeout=5)
        except queue.Empty:
            line = ""
        if line is None:
            break
        if line.startswith("{"):
            record = json.loads(line)
            if record.get("event") == "start":
                running, samples = (record["points"], time.monotonic()), []
            else:
                records.append(record)
                running = None
                print(f"  {devices} device(s), {record['points']} points: "
                      f"{record.get('times') or record.get('skipped')}", file=sys.stderr, flush=True)
            continue
        if running is None:
            continue
        now, cpu = time.monotonic(), _cpu_seconds(process.pid)
        samples = [(t, c) for t, c in samples if now - t <= args.idle] + [(now, cpu)]
        idle = cpu is not None and now - samples[0][0] >= args.idle * 0.9 and cpu - samples[0][1] < 1.0
        if idle or now - running[1] > 3 * args.cap + 300:
            process.kill()
            reason = (f"hung: the worker used < 1 s of CPU in {args.idle:.0f} s, all threads waiting"
                      if idle else f"killed after {now - running[1]:.0f} s")
            records.append(dict(devices=devices, points=running[0], failed=reason))
            done = {r["points"] for r in records}
            records += [dict(devices=devices, points=p, failed=f"not run (the call at {running[0]} points failed)")
                        for p in sorted(args.sizes) if p not in done]
            break
    process.wait()
    if running is not None and not any(r["points"] == running[0] for r in records):
        records.append(dict(devices=devices, points=running[0],
                            failed=f"the worker exited with code {process.returncode} during the call (its stderr above)"))
        done = {r["points"] for r in records}
        records += [dict(devices=devices, points=p, failed=f"not run (the call at {running[0]} points failed)")
                    for p in sorted(args.sizes) if p not in done]
    return records


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10_000, 100_000])
    parser.add_argument("--devices", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cap", type=float, default=300.0, help="seconds one sweep call may be estimated to take")
    parser.add_argument("--always", type=int, default=1000, help="sizes up to this are run without an estimate")
    parser.add_argument("--idle", type=float, default=120.0, help="seconds without CPU use after which a worker counts as hung")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args.worker, sorted(args.sizes), args.repeats, args.cap, args.always, args.out)
    args.out = tempfile.mkdtemp(prefix="jaxtl-sweep-")

    import jax

    print(f"jaxtl.sweep, transfer theory, teacher_pair {FIXED}, erf; grid coupling in [1e-2, 1e2] x rho in [0, 1]")
    print(f"{time.strftime('%Y-%m-%d')}, jax {jax.__version__}, {platform.machine()} with {os.cpu_count()} cores, "
          f"float64, forced host devices; cap {args.cap:g} s per call")
    rows, skipped = [], []
    for devices in args.devices:
        records = run_devices(devices, args)
        rows += [r for r in records if "times" in r]
        skipped += [r for r in records if "skipped" in r or "failed" in r]
    print(f"{'devices':>7} {'points':>7} {'grid':>10} {'calls':>5} {'median s':>9} {'min s':>8} "
          f"{'points/s':>9} {'marginal points/s':>17} {'converged':>10}")
    last = {}
    for r in rows:
        median = statistics.median(r["times"])
        before = last.get(r["devices"])
        marginal = ""
        if before is not None and median > before[1]:
            marginal = f"{(r['points'] - before[0]) / (median - before[1]):.1f}"
        last[r["devices"]] = (r["points"], median)
        print(f"{r['devices']:>7} {r['points']:>7} {r['grid']:>10} {len(r['times']):>5} {median:>9.2f} "
              f"{min(r['times']):>8.2f} {r['points'] / median:>9.1f} {marginal:>17} "
              f"{r['converged']:>5}/{r['points']}")
    for r in skipped:
        what = "skipped" if "skipped" in r else "failed"
        print(f"{what}: {r['devices']} device(s), {r['points']} points: {r[what]}")
    import numpy as np

    for r in rows:
        if r["devices"] != args.devices[0]:
            path = os.path.join(args.out, "{}-{}.npy".format(args.devices[0], r["points"]))
            if os.path.exists(path):
                reference, error = np.load(path), np.load(os.path.join(args.out, f"{r['devices']}-{r['points']}.npy"))
                deviation = np.nanmax(np.abs(error / reference - 1))
                print(f"{r['points']} points, test error on {r['devices']} devices vs {args.devices[0]}: "
                      f"largest relative difference {deviation:.1e}")


if __name__ == "__main__":
    main()
