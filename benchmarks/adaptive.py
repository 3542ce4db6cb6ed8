"""The infinite-width adaptive-kernel theory against Langevin-sampled mean-field networks.

Theory: `jaxtl.adaptive_kernel` (single task) and `jaxtl.adaptive_transfer` (transfer with the
elastic coupling delta/2 |W_t - W_s|^2 of the first layers), jaxtl/theory/README.md, section 11.
Networks: `jaxtl.nets.sample_mean_field` and `jaxtl.nets.transfer_mean_field` at width N, the
mean-field network f(x) = (1/(gamma0 N)) sum_i w_i phi(W_i . x / sqrt(N0)) sampled from its
posterior at temperature T by unadjusted Langevin dynamics, in both readings of the transfer:
quenched (source chains first, target chains given each source sample) and joint (one chain over
both networks, the coupling in one energy). Finite-width corrections are O(1/N).

Two task pairs (`jaxtl.tasks.teacher_pair`): a linear teacher learned by identity-activation
networks (the theory is exact Gaussian algebra there) and a tanh teacher learned by erf networks
(the theory is Monte Carlo over `--neurons` single-site draws, `--transfer-neurons` source draws
and `--target-draws` per source draw in transfer; its error bar is the spread over independent
keys). For each: the single task on the target data, and transfer
at three couplings delta in both readings. Observables, each with the theory, the networks'
value and standard error over independent units (chains; source chains in the quenched
reading), and the NNGP value (the theory at gamma0 = 0, no feature learning):

- `test error`: the target's test error on P0 noiseless test points, theory
  `sol.test_error(X0, y0).total` (deterministic predictor at N = inf), networks
  `.test_error(y0).total` (posterior average <(y0 - f)^2>, which includes f's O(T / (gamma0^2 N))
  posterior variance).
- `alignment`: the kernel-target alignment y^T Phi y / (|Phi|_F |y|^2) of the target's feature
  kernel on its training inputs (`src align`: the source's, on the source inputs).
- `kernel dist`: |Phi_nets - Phi_theory|_F / |Phi_theory|_F of the target's kernel (theory 0;
  NNGP column: the NNGP kernel's distance, the size of what feature learning changes).

- `h TV train`, `h TV test`, `h TV b` (single task only): the total-variation distance 0.5 sum |p - q|
  of the law of one hidden neuron's preactivation h = W . x0 / sqrt(N0) at the networks' probe
  inputs (the first training input, the first test input) and at x_b = sqrt(N0) b / |b| along
  the direction b = X^T alpha the labels tilt (the theory's, exactly so for the identity
  activation; `h TV b`, from the chains' last first layers): networks, the histogram of
  `preactivations` over all chains and neurons (16 bins over +- 3 of its std, the tails as one
  more bin); theory, `sol.preactivation_histogram(x0, edges)` (theory 0; NNGP column: the
  prior's law, gamma0 = 0, the size of the tilt). Stderr: jackknife over chains; the summary
  prints the noise floor, the mean distance of a sample of the networks' size from the theory's
  own law.

A row agrees when |nets - theory| <= 5% of |theory| or <= 2 combined standard errors (for
`kernel dist` and `h TV`: when the distance is below 0.05). The transfer rows compare each
reading of the networks with `jaxtl.adaptive_transfer(..., reading=...)` of the same reading
(joint: exact Gaussian algebra for the identity activation, Monte Carlo over `--transfer-neurons`
draws of neuron pairs for erf); the summary prints the joint minus the quenched networks. A width
check runs the linear single task at N/2, N and 2N, and `--erf-checks` the erf rows' convergence
in theory draws, width and step size.

Step size and burn-in: one step eta per pair, `--step-fraction` (0.3; the library's default is
0.1) over the largest curvature of the potential at the start (pilot runs). The discretization
inflates variances by 1 / (1 - eta a / 2) in a direction of curvature a: at most 18% in the
stiffest (readout) directions, whose fluctuations are O(T / N) in f; the first layers' soft
directions are nearly exact. The prior's relaxation time is tau = 1 / (eta T lambda0) steps; the
labels' tilt softens the tilted direction of a neuron's law, for the identity activation by
t = 1 / (1 - g sigma) (printed), so the burn-in is several t tau: 15 tau for the linear pair
(t ~ 3.3 at gamma0 = 0.5), 10 tau for the erf pair, then `--keep` (2) tau of 20 kept samples.
Quenched target chains given a source sample relax faster, W_t at rate eta T (lambda0 + delta):
their burn-in is the pair's times lambda0 / (lambda0 + delta), at least 5 tau (delta = inf: the
readout alone). gamma0 = 0.5 for both pairs (linear: at 1, g sigma = 0.84 and t ~ 6, too slow to
burn in here; erf: at 1 the Monte Carlo theory needs far more draws, benchmarks/README.md).

    python benchmarks/adaptive.py --quick   # N = 300, a third of the burn-in: 6 minutes on one core
    python benchmarks/adaptive.py           # N = 1000: 9-13 minutes on one (shared) CPU core
    python benchmarks/adaptive.py --erf-checks   # 3-4 minutes
"""

