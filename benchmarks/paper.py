"""Transfer theory against Langevin-sampled networks at the sizes of arXiv 2407.07168.

The paper's protocol carried over to MNIST digits (`jaxtl.tasks.mnist_pair`'s defaults): source
{0,1,2,3} vs {5,6,7,8}, target {0,1,2,4} vs {5,6,7,9} (one class per label swapped), Ps = 800
source and Pt = 100 target training images, P0 = 1000 test images, 28 x 28 inputs (N0 = 784),
erf networks of width N1 = 500 and 1000, lambda0 = lambda1 = 1, T = 0.05. For every width the
source chains are sampled once (`nets.sample_source`) and reused at every coupling, as
`jaxtl compare` does; the target's test error and source-target overlap Q_st of the theory
(`jaxtl.transfer`, float64) against the networks' (`nets.transfer`, float32 weights), with the
standard error over independent source chains.

Couplings 0, 3 and inf: 0 is the target learnt alone (the reference), inf the first layer
frozen at the source's, 3 in between. The theory's transfer benefit at N0 = 784 (test error at
gamma = 0 minus at gamma) is about 0.02 at gamma = 3 and inf (0.730 -> 0.707 / 0.705 at N1 =
500, 0.716 -> 0.700 at N1 = 1000), largest near gamma = 10 and within 0.004 of it from gamma =
3 on; gamma = 1 gives half of it. A network error bar well under 0.02 resolves it.

Chain lengths. The sampler's step is eta = 0.1 / a_max (a_max: largest curvature of the
potential at the start); here a_max is about 0.3 P (the images are strongly correlated), so
eta is about 4.3e-4 for the source (Ps = 800) and 3.3e-3 for the target (Pt = 100) at N0 = 784,
3.5e-4 / 2.7e-3 at N0 = 196. The slowest relaxation is the prior's, rate eta T lambda per step
(first-layer directions the data do not see, readout directions the features do not span;
for every coupling, since the readout is never coupled): tau = 1 / (eta T lambda) is about
47 000 source steps and 6 000 target steps at N0 = 784. The full chains burn in 3.2 tau
(150 000 source steps, 20 000 target steps) and keep source samples 1.1 tau apart (50 000
steps), so that the two samples of a chain are nearly independent. The script prints eta and
tau for every run, and the burn-in in units of tau.

    python benchmarks/paper.py                 # N0 = 784, N1 in {500, 1000}: for a GPU
    python benchmarks/paper.py --quick         # N0 = 196, N1 = 500, chains of 0.2-0.8 tau: 20 minutes on two shared CPU cores
    python benchmarks/paper.py --widths 500 1000 --scale 0.001   # the full problem, chains 1000x shorter (timing): 19 minutes there
    python benchmarks/paper.py --source-temperature 0.1    # also rows with T_s != T_t (gamma > 0)

A step costs about N1 N0 P multiply-adds per chain, times three (forward, backward). On the
two shared CPU cores the timing run measured 0.69 s (N1 = 500) and 0.89 s (N1 = 1000) per
source step of 16 chains, compilation included: the full source chains (250 000 steps) would
take about 48 and 62 hours there (benchmarks/README.md). The device is whatever
`jax.devices()` gives; nothing here is specific to it.
"""

import argparse
import dataclasses
import datetime
import math
import time

import equinox as eqx
import jax
import numpy as np

import jaxtl
from jaxtl import nets

# float32 networks mean float32 products, also on accelerators whose default is TF32.
jax.config.update("jax_default_matmul_precision", "highest")

TEMPERATURE, LAMBDA = 0.05, 1.0
COUPLINGS = (0.0, 3.0, math.inf)
FULL = dict(side=28, widths=(500, 1000),
            source=nets.Langevin(n_chains=16, burn_in=150_000, n_samples=2, thin=50_000),
            target=nets.Langevin(n_chains=2, burn_in=20_000, n_samples=100, thin=100))
QUICK = dict(side=14, widths=(500,),
             source=nets.Langevin(n_chains=4, burn_in=10_000, n_samples=2, thin=5_000),
             target=nets.Langevin(n_chains=2, burn_in=3_000, n_samples=50, thin=40))


def scaled(sampler, factor):
    """`sampler` with its burn-in and thinning (the chain lengths) multiplied by `factor`."""
    return dataclasses.replace(sampler, burn_in=max(0, round(sampler.burn_in * factor)),
                               thin=max(1, round(sampler.thin * factor)))


def relaxation(step_size, temperature):
    """The prior's relaxation time 1 / (eta T lambda) in steps: the slowest of the chains."""
    return 1.0 / (step_size * temperature * LAMBDA)


def float32_inputs(pair):
    """The pair with float32 inputs, so that the networks sampled on it are float32."""
    return eqx.tree_at(lambda p: (p.Xs, p.Xt, p.X0), pair,
                       tuple(np.asarray(x, np.float32) for x in (pair.Xs, pair.Xt, pair.X0)))


HEADER = (f"{'N1':>5}{'N0':>5}{'gamma':>6}{'T_s':>6}{'T_t':>6}{'theory':>9}{'networks':>10}{'stderr':>8}"
          f"{'dev %':>7}{'dev/se':>7}{'Q_st th':>9}{'Q_st net':>10}{'stderr':>8}{'tgt/tau':>8}{'s':>7}")


