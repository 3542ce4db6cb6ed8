"""Which deep action do Langevin-sampled deep networks follow, "nested", "vanilla" or "full"?

For L = 2 and 3 hidden layers of equal width N (and L = 1, where the three coincide with
`jaxtl.single_task`: how far the kernel theory itself is from these networks), erf and identity activations, on one teacher
task (N0 = 50, P = 100 training points, 500 test points, tanh(2 w.x / sqrt(N0)) labels with
noise 0.1, T = 0.05, all lambdas 1), the three actions of `jaxtl.deep.single_task` against
networks sampled by `jaxtl.nets.sample_deep` (float32 weights): the test error and every
layer's weight norm (`DeepSingleTaskSolution.norms` against `DeepSamples.norms`: 1 under the
prior, the last the readout norm lambda_L |v|^2 / N_L = Q_L), with the standard error over
independent chains and each action's deviation in standard errors. For the identity the three
actions coincide: those rows check the networks and the norms' theory, not the actions.

Equilibration: the slowest relaxation is the prior's, 1 / (lambda eta T) steps for a step eta
(about 1500-2400 steps here); the burn-in covers about two of them, and the column "drift"
gives, for every norm, (mean over the second half of the kept samples - over the first half)
in standard errors: |drift| well above 2 would say the chains had not settled.

Samples: the fluctuation of a norm per sample falls as 1/sqrt(N) while a step costs ~N^2, so
the number of kept samples scales as 100/N (`--samples` at N = 100): twice as many at N = 50,
half as many at N = 200.

The last lines sum, per activation and action, the squared deviations over all rows
(chi^2 with the number of rows): the action with the smaller sum is the one the networks
support.

With `--transfer`: `jaxtl.deep.transfer` (L = 2, vanilla) against the transfer protocol on
sampled L = 2 networks (`nets.deep_transfer`: deep source chains, then two target chains per
kept source sample with their first layer anchored to it) on teacher pairs (N0 = 50, Ps = 200,
Pt = 50, 500 test points, rho = 1 and 0, widths (100, 100), T = 0.05, all lambdas 1) at
gamma = 0, 0.1, 1, 10: the target test error, the benefit error(0) - error(gamma) (theory: with
its prior and source parts), the readout norms Q_s2 and Q_t2, and the overlaps the theory sets to
zero: readouts lambda2 v_s . <v_t> / N2 and second layers lambda1 W_2~ : <W_2> / (N1 N2).
Standard errors over the source chains (each with its target chains); the benefit's combines
those of its two errors.

    python benchmarks/deep.py --quick   # erf, L = 2, N in {25, 50}, short chains: under a minute on two CPU cores
    python benchmarks/deep.py           # L in {1, 2, 3}, N in {25, 50, 100, 200}, erf and identity: 18 minutes
    python benchmarks/deep.py --transfer   # L = 2 transfer, two pairs, four couplings
"""

import argparse
import dataclasses
import datetime
import time

import jax
import numpy as np

import jaxtl
from jaxtl import nets

N0, P, P0, TEMPERATURE, GAIN, NOISE = 50, 100, 500, 0.05, 2.0, 0.1
ACTIONS = jaxtl.deep.ACTIONS


def task():
    """The teacher task: training inputs in float32 (the networks' dtype follows them)."""
    pair = jaxtl.tasks.teacher_pair(jax.random.key(0), Ps=1, Pt=P, P0=P0, N0=N0, gain=GAIN, noise=NOISE)
    return pair.Xt.astype(np.float32), pair.yt, pair.X0, pair.y0


def drift(layer_norms):
    """Per norm, (mean over the second half of the kept samples - over the first) / its standard
    error over chains; layer_norms of shape (chains, samples, L + 1)."""
    half = layer_norms.shape[1] // 2
    difference = np.asarray(layer_norms[:, half:].mean(1) - layer_norms[:, :half].mean(1))
    return difference.mean(0) / (difference.std(0, ddof=1) / np.sqrt(len(difference)))