import argparse
import datetime
import time

import jax
import numpy as np

import jaxtl
from jaxtl import nets

TEMPERATURE, LAMBDA0, LAMBDA1 = 0.1, 1.0, 1.0
PS, PT, P0, N0, RHO = 60, 40, 200, 30, 0.8
COUPLINGS = (0.3, 3.0, np.inf)
PAIRS = (  # name, teacher readout, network activation, seed, gamma0, burn-in in tau (full run)
    ("linear", "identity", "identity", 1, 0.5, 15.0),
    ("tanh/erf", "tanh", "erf", 2, 0.5, 10.0),
)
STEP_FRACTION = 0.3  # eta = STEP_FRACTION / (largest curvature at the start); the library's default is 0.1


def jackknife(statistic, units):
    """Delete-one jackknife over the leading axis of `units` (per-unit means): (estimate, stderr)."""
    n = units.shape[0]
    full = statistic(units.mean(0))
    left = np.array([statistic(np.delete(units, i, 0).mean(0)) for i in range(n)])
    return n * full - (n - 1) * left.mean(0), np.sqrt((n - 1) * ((left - left.mean(0)) ** 2).mean(0))


def alignment(K, y):
    return float(y @ K @ y / (np.linalg.norm(K) * (y @ y)))


def distance(K, reference):
    return float(np.linalg.norm(K - reference) / np.linalg.norm(reference))


def unit_kernels(r: nets.MeanFieldSamples):
    """Per-unit posterior-mean kernels (units, P, P) of a mean-field run."""
    k = np.asarray(r.samples.mean_kernel, float)
    return k.reshape(r.units, -1, *k.shape[1:]).mean(1)


def net_values(r: nets.MeanFieldSamples, y, y0, K_theory):
    """The networks' observables: {name: (value, stderr)}."""
    error = r.test_error(y0)
    units = unit_kernels(r)
    return {
        "test error": (float(error.mean.total), float(error.stderr.total)),
        "test bias2": (float(error.mean.bias2), float(error.stderr.bias2)),
        "alignment": jackknife(lambda K: alignment(K, y), units),
        "kernel dist": jackknife(lambda K: distance(K, K_theory), units),
    }


def source_alignment(r: nets.MeanFieldSamples, ys):
    return jackknife(lambda K: alignment(K, ys), unit_kernels(r))