def row(N1, N0, gamma, T_s, comparison, burn_in_tau, seconds):
    """One line of the table: test error and Q_st, theory against networks."""
    e, q = comparison["test error"], comparison["Q_st"]
    deviation = (e["networks"] - e["theory"]) / e["stderr"]
    return (f"{N1:>5}{N0:>5}{gamma:>6g}{T_s:>6g}{TEMPERATURE:>6g}{e['theory']:>9.4f}{e['networks']:>10.4f}"
            f"{e['stderr']:>8.4f}{100 * e['relative_deviation']:>+7.1f}{deviation:>+7.1f}{q['theory']:>9.4f}"
            f"{q['networks']:>10.4f}{q['stderr']:>8.4f}{burn_in_tau:>8.2f}{seconds:>7.0f}")


def run_source(key, pair, pair32, N1, T_s, couplings, samplers):
    """Sample the source once, then the target at every coupling; print the lines as they come."""
    source_sampler, target_sampler = samplers
    start = time.perf_counter()
    source = nets.sample_source(key, pair32, width=N1, temperature=T_s, sampler=source_sampler)
    source_seconds = time.perf_counter() - start
    steps = source_sampler.burn_in + source_sampler.n_samples * source_sampler.thin
    tau = relaxation(source.step_size, T_s)
    Q_s = source.Q
    theory_Q_s = jaxtl.transfer((pair.Xs, pair.ys), (pair.Xt, pair.yt), width=N1, temperature=TEMPERATURE,
                                coupling=0.0, source_temperature=T_s).Q_s
    print(f"  source N1 = {N1}, T_s = {T_s:g}: {source_sampler.n_chains} chains, eta = {source.step_size:.3g}, "
          f"tau = {tau:.0f} steps, burn-in {source_sampler.burn_in} = {source_sampler.burn_in / tau:.2f} tau, samples "
          f"{source_sampler.thin} = {source_sampler.thin / tau:.2f} tau apart; Q_s theory {float(theory_Q_s):.4f}, "
          f"networks {float(Q_s.mean):.4f} +- {float(Q_s.stderr):.4f}; training loss {float(source.loss.mean()):.2f}; "
          f"{source_seconds:.0f} s ({1e3 * source_seconds / steps:.2f} ms/step, all chains)", flush=True)
    seconds = source_seconds
    for gamma in couplings:
        start = time.perf_counter()
        theory = jaxtl.transfer((pair.Xs, pair.ys), (pair.Xt, pair.yt), width=N1, temperature=TEMPERATURE,
                                coupling=gamma, source_temperature=T_s)
        networks = nets.transfer(key, pair32, width=N1, temperature=TEMPERATURE, coupling=gamma,
                                 source_temperature=T_s, source=source, target_sampler=target_sampler)
        comparison = nets.compare(theory, networks, pair.X0, pair.y0)
        seconds += time.perf_counter() - start
        burn_in_tau = target_sampler.burn_in / relaxation(networks.target.step_size, TEMPERATURE)
        print(row(N1, pair.Xs.shape[1], gamma, T_s, comparison, burn_in_tau, seconds), flush=True)
        seconds = 0.0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="14 x 14 inputs, N1 = 500, short chains (CPU, minutes)")
    parser.add_argument("--widths", type=int, nargs="+", help="widths N1 (default 500 1000; 500 with --quick)")
    parser.add_argument("--side", type=int, choices=(28, 14, 7, 4), help="image side, N0 = side^2 (default 28; 14 with --quick)")
    parser.add_argument("--couplings", type=float, nargs="+", default=COUPLINGS, help="couplings gamma (default 0 3 inf)")
    parser.add_argument("--source-temperature", type=float, help="also sample the source at this T_s (rows gamma > 0)")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every chain length by this (timing runs)")
    args = parser.parse_args()
    mode = QUICK if args.quick else FULL
    widths, side = tuple(args.widths or mode["widths"]), args.side or mode["side"]
    samplers = tuple(scaled(mode[s], args.scale) for s in ("source", "target"))
    if min(widths) < 1 or args.scale <= 0:
        parser.error("--widths must be positive integers and --scale positive")

    begin = time.perf_counter()
    print(f"jaxtl.paper, {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, jax {jax.__version__}, "
          f"devices {jax.devices()}")
    pair = jaxtl.tasks.mnist_pair(jax.random.key(0), side=side)
    pair32 = float32_inputs(pair)
    source_sampler, target_sampler = samplers
    print(f"MNIST {pair.params['source_classes']} -> {pair.params['target_classes']}, Ps = {pair.Xs.shape[0]}, "
          f"Pt = {pair.Xt.shape[0]}, P0 = {pair.X0.shape[0]}, N0 = {side}^2; erf, lambda0 = lambda1 = {LAMBDA:g}; "
          f"float32 networks, float64 theory; chains x {args.scale:g}: source {source_sampler.n_chains} chains x "
          f"{source_sampler.n_samples} samples, target {target_sampler.n_chains} chains per source sample, burn-in "
          f"{target_sampler.burn_in}, {target_sampler.n_samples} samples {target_sampler.thin} steps apart")
    print(HEADER)
    for N1 in widths:
        key = jax.random.key(N1)
        run_source(key, pair, pair32, N1, TEMPERATURE, args.couplings, samplers)
        if args.source_temperature is not None:
            run_source(key, pair, pair32, N1, args.source_temperature, [g for g in args.couplings if g > 0], samplers)
    print("dev %: (networks - theory) / theory; dev/se: in standard errors (over source chains); tgt/tau: the target's\n"
          "burn-in in units of its tau; s: seconds per row, the first row of each source including its sampling.")
    print(f"total {time.perf_counter() - begin:.0f} s on {jax.default_backend()}")


if __name__ == "__main__":
    main()