def case(data, activation, L, N, sampler):
    """One (activation, L, N): the theory's rows for every action, the networks' rows, their
    standard errors, the drifts and the step size."""
    X, y, X0, y0 = data
    widths = (N,) * L
    networks = nets.sample_deep(jax.random.key(1000 * L + N), X, y, widths=widths, temperature=TEMPERATURE,
                                activation=activation, sampler=sampler, X_test=X0)  # fmt: skip
    comparisons = [nets.compare(jaxtl.deep.single_task(X.astype(np.float64), y, widths=tuple(map(float, widths)),
                                                       temperature=TEMPERATURE, activation=activation, action=a),
                                networks, X0, y0) for a in ACTIONS]  # fmt: skip
    names = [n for n in comparisons[0].names if n not in ("bias^2", "variance")]
    rows = [comparisons[0].names.index(n) for n in names]
    theory = np.array([[float(c.theory[i]) for c in comparisons] for i in rows])
    measured = np.array([[float(comparisons[0].networks[i]), float(comparisons[0].stderr[i])] for i in rows])
    drifts = [np.nan, *drift(networks.layer_norms)]
    return names, theory, measured, drifts, networks.step_size


def table(names, theory, measured, drifts) -> "tuple[list[str], np.ndarray]":
    """The printed rows and the deviations (networks - theory) / stderr, shape (rows, actions)."""
    deviations = (measured[:, :1] - theory) / measured[:, 1:]
    lines = [f"{'':<12}{''.join(f'{a:>9}' for a in ACTIONS)}{'networks':>10}{'stderr':>9}"
             f"{''.join(('dev ' + a).rjust(13) for a in ACTIONS)}{'drift':>7}"]  # fmt: skip
    for name, t, m, d, dr in zip(names, theory, measured, deviations, drifts):
        shown_drift = "" if np.isnan(dr) else f"{dr:.1f}"
        lines.append(f"{name:<12}{''.join(f'{x:>9.4f}' for x in t)}{m[0]:>10.4f}{m[1]:>9.4f}"
                     f"{''.join(f'{x:>13.1f}' for x in d)}{shown_drift:>7}")  # fmt: skip
    return lines, deviations


COUPLINGS = (0.0, 0.1, 1.0, 10.0)


def transfer_case(rho, args):
    """One teacher pair: the theory and the networks at every coupling, printed as rows."""
    pair = jaxtl.tasks.teacher_pair(jax.random.key(0), Ps=200, Pt=50, P0=P0, N0=N0, rho=rho)
    pair32 = dataclasses.replace(pair, Xs=pair.Xs.astype(np.float32))  # float32 networks
    widths = (100, 100)
    source = nets.sample_deep(jax.random.key(1), pair32.Xs, pair.ys, widths=widths, temperature=TEMPERATURE,
                              sampler=nets.Langevin(n_chains=args.source_chains, burn_in=args.burn_in, n_samples=2,
                                                    thin=2000), keep_params=True)  # fmt: skip
    target_sampler = nets.Langevin(n_chains=2, burn_in=args.burn_in, n_samples=args.target_samples, thin=args.thin)
    print(f"\nrho = {rho}: source readout norm Q_s2: networks {float(source.Q.mean):.4f} +- {float(source.Q.stderr):.4f}")
    print(f"{'gamma':>6}{'error th':>10}{'networks':>10}{'stderr':>8}{'dev':>6}{'benefit th':>12}{'(prior':>8}"
          f"{'source)':>9}{'networks':>10}{'stderr':>8}{'dev':>6}{'Q_t2 th':>9}{'networks':>10}{'v_s.v_t':>9}"
          f"{'stderr':>8}{'W2 ovl':>9}{'stderr':>8}")  # fmt: skip
    uncoupled = None
    for gamma in COUPLINGS:
        sol = jaxtl.deep.transfer((pair.Xs, pair.ys), (pair.Xt, pair.yt), widths=(100.0, 100.0), temperature=TEMPERATURE,
                                  coupling=gamma)  # fmt: skip
        error, benefit = float(sol.test_error(pair.X0, pair.y0).total), sol.benefit(pair.X0, pair.y0)
        run = nets.deep_transfer(jax.random.key(2), pair32, widths=widths, temperature=TEMPERATURE, coupling=gamma,
                                 source=source, target_sampler=target_sampler)  # fmt: skip
        measured = run.test_error(pair.y0)
        e, se = float(measured.mean.total), float(measured.stderr.total)
        uncoupled = uncoupled or (e, se)
        b, sb = uncoupled[0] - e, float(np.hypot(uncoupled[1], se)) if gamma else np.nan
        overlaps = [float(x) for o in (run.Q_st, run.second_layer_overlap) for x in (o.mean, o.stderr)]
        benefit_dev = f"{(b - float(benefit.total)) / sb:>6.1f}" if gamma else f"{'':>6}"
        print(f"{gamma:>6}{error:>10.4f}{e:>10.4f}{se:>8.4f}{(e - error) / se:>6.1f}{float(benefit.total):>12.4f}"
              f"{float(benefit.prior):>8.4f}{float(benefit.source):>9.4f}{b:>10.4f}{sb:>8.4f}{benefit_dev}"
              f"{float(sol.Q_t2):>9.4f}{float(run.Q_t.mean):>10.4f}{overlaps[0]:>9.4f}{overlaps[1]:>8.4f}"
              f"{overlaps[2]:>9.4f}{overlaps[3]:>8.4f}", flush=True)  # fmt: skip
    print(f"theory: Q_s1 = {float(sol.Q_s1):.4f}, Q_s2 = {float(sol.Q_s2):.4f}")