def theory_values(solve, keys, X0, y0, y, single: bool, keep=None):
    """Theory observables averaged over Monte Carlo keys, {name: (value, stderr)}, and the mean
    kernel (the reference of `kernel dist`). `solve(key)` returns a solution; `keep` (a list)
    receives the solutions."""
    sols = [solve(k) for k in keys]
    if keep is not None:
        keep.extend(sols)
    errors = [s.test_error(X0, y0) for s in sols]
    error = np.array([float(e.total) for e in errors])
    bias2 = np.array([float(e.bias2) for e in errors])
    kernels = np.array([np.asarray(s.kernel, float) for s in sols])
    K = kernels.mean(0)
    align = np.array([alignment(k, y) for k in kernels])
    se = (lambda v: float(v.std(ddof=1) / np.sqrt(len(v)))) if len(sols) > 1 else (lambda v: 0.0)
    values = {"test error": (float(error.mean()), se(error)), "test bias2": (float(bias2.mean()), se(bias2)),
              "alignment": (float(align.mean()), se(align)),
              "kernel dist": (0.0, 0.0)}
    if not single:
        src = np.array([alignment(np.asarray(s.source.kernel, float), np.asarray(s.source.labels)) for s in sols])
        values["src align"] = (float(src.mean()), se(src))
    return values, K


HIST_BINS, HIST_RANGE = 16, 3.0  # preactivation histograms: bins over +- HIST_RANGE of the networks' std


def with_tail(p):
    """Bin probabilities with the mass outside the edges appended (total variation counts the tails)."""
    p = np.asarray(p, float)
    return np.append(p, max(0.0, 1.0 - p.sum()))


def preactivation_tv(h, theory_sols, nngp_sols, x0):
    """Total-variation distance 0.5 sum |p - q| of the networks' preactivation histogram at one probe
    (h: (chains, N), over all chains and neurons) to the theory's `preactivation_histogram(x0, edges)`
    (mean over Monte Carlo keys) and to the NNGP law's (gamma0 = 0), with the tails outside the edges as
    one more bin; edges: HIST_BINS bins over +- HIST_RANGE networks' std. Returns (tv, stderr) (the
    pooled histogram's distance; stderr: jackknife over chains), the NNGP's tv, and the noise floor:
    the mean tv of a sample of the networks' size drawn from the theory's law itself,
    ~ 0.5 sum sqrt(2 p (1 - p) / (pi n))."""
    h = np.asarray(h, float)
    edges = np.linspace(-HIST_RANGE, HIST_RANGE, HIST_BINS + 1) * h.std()
    units = np.array([with_tail(np.histogram(c, bins=edges)[0] / c.size) for c in h])
    p = np.mean([with_tail(s.preactivation_histogram(x0, edges)) for s in theory_sols], 0)
    p0 = np.mean([with_tail(s.preactivation_histogram(x0, edges)) for s in nngp_sols], 0)
    tv = lambda q, ref: float(0.5 * np.abs(q - ref).sum())  # noqa: E731
    floor = float(0.5 * np.sqrt(2 * p * (1 - p) / (np.pi * h.size)).sum())
    return (tv(units.mean(0), p), jackknife(lambda q: tv(q, p), units)[1]), tv(units.mean(0), p0), floor


def agrees(name, theory, nets_value):
    (t, t_se), (n, n_se) = theory, nets_value
    if name == "kernel dist" or name.startswith("h TV"):
        return n <= 0.05
    return abs(n - t) <= 0.05 * abs(t) or abs(n - t) <= 2 * np.hypot(t_se, n_se)