def transfer_main(args):
    print(f"# benchmarks/deep.py --transfer, {datetime.date.today()}: teacher pairs N0 = {N0}, Ps = 200, Pt = 50, "
          f"P0 = {P0}, widths (100, 100), T = {TEMPERATURE}, lambdas 1, erf; float32 networks, {args.source_chains} "
          f"source chains x 2 samples 2000 steps apart, 2 target chains each, {args.target_samples} samples {args.thin} steps "
          f"apart after {args.burn_in} steps of burn-in; dev: (networks - theory) / stderr")  # fmt: skip
    start = time.time()
    for rho in (1.0, 0.0):
        transfer_case(rho, args)
    print(f"total {time.time() - start:.0f} s")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="erf, L = 2, N in {25, 50}, short chains")
    parser.add_argument("--depths", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--widths", type=int, nargs="+", default=[25, 50, 100, 200])
    parser.add_argument("--activations", nargs="+", default=["erf", "identity"])
    parser.add_argument("--chains", type=int, default=12)
    parser.add_argument("--burn-in", type=int, default=4000)
    parser.add_argument("--samples", type=int, default=100, help="kept samples per chain at N = 100 (x 100/N)")
    parser.add_argument("--thin", type=int, default=50)
    parser.add_argument("--transfer", action="store_true", help="L = 2 transfer through a coupled first layer")
    parser.add_argument("--source-chains", type=int, default=8, help="--transfer: source chains")
    parser.add_argument("--target-samples", type=int, default=40, help="--transfer: kept samples per target chain")
    args = parser.parse_args()
    if args.transfer:
        return transfer_main(args)
    if args.quick:
        args.depths, args.widths, args.activations = [2], [25, 50], ["erf"]
        args.chains, args.burn_in, args.samples, args.thin = 8, 2000, 20, 25
    print(f"# benchmarks/deep.py, {datetime.date.today()}: N0 = {N0}, P = {P}, P0 = {P0}, T = {TEMPERATURE}, "
          f"teacher gain {GAIN}, noise {NOISE}, lambdas 1; float32 networks, {args.chains} chains x "
          f"{args.samples} x 100/N samples, {args.thin} steps apart, after {args.burn_in} steps of burn-in")  # fmt: skip
    print("# deviations and drift in standard errors; norms[l]: 1 + (lambda_l |M_l|^2 - n_l) / N_l, "
          "norms[L] = readout norm")
    data, start = task(), time.time()
    deviations = {a: [] for a in args.activations}  # L >= 2 only: at L = 1 the actions are one
    for activation in args.activations:
        for L in args.depths:
            for N in args.widths:
                t0 = time.time()
                sampler = nets.Langevin(n_chains=args.chains, burn_in=args.burn_in, n_samples=args.samples * 100 // N,
                                        thin=args.thin)  # fmt: skip
                names, theory, measured, drifts, eta = case(data, activation, L, N, sampler)
                lines, dev = table(names, theory, measured, drifts)
                if L > 1:
                    deviations[activation].append(dev)
                print(f"\n{activation}, L = {L}, N = {N}: eta = {eta:.3g}, prior relaxation 1/(lambda eta T) = "
                      f"{1 / (eta * TEMPERATURE):.0f} steps, {sampler.n_samples} samples per chain, {time.time() - t0:.0f} s")  # fmt: skip
                print("\n".join(lines), flush=True)
    print()
    for activation, devs in deviations.items():
        devs = np.concatenate(devs)
        sums = ", ".join(f"{a} {np.sum(devs[:, i] ** 2):.1f}" for i, a in enumerate(ACTIONS))
        print(f"{activation}, L >= 2: sum of squared deviations over {len(devs)} rows: {sums}")
    print(f"total {time.time() - start:.0f} s")


if __name__ == "__main__":
    main()