def erf_checks(args):
    """Where the erf rows part (the kernel alignments, nets above theory): the Monte Carlo theory's
    convergence in its draws, and the networks' in width and step size, on the tanh/erf pair."""
    name, readout, activation, seed, gamma0, burn_tau = PAIRS[1]
    pair = jaxtl.tasks.teacher_pair(jax.random.key(seed), Ps=PS, Pt=PT, P0=P0, N0=N0, rho=RHO, readout=readout)
    Xs, ys, Xt, yt, X0, y0 = (np.asarray(a, float) for a in (pair.Xs, pair.ys, pair.Xt, pair.yt, pair.X0, pair.y0))
    th = dict(feature_strength=gamma0, lambda0=LAMBDA0, lambda1=LAMBDA1, temperature=TEMPERATURE, activation=activation)
    print(f"erf checks, {datetime.date.today()}: {name}, gamma0 = {gamma0}, T = {TEMPERATURE}", flush=True)
    print("theory, single task on the source data (src align), key 100, against neurons:")
    for n in (5000, 20_000, 80_000, 320_000):
        t0 = time.perf_counter()
        s = jaxtl.adaptive_kernel(Xs, ys, neurons=n, key=jax.random.key(100), **th)
        print(f"  neurons {n:>7}: alignment {float(s.alignment):.4f}, ESS {float(s.effective_samples):>8.0f} "
              f"({time.perf_counter() - t0:.0f} s)", flush=True)
    print("theory, single task on the target data (alignment, test error), key 100, against neurons:")
    for n in (10_000, 40_000, 160_000):
        t0 = time.perf_counter()
        s = jaxtl.adaptive_kernel(Xt, yt, neurons=n, key=jax.random.key(100), **th)
        print(f"  neurons {n:>7}: alignment {float(s.alignment):.4f}, test error {float(s.test_error(X0, y0).total):.4f}, "
              f"ESS {float(s.effective_samples):>8.0f} ({time.perf_counter() - t0:.0f} s)", flush=True)
    print("theory, transfer delta = 0.3 (target alignment), 5000 source draws, key 100, against target draws:")
    for d in (16, 64, 256):
        t0 = time.perf_counter()
        s = jaxtl.adaptive_transfer((Xs, ys), (Xt, yt), coupling=0.3, neurons=5000, target_draws=d,
                                    key=jax.random.key(100), **th)
        print(f"  target draws {d:>4}: alignment {float(s.target.alignment):.4f}, target ESS "
              f"{float(s.target.effective_samples):.0f} ({time.perf_counter() - t0:.0f} s)", flush=True)
    print("networks, single task on the target data (alignment, test error):")
    Xt32 = Xt.astype(np.float32)
    common = dict(feature_strength=gamma0, temperature=TEMPERATURE, lambda0=LAMBDA0, lambda1=LAMBDA1,
                  activation=activation)
    pilot = nets.sample_mean_field(jax.random.key(seed), Xt32, yt, width=args.width or 1000,
                                   sampler=nets.Langevin(n_chains=2, burn_in=0, n_samples=1, thin=1), **common)
    for width, fraction in ((1000, STEP_FRACTION), (2000, STEP_FRACTION), (1000, STEP_FRACTION / 3)):
        eta = fraction / float(pilot.samples.curvature)
        tau = 1.0 / (eta * TEMPERATURE * LAMBDA0)
        thin = max(1, int(round(2 * tau / 20)))
        burn = int(np.ceil(burn_tau * tau / thin)) * thin
        t0 = time.perf_counter()
        r = nets.sample_mean_field(jax.random.key(7 + width), Xt32, yt, width=width, X_test=X0, **common,
                                   sampler=nets.Langevin(n_chains=4, burn_in=burn, n_samples=20, thin=thin, step_size=eta))
        a, a_se = jackknife(lambda K: alignment(K, yt), unit_kernels(r))
        e = r.test_error(y0)
        print(f"  N = {width}, eta = {fraction:.2g} / a_max, {burn + 20 * thin} steps: alignment {a:.4f} +- {a_se:.4f}, "
              f"test error {float(e.mean.total):.4f} +- {float(e.stderr.total):.4f} ({time.perf_counter() - t0:.0f} s)",
              flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N = 300, a third of the burn-in, fewer theory draws")
    parser.add_argument("--width", type=int, help="N (default 1000; 300 with --quick)")
    parser.add_argument("--chains", type=int, default=4, help="independent units per run (default 4)")
    parser.add_argument("--burn-scale", type=float, help="multiplies the pairs' burn-ins (default 1; 1/3 with --quick)")
    parser.add_argument("--keep", type=float, default=2.0, help="kept samples' span in units of tau (default 2)")
    parser.add_argument("--step-fraction", type=float, default=STEP_FRACTION,
                        help=f"eta x (largest curvature at the start) (default {STEP_FRACTION})")
    parser.add_argument("--neurons", type=int, help="Monte Carlo draws of the erf single-task theory (default 40000)")
    parser.add_argument("--transfer-neurons", type=int, help="source draws of the erf transfer theory (default 5000)")
    parser.add_argument("--target-draws", type=int, help="target draws per source draw, erf transfer theory, finite "
                        "delta (default 64; the library's default 16 is biased, benchmarks/README.md)")
    parser.add_argument("--theory-keys", type=int, help="independent Monte Carlo theories (default 4; 2 with --quick)")
    parser.add_argument("--erf-checks", action="store_true",
                        help="instead of the table: the erf rows' convergence checks (theory draws, width, step size)")
    parser.add_argument("--no-width-check", action="store_true",
                        help="skip the linear pair's single task at N/2 and 2N (finite-width corrections)")
    parser.add_argument("--pairs", nargs="+", choices=[p[0] for p in PAIRS], help="task pairs to run (default both)")
    args = parser.parse_args()
    if args.erf_checks:
        start = time.perf_counter()
        erf_checks(args)
        print(f"wall time {time.perf_counter() - start:.0f} s")
        return
    width = args.width or (300 if args.quick else 1000)
    burn_scale = args.burn_scale or (1 / 3 if args.quick else 1.0)
    neurons = args.neurons or (10_000 if args.quick else 40_000)
    transfer_neurons = args.transfer_neurons or (2500 if args.quick else 5000)
    target_draws = args.target_draws or (32 if args.quick else 64)
    n_keys = args.theory_keys or (2 if args.quick else 4)
    n_keys_transfer = 2
    chains = args.chains
    pairs = [p for p in PAIRS if args.pairs is None or p[0] in args.pairs]
    start_all = time.perf_counter()

    print(f"jaxtl.adaptive, {datetime.date.today()}, jax {jax.__version__} on {jax.default_backend()}; "
          f"T = {TEMPERATURE}, lambda0 = lambda1 = 1, N = {width}, Ps = {PS}, Pt = {PT}, P0 = {P0}, N0 = {N0}, "
          f"rho = {RHO}; {chains} units per run, eta = {args.step_fraction:g} / a_max, {args.keep:g} tau kept; "
          f"erf theory: single task {neurons} neurons x {n_keys} keys, transfer {transfer_neurons} source x "
          f"{target_draws} target draws x {n_keys_transfer} keys; float32 networks", flush=True)
    print("theory readings: quenched and joint rows against jaxtl.adaptive_transfer(reading=...) of the same "
          "reading", flush=True)

    rows, readings_summary, width_rows, hist_rows = [], [], [], []
    for name, readout, activation, seed, GAMMA0, burn_tau in pairs:
        burn_tau *= burn_scale
        t_pair = time.perf_counter()
        pair = jaxtl.tasks.teacher_pair(jax.random.key(seed), Ps=PS, Pt=PT, P0=P0, N0=N0, rho=RHO, readout=readout)
        Xs, ys, Xt, yt, X0, y0 = (np.asarray(a, float) for a in (pair.Xs, pair.ys, pair.Xt, pair.yt, pair.X0, pair.y0))
        exact = activation == "identity"
        keys = [None] if exact else [jax.random.key(100 + k) for k in range(n_keys)]
        mc = {} if exact else dict(neurons=neurons)
        common_th = dict(lambda0=LAMBDA0, lambda1=LAMBDA1, temperature=TEMPERATURE, activation=activation, **mc)

        # --- theory
        t0 = time.perf_counter()
        single_sols, single_ng_sols = [], []
        single_th, K_single = theory_values(
            lambda k: jaxtl.adaptive_kernel(Xt, yt, feature_strength=GAMMA0, key=k, **common_th), keys, X0, y0, yt, True,
            single_sols)
        single_ng, K_single_ng = theory_values(
            lambda k: jaxtl.adaptive_kernel(Xt, yt, feature_strength=0.0, key=k, **common_th), keys[:1], X0, y0, yt, True,
            single_ng_sols)
        single_ng["kernel dist"] = (distance(K_single_ng, K_single), 0.0)
        transfer_th, transfer_ng = {}, {}
        theory_readings = ("quenched", "joint")
        for delta in COUPLINGS:
            for reading in theory_readings:
                extra = dict(reading=reading)
                if not exact:  # joint: neurons counts draws of neuron pairs, no target draws
                    extra.update(neurons=transfer_neurons)
                    if reading == "quenched":
                        extra.update(target_draws=1 if np.isinf(delta) else target_draws)
                th = dict(common_th, **extra)
                for g0, store in ((GAMMA0, transfer_th), (0.0, transfer_ng)):
                    solve = lambda k: jaxtl.adaptive_transfer(  # noqa: E731
                        (Xs, ys), (Xt, yt), feature_strength=g0, coupling=delta, key=k, **th)
                    store[reading, delta] = theory_values(solve, keys[:n_keys_transfer] if g0 else keys[:1], X0, y0,
                                                          yt, False)
            for reading in theory_readings:
                (v, K), (vn, Kn) = transfer_th[reading, delta], transfer_ng[reading, delta]
                vn["kernel dist"] = (distance(Kn, K), 0.0)
        print(f"[{name}] theory solved in {time.perf_counter() - t0:.0f} s", flush=True)

        if exact:  # the slowest mode of the tilted law: t = 1 / (1 - g sigma) times the prior's time tau
            a = np.asarray(jaxtl.adaptive_kernel(Xt, yt, feature_strength=GAMMA0, **common_th).coefficients)
            g_sigma = GAMMA0**2 * LAMBDA1 * a @ (Xt @ Xt.T / (N0 * LAMBDA0)) @ a
            print(f"[{name}] gamma0 = {GAMMA0}: single task g sigma = {g_sigma:.3f}, t = {1 / (1 - g_sigma):.2f}", flush=True)

        # --- networks: one step size per pair, step_fraction / (largest curvature at the start, pilot runs)
        Xs32, Xt32 = Xs.astype(np.float32), Xt.astype(np.float32)
        common = dict(feature_strength=GAMMA0, temperature=TEMPERATURE, width=width, lambda0=LAMBDA0, lambda1=LAMBDA1,
                      activation=activation)
        pilot = [nets.sample_mean_field(jax.random.key(seed), X, y, sampler=nets.Langevin(n_chains=2, burn_in=0,
                                        n_samples=1, thin=1), **common) for X, y in ((Xs32, ys), (Xt32, yt))]
        eta = args.step_fraction / max(float(p.samples.curvature) for p in pilot)
        tau = 1.0 / (eta * TEMPERATURE * LAMBDA0)
        thin = max(1, int(round(args.keep * tau / 20)))
        burn = int(np.ceil(burn_tau * tau / thin)) * thin
        sampler = lambda n, b=burn: nets.Langevin(n_chains=n, burn_in=b, n_samples=20, thin=thin, step_size=eta)  # noqa: E731
        steps = burn + 20 * thin
        print(f"[{name}] gamma0 = {GAMMA0}, eta = {eta:.4g}, tau = {tau:.0f} steps, {steps} steps per chain "
              f"(burn-in {burn_tau:.3g} tau)", flush=True)

        def add(quantity_values, reading, delta, theory, nngp, seconds):
            for q, nv in quantity_values.items():
                rows.append((name, q, reading, delta, theory[q], nv, nngp[q][0], seconds))

        def quenched_burn(delta):
            """Target chains given a source sample: W_t relaxes at rate eta T (lambda0 + delta) (inf: W_t held,
            the readout alone, Gaussian, at rate eta T lambda1); at least 5 tau."""
            b = burn_tau * tau * LAMBDA0 / (LAMBDA0 + delta)
            return int(np.ceil(max(5 * tau, b) / thin)) * thin

        key = jax.random.key(1000 + seed)
        t0 = time.perf_counter()
        single = nets.sample_mean_field(jax.random.fold_in(key, 0), Xt32, yt, sampler=sampler(chains), X_test=X0,
                                        **common)
        jax.block_until_ready(single.samples.mean_kernel)
        secs = time.perf_counter() - t0
        add(net_values(single, yt, y0, K_single), "single", 0.0, single_th, single_ng, secs)
        # the networks' probes X[:1], X_test[:1], and x_b along the tilted direction b = X^T alpha of the theory
        b = Xt.T @ np.asarray(single_sols[0].coefficients, float)
        xb = b * np.sqrt(N0) / np.linalg.norm(b)
        W = np.asarray(single.samples.final.W, float)  # (chains, N, N0)
        h_probes = (("train", Xt[0], single.preactivations[:, 0]), ("test", X0[0], single.preactivations[:, 1]),
                    ("b", xb, W @ xb / np.sqrt(N0)))
        for probe, x0, h in h_probes:
            (tv, tv_se), tv_ng, floor = preactivation_tv(h, single_sols, single_ng_sols, x0)
            q = f"h TV {probe}"
            rows.append((name, q, "single", 0.0, (0.0, 0.0), (tv, tv_se), tv_ng, secs))
            hist_rows.append((name, probe, tv, tv_se, tv_ng, floor, int(np.asarray(h).size)))
        print(f"[{name}] single task: {secs:.0f} s ({chains * steps / secs:.0f} chain-steps/s)", flush=True)
        if exact and not args.no_width_check:
            for n in (width // 2, width, 2 * width):
                t0 = time.perf_counter()
                r = single if n == width else nets.sample_mean_field(
                    jax.random.fold_in(key, n), Xt32, yt, sampler=sampler(chains), X_test=X0, **dict(common, width=n))
                error = r.test_error(y0)
                width_rows.append((name, n, single_th, error, net_values(r, yt, y0, K_single)["alignment"],
                                   time.perf_counter() - t0))
                print(f"[{name}] width check N = {n}: {time.perf_counter() - t0:.0f} s", flush=True)

        source = None
        results = {}
        for i, delta in enumerate(COUPLINGS):
            for reading in ("quenched", "joint"):
                t0 = time.perf_counter()
                kw = dict(coupling=delta, reading=reading, X_test=X0, **common)
                if reading == "quenched":
                    kw.update(source_sampler=nets.Langevin(n_chains=chains, burn_in=burn, n_samples=1, thin=thin,
                                                           step_size=eta, ),
                              target_sampler=sampler(2, quenched_burn(delta)), source=source)
                else:
                    kw.update(sampler=sampler(chains))
                r = nets.transfer_mean_field(jax.random.fold_in(key, 10 * i + (reading == "joint") + 1), (Xs32, ys),
                                             (Xt32, yt), **kw)
                jax.block_until_ready(r.target.samples.mean_kernel)
                secs = time.perf_counter() - t0
                (theory, K), (nngp, _) = transfer_th[reading, delta], transfer_ng[reading, delta]
                values = net_values(r.target, yt, y0, K)
                if reading == "joint" or source is None:
                    values["src align"] = source_alignment(r.source, ys)
                add(values, reading, delta, theory, nngp, secs)
                results[reading, delta] = values
                if reading == "quenched" and source is None:
                    source = r.source
                print(f"[{name}] {reading} delta = {delta:g}: {secs:.0f} s", flush=True)
            readings_summary.append((name, delta, *(
                (j - q, np.hypot(q_se, j_se)) for (q, q_se), (j, j_se) in
                ((results["quenched", delta][o], results["joint", delta][o]) for o in ("test error", "alignment")))))
        print(f"[{name}] pair done in {time.perf_counter() - t_pair:.0f} s", flush=True)

    print()
    header = (f"{'pair':<9}{'quantity':<12}{'reading':<9}{'delta':>6}{'theory':>10}{'nets':>10}{'stderr':>9}"
              f"{'NNGP':>9}{'rel.diff':>9}{'diff/se':>8}  ok{'s':>6}")
    print(header)
    for name, q, reading, delta, (t, t_se), (n, n_se), ng, secs in rows:
        rel = (n - t) / abs(t) if t else float("nan")
        z = (n - t) / np.hypot(t_se, n_se) if np.hypot(t_se, n_se) > 0 else float("nan")
        d = "-" if reading == "single" else f"{delta:g}"
        rel_s = f"{rel:>+9.3f}" if t else f"{'-':>9}"
        print(f"{name:<9}{q:<12}{reading:<9}{d:>6}{t:>10.4f}{n:>10.4f}{n_se:>9.4f}{ng:>9.4f}{rel_s}{z:>+8.1f}  "
              f"{'yes' if agrees(q, (t, t_se), (n, n_se)) else 'NO ':<3}{secs:>5.0f}")
    print("theory: the erf theory's value is the mean over Monte Carlo keys; its stderr enters diff/se. "
          "kernel dist: relative Frobenius distance to the theory kernel (ok: < 0.05); h TV: below.")
    print(f"\npreactivation law of one hidden neuron, single task (h TV rows): total variation 0.5 sum |p - q| over "
          f"{HIST_BINS} bins of +- {HIST_RANGE:g} std and the tails,\nnetworks' histogram over all chains and neurons "
          "at the probe (the first training input, the first test input, x_b = sqrt(N0) b / |b| along the tilted\n"
          "direction b = X^T alpha of the single-task theory) against the theory's preactivation_histogram:")
    for name, probe, tv, tv_se, tv_ng, floor, n in hist_rows:
        print(f"  {name:<9} {probe:<5} probe: theory {tv:.4f} +- {tv_se:.4f}, NNGP {tv_ng:.4f}; noise floor of "
              f"{n} draws from the theory's law {floor:.4f}")
    print("\njoint minus quenched networks (same N, same data):")
    for name, delta, (d, se), (da, sea) in readings_summary:
        print(f"  {name:<9} delta = {delta:>4g}: target test error {d:+.4f} +- {se:.4f} ({d / se:+.1f} se), "
              f"target alignment {da:+.4f} +- {sea:.4f} ({da / sea:+.1f} se)")
    if width_rows:
        print("\nfinite width, single task (the theory is N = inf; test error = bias2 + variance, the variance "
              "O(T / (gamma0^2 N))):")
        print(f"{'pair':<9}{'N':>6}{'theory':>9}{'test error':>19}{'bias2':>19}{'variance':>19}{'alignment':>19}"
              f"{'(theory)':>9}{'s':>6}")
        for name, n, th, e, (a, a_se), secs in width_rows:
            pm = lambda m, se: f"{float(m):.4f} +- {float(se):.4f}"  # noqa: E731
            print(f"{name:<9}{n:>6}{th['test error'][0]:>9.4f}{pm(e.mean.total, e.stderr.total):>19}"
                  f"{pm(e.mean.bias2, e.stderr.bias2):>19}{pm(e.mean.variance, e.stderr.variance):>19}"
                  f"{pm(a, a_se):>19}{th['alignment'][0]:>9.4f}{secs:>6.0f}")
    print(f"\nwall time {time.perf_counter() - start_all:.0f} s")


if __name__ == "__main__":
    main()
