"""Where the transfer theory applies: its roots over width and coupling, and networks at small width.

On the README's teacher problem (`teacher_pair(key(0), Ps=300, Pt=80, P0=400, N0=100, rho=1,
gain=2, noise=0.1)`, erf, T = 0.05, lambda0 = lambda1 = 1), over alpha_s = Ps / N1 from 0.5 to 20
(N1 = 600 ... 15) and the coupling gamma from 0.01 to inf, for every point:

- the solver (`jaxtl.transfer(..., throw=False)`): its outcome (`jaxtl.RESULTS`) and its
  evaluations of the gradient and Jacobian (`num_steps`);
- the solver before commit e65f49b, emulated here: plain Newton (no backtracking) from the
  prior-only point (log Q_p, 0), at most 64 steps, with its stopping rule; where it stopped
  classified as a physical root, an unphysical root (the first condition violated, named as in
  `jaxtl.RESULTS`), not a root at all (its stopping rule, an estimate from the last two step
  sizes, accepted a point where |grad V| is large) or no convergence (step limit, non-finite);
- the roots of the saddle-point equations, independently: plain Newton from 25 starts (Q_t in
  [0.3, 4], 5 log-spaced values, times Q_tt / Q_t in {0, 0.3, 0.6, 0.9, 0.99}) and from the two
  solvers' roots, deduplicated to 1e-6 and classified physical or unphysical.

Then Langevin-sampled networks (`jaxtl.nets.transfer`, float32) at points where the old solver
failed, against the theory's physical root (`jaxtl.nets.compare`), with the old solver's value
for contrast, in two protocols (`PROTOCOLS`): the chain lengths of `nets.transfer`'s default
samplers (source samples after 2000 and 3000 steps, target burn-in 1000 steps) with 8 source
chains, and long chains (source burn-in 40000 steps, target burn-in 3000). At these widths
(Ps / N0 = 3) the source networks leave the kernel-like state after 10^4 - 3 x 10^4 steps and
specialize: their training loss falls from about 7.3 to about 4-5 and stays there. The long
chains sample that state, the networks' equilibrium; the default ones a metastable state
(partly: some chains have specialized by then at N1 <= 20).

    python benchmarks/domain.py --quick     # map 6 x 5, two network points, default chains only
    python benchmarks/domain.py --no-nets   # the full map alone
    python benchmarks/domain.py             # map 10 x 10, seven network points, both protocols
    python benchmarks/domain.py --results FILE   # the same, keeping the results in FILE (a pickle);
                                                  # once FILE exists: reprint the tables and redraw

On the project's two CPU cores, shared with other jobs (load 3-6): --quick about 5 minutes, the map
8-15 minutes (5-9 s a point: 27 Newton solves and two test errors), the networks 10 minutes
(default chains 1.5, long chains 8.5), the whole run 18 minutes (benchmarks/README.md).
Writes benchmarks/domain.png: the map, and theory vs networks at the network points.
"""

import argparse
import datetime
import pathlib
import pickle
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import jaxtl  # noqa: E402
from jaxtl import nets  # noqa: E402
from jaxtl.theory import _transfer  # noqa: E402
from jaxtl.theory._activation import get_activation  # noqa: E402
from jaxtl._problem import STATUS  # noqa: E402

PROBLEM = dict(Ps=300, Pt=80, P0=400, N0=100, rho=1.0, gain=2.0, noise=0.1)
TEMPERATURE, LAMBDA0, LAMBDA1 = 0.05, 1.0, 1.0
WIDTHS = (600, 300, 150, 100, 70, 50, 40, 30, 20, 15)
COUPLINGS = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0, np.inf)
QUICK_WIDTHS, QUICK_COUPLINGS = (300, 100, 50, 40, 20, 15), (0.1, 1.0, 3.0, 10.0, np.inf)
NET_POINTS = ((50, 1.0), (50, 10.0), (40, 3.0), (40, 100.0), (20, 30.0), (15, 10.0), (15, np.inf))
QUICK_NET_POINTS = ((50, 10.0), (15, np.inf))
# Network protocols: the chain lengths of `nets.transfer`'s defaults (8 source chains instead of 4,
# for the error bars), and long source chains that reach the specialized state (module docstring).
PROTOCOLS = {
    "default": dict(source_sampler=nets.Langevin(n_chains=8, burn_in=1000, n_samples=2, thin=1000),
                    target_sampler=nets.Langevin(n_chains=2, burn_in=1000, n_samples=100, thin=10)),
    "long": dict(source_sampler=nets.Langevin(n_chains=8, burn_in=40000, n_samples=2, thin=4000),
                 target_sampler=nets.Langevin(n_chains=2, burn_in=3000, n_samples=100, thin=10)),
}
MAX_STEPS = 64
START_Q = np.geomspace(0.3, 4.0, 5)
START_RATIO = (0.0, 0.3, 0.6, 0.9, 0.99)
SAME_ROOT = 1e-6
OLD_OK, OLD_FALSE, OLD_DIVERGED = "physical", "not a root", "no convergence"
ROOT = 1e-7  # a root: max |gradient| (of V in x) below this
OFF_SCALE = 0.9  # test errors of the old solver outside [0, 1] are drawn at this height


def plain_newton(x0, args, rtol=1e-10, atol=1e-10):
    """The solver before e65f49b: Newton's method without backtracking, at most MAX_STEPS
    steps, stopping when the step, or its quadratic-convergence estimate of the remaining error,
    is below atol + rtol |x| (or an iterate is not finite). Returns (x, steps, converged)."""

    def step(carry):
        x, size, _, k, _ = carry
        g, J = _transfer._gradient_and_jacobian(x, args)
        (a, b), (c, d) = J[0], J[1]
        direction = jnp.stack([d * g[0] - b * g[1], a * g[1] - c * g[0]]) / (a * d - b * c)
        new = x - direction
        new_size = jnp.max(jnp.abs(direction) / (atol + rtol * jnp.abs(new)))
        rate = new_size / size
        predicted = jnp.where((rate > 0) & (rate < 0.1), new_size * rate**2, jnp.inf)
        done = (new_size < 1) | (predicted < 1) | ~jnp.all(jnp.isfinite(new))
        return new, new_size, predicted, k + 1, done

    inf = jnp.asarray(jnp.inf, x0.dtype)
    carry = (x0, inf, inf, jnp.asarray(0), jnp.asarray(False))
    x, _, _, k, done = jax.lax.while_loop(lambda c: ~c[4] & (c[3] < MAX_STEPS), step, carry)
    return x, k, done & jnp.all(jnp.isfinite(x))


def classify(x, sol, args):
    """(Q_t, Q_tt, Q_st, outcome code, |gradient|) of a root x = (log(Q_t - Q_tt), Q_tt):
    the library's physical check (`_physical`) as if Newton had succeeded there."""
    D, Q_tt = jnp.exp(x[0]), x[1]
    M = _transfer._target_matrix(D, Q_tt, args)
    Q_st = _transfer._source_overlap(_transfer._target_inverse(D, Q_tt, args), D, args)[0]
    code = _transfer._physical(jaxtl.RESULTS.successful, sol.source, sol.prior_only, Q_tt, Q_st, M, args)
    gradient = jnp.max(jnp.abs(_transfer._gradient_and_jacobian(x, args)[0]))
    return jnp.stack([D + Q_tt, Q_tt, Q_st]), code._value, gradient


def at_root(sol, overlaps):
    """The solution object with its order parameters replaced and marked converged: the
    test error the old solver reported at its root (it had no physical check)."""
    Q_t, Q_tt, Q_st = overlaps
    return eqx.tree_at(lambda s: (s.Q_t, s.Q_tt, s.Q_st, s.result), sol, (Q_t, Q_tt, Q_st, jaxtl.RESULTS.successful))


@jax.jit
def solve_point(data, width, coupling):
    """Everything the map needs at one (N1, gamma): new solver, old solver, multi-start roots."""
    Xs, ys, Xt, yt, X0, y0 = data
    f = lambda v: jnp.asarray(v, jnp.float64)  # noqa: E731
    sol = _transfer._solve(Xs, ys, Xt, yt, width=width, temperature=f(TEMPERATURE), source_temperature=f(TEMPERATURE),
                           coupling=coupling, lambda0=f(LAMBDA0), lambda1=f(LAMBDA1), activation=get_activation("erf"), throw=False)
    args = sol.state
    x_new = jnp.stack([jnp.log(sol.Q_t - sol.Q_tt), sol.Q_tt])
    new = dict(Q=jnp.stack([sol.Q_t, sol.Q_tt, sol.Q_st]), code=sol.result._value, steps=sol.num_steps,
               error=sol.test_error(X0, y0).total, gradient=classify(x_new, sol, args)[2])

    x, steps, ok = plain_newton(jnp.stack([jnp.log(sol.prior_only.Q), 0.0]), args)
    Q, code, gradient = classify(x, sol, args)
    old = dict(Q=Q, code=code, steps=steps, converged=ok, gradient=gradient,
               error=at_root(sol, Q).test_error(X0, y0).total)

    q, r = (a.ravel() for a in jnp.meshgrid(jnp.asarray(START_Q), jnp.asarray(START_RATIO)))
    starts = jnp.stack([jnp.log(q * (1 - r)), r * q], axis=1)
    starts = jnp.concatenate([starts, x_new[None], x[None]])
    xs, _, oks = jax.vmap(plain_newton, (0, None))(starts, args)
    Qs, codes, gradients = jax.vmap(classify, (0, None, None))(xs, sol, args)
    roots = dict(Q=Qs, code=codes, converged=oks & (gradients < ROOT))
    return new, old, roots, sol.Q_s


@jax.jit
def errors_at(data, width, coupling, Qs):
    """The test error the theory would give at each root in Qs (rows Q_t, Q_tt, Q_st)."""
    Xs, ys, Xt, yt, X0, y0 = data
    f = lambda v: jnp.asarray(v, jnp.float64)  # noqa: E731
    sol = _transfer._solve(Xs, ys, Xt, yt, width=width, temperature=f(TEMPERATURE), source_temperature=f(TEMPERATURE),
                           coupling=coupling, lambda0=f(LAMBDA0), lambda1=f(LAMBDA1), activation=get_activation("erf"), throw=False)
    return jax.vmap(lambda Q: at_root(sol, Q).test_error(X0, y0).total)(Qs)


def distinct_roots(roots):
    """The converged multi-start roots without repeats (|dQ| <= 1e-6 (1 + |Q|) in Q_t and
    Q_tt): a list of (Q_t, Q_tt, Q_st, outcome name)."""
    found = []
    for Q, code, ok in zip(roots["Q"], roots["code"], roots["converged"]):
        same = [np.all(np.abs(Q[:2] - np.array(r[:2])) <= SAME_ROOT * (1 + np.abs(np.array(r[:2])))) for r in found]
        if ok and not any(same):
            found.append((*(float(q) for q in Q), STATUS[int(code)]))
    return found


def old_outcome(old):
    """'physical', 'unphysical: <condition>', 'not a root' (its stopping rule accepted a point
    where the gradient is not small) or 'no convergence' for the emulated old solver."""
    if not old["converged"]:
        return OLD_DIVERGED
    if not old["gradient"] < ROOT:
        return f"{OLD_FALSE} (grad V {float(old['gradient']):.1e})"
    name = STATUS[int(old["code"])]
    return OLD_OK if name == "successful" else f"unphysical: {name}"


HEADER = (f"{'N1':>5}{'alpha_s':>8}{'gamma':>7} | {'new':<16}{'evals':>6}{'Q_t':>8}{'Q_tt':>8}{'Q_st':>8}"
          f"{'error':>8} | {'old':<30}{'steps':>6}{'Q_t':>11}{'Q_tt':>11}{'error':>11} | {'roots':>6}{'phys':>5}")


def point_row(N1, gamma, p):
    """One line of the per-point table: new solver, old solver, roots (total, physical)."""
    new, old, Qn, Qo = p["new"], p["old"], p["new"]["Q"], p["old"]["Q"]
    name = "converged" if p["new_name"] == "successful" else p["new_name"]
    return (f"{N1:>5}{PROBLEM['Ps'] / N1:>8.2f}{gamma:>7g} | {name:<16}"
            f"{int(new['steps']):>6}{Qn[0]:>8.4f}{Qn[1]:>8.4f}{Qn[2]:>8.4f}{float(new['error']):>8.4f} | "
            f"{p['old_outcome']:<30}{int(old['steps']):>6}{Qo[0]:>11.4g}{Qo[1]:>11.4g}{float(old['error']):>11.4g} | "
            f"{len(p['roots']):>6}{len(p['physical']):>5}")


def run_map(pair, widths, couplings):
    data = tuple(jnp.asarray(a, jnp.float64) for a in (pair.Xs, pair.ys, pair.Xt, pair.yt, pair.X0, pair.y0))
    grid = {}
    print(HEADER)
    print("-" * len(HEADER))
    for N1 in widths:
        for gamma in couplings:
            new, old, roots, Q_s = jax.tree.map(np.asarray, solve_point(data, jnp.float64(N1), jnp.float64(gamma)))
            found = distinct_roots(roots)
            physical = [r for r in found if r[3] == "successful"]
            new_name = STATUS[int(new["code"])]
            if len(physical) > 1:  # which one is right is for the networks to say: keep each one's test error
                Qs = jnp.asarray([r[:3] for r in physical])
                errors = np.asarray(errors_at(data, jnp.float64(N1), jnp.float64(gamma), Qs))
                physical = [(*r, float(e)) for r, e in zip(physical, errors)]
            grid[N1, gamma] = dict(new=new, old=old, old_outcome=old_outcome(old), roots=found, physical=physical,
                                   new_name=new_name, Q_s=float(Q_s))
            print(point_row(N1, gamma, grid[N1, gamma]), flush=True)
    return grid


def summarize(grid):
    points = list(grid.values())
    n = len(points)
    new_ok = sum(p["new_name"] == "successful" for p in points)
    old_ok = sum(p["old_outcome"] == OLD_OK for p in points)
    old_unphysical = sum(p["old_outcome"].startswith("unphysical") for p in points)
    old_diverged = sum(p["old_outcome"] == OLD_DIVERGED for p in points)
    old_false = sum(p["old_outcome"].startswith(OLD_FALSE) for p in points)
    new_gradient = max(float(p["new"]["gradient"]) for p in points if p["new_name"] == "successful")
    conditions = sorted({p["old_outcome"] for p in points if p["old_outcome"].startswith("unphysical")})
    several = [(k, p) for k, p in grid.items() if len(p["physical"]) > 1]
    none = [k for k, p in grid.items() if not p["physical"]]
    missed = [k for k, p in grid.items() if p["physical"] and p["new_name"] != "successful"]
    steps = np.array([int(p["new"]["steps"]) for p in points])
    unphysical_roots = sum(len(p["roots"]) - len(p["physical"]) for p in points)
    with_unphysical = sum(len(p["roots"]) > len(p["physical"]) for p in points)
    print()
    print(f"| grid points | {n} |")
    print("|---|---|")
    print(f"| new solver: physical root (converged) | {new_ok}/{n} ({100 * new_ok / n:.0f}%) |")
    print(f"| new solver: evaluations, median / max | {np.median(steps):.0f} / {steps.max()} |")
    print(f"| new solver: largest grad V at its roots (max-norm) | {new_gradient:.1e} |")
    print(f"| old solver: physical root | {old_ok}/{n} ({100 * old_ok / n:.0f}%) |")
    failing = ", ".join(c.split(": ")[1] for c in conditions) or "-"
    print(f"| old solver: unphysical root called converged | {old_unphysical}/{n} ({failing}) |")
    print(f"| old solver: stopped at a point that is not a root (grad V > {ROOT:g}) | {old_false}/{n} |")
    print(f"| old solver: no convergence (64 steps or non-finite) | {old_diverged}/{n} |")
    print(f"| points with unphysical roots (multi-start) / their number | {with_unphysical} / {unphysical_roots} |")
    print(f"| points with no physical root found (multi-start) | {len(none)} {none if none else ''} |")
    print(f"| points with more than one physical root | {len(several)} |")
    print(f"| points with a physical root that the new solver missed | {len(missed)} {missed if missed else ''} |")
    for (N1, gamma), p in several:
        print(f"  N1 = {N1}, gamma = {gamma:g}: physical roots (Q_t, Q_tt, Q_st; test error) "
              + "; ".join(f"({r[0]:.4f}, {r[1]:.4f}, {r[2]:.4f}; {r[4]:.4f})" for r in p["physical"])
              + f"; the new solver's: ({p['new']['Q'][0]:.4f}, {p['new']['Q'][1]:.4f}, {p['new']['Q'][2]:.4f})")


def run_networks(pair, grid, points, protocols):
    """Theory (physical root) against sampled networks at `points`, one row per point and protocol."""
    pair32 = jaxtl.tasks.TaskPair(pair.Xs.astype(np.float32), pair.ys, pair.Xt, pair.yt, pair.X0, pair.y0)
    rows = []
    for name, samplers in protocols.items():
        for N1, gamma in points:
            start = time.perf_counter()
            params = dict(width=N1, temperature=TEMPERATURE, coupling=gamma, lambda0=LAMBDA0, lambda1=LAMBDA1)
            theory = jaxtl.transfer((pair.Xs, pair.ys), (pair.Xt, pair.yt), throw=False, **params)
            samples = nets.transfer(jax.random.key(1), pair32, **params, **samplers)
            table = nets.compare(theory, samples, pair.X0, pair.y0)
            seconds = time.perf_counter() - start
            source_loss = np.asarray(samples.source.loss)
            p = grid.get((N1, gamma))
            print(f"\n{name} chains, N1 = {N1}, gamma = {gamma:g} ({seconds:.0f} s; step sizes: source "
                  f"{samples.source.step_size:.3g}, target {samples.target.step_size:.3g}; source training loss at "
                  f"its samples {source_loss.mean():.2f}, per chain {np.array2string(source_loss.mean(1), precision=2)})")
            print(table)
            if p is not None:
                old = p["old"]
                print(f"old solver: {p['old_outcome']}, Q_t = {old['Q'][0]:.4g}, Q_tt = {old['Q'][1]:.4g}, "
                      f"Q_st = {old['Q'][2]:.4g}, test error {float(old['error']):.4g}")
            table = dict(names=list(table.names), theory=np.asarray(table.theory), networks=np.asarray(table.networks),
                         stderr=np.asarray(table.stderr))
            rows.append(dict(protocol=name, N1=N1, gamma=gamma, table=table, seconds=seconds,
                             source_loss=float(source_loss.mean())))
    return rows


def network_table(grid, rows):
    """One row per point and protocol: theory (physical root) / networks +- stderr (deviation in
    stderr) for the test error and the order parameters; the old solver's values; the source
    networks' training loss at their samples (about 7.3 kernel-like, 4-5 specialized)."""
    quantities = ("test error", "Q_s", "Q_t", "Q_tt", "Q_st")
    print()
    print("| chains | N1 | gamma | " + " | ".join(quantities) + " | old solver: Q_t, Q_tt, Q_st; error | source loss |")
    print("|---" * (len(quantities) + 5) + "|")
    for row in rows:
        t, cells = row["table"], []
        for quantity in quantities:
            i = t["names"].index(quantity)
            theory, networks, stderr = (float(t[c][i]) for c in ("theory", "networks", "stderr"))
            cells.append(f"{theory:.3f} / {networks:.3f} ± {stderr:.3f} ({(networks - theory) / stderr:+.1f})")
        p = grid.get((row["N1"], row["gamma"]))
        if p is None:
            old_cells = "-"
        elif p["old_outcome"] == OLD_DIVERGED:
            old_cells = "no convergence" + (" (non-finite)" if not np.all(np.isfinite(p["old"]["Q"])) else " (64 steps)")
        else:
            old, outcome = p["old"], p["old_outcome"].split(":")[0]
            old_cells = f"{outcome}: {old['Q'][0]:.4g}, {old['Q'][1]:.4g}, {old['Q'][2]:.4g}; {float(old['error']):.4g}"
        gamma = "inf" if np.isinf(row["gamma"]) else f"{row['gamma']:g}"
        print(f"| {row['protocol']} | {row['N1']} | {gamma} | " + " | ".join(cells)
              + f" | {old_cells} | {row['source_loss']:.2f} |")


def figure(grid, widths, couplings, rows, path):
    """Left: the (alpha_s, gamma) map, cells coloured by the old solver's outcome, the new
    solver's marked, network points starred. Right: test error, theory vs networks."""
    kinds = [OLD_OK, "unphysical", OLD_FALSE, OLD_DIVERGED]
    colours = ["#d9ecd0", "#f4a582", "#c2a5cf", "#bdbdbd"]
    fig, axes = plt.subplots(1, 2, figsize=(13, 6.2), constrained_layout=True,
                             gridspec_kw=dict(width_ratios=(1.15, 1)))
    ax = axes[0]
    for i, N1 in enumerate(widths):
        for j, gamma in enumerate(couplings):
            p = grid[N1, gamma]
            kind = next(k for k in kinds if p["old_outcome"].startswith(k))
            ax.add_patch(plt.Rectangle((i - 0.5, j - 0.5), 1, 1, color=colours[kinds.index(kind)], lw=0))
            ok = p["new_name"] == "successful"
            ax.plot(i, j, "o" if ok else "x", color="k" if ok else "red", ms=4 if ok else 8, mew=2)
            if len(p["roots"]) > 1:
                ax.text(i + 0.42, j + 0.42, f"{len(p['physical'])}+{len(p['roots']) - len(p['physical'])}",
                        fontsize=6.5, ha="right", va="top")
    net_points = sorted({(r["N1"], r["gamma"]) for r in rows})
    for N1, gamma in net_points:
        if N1 in widths and gamma in couplings:
            ax.plot(widths.index(N1), couplings.index(gamma), "*", ms=17, mfc="none", mec="navy", mew=1.6)
    ax.set_xticks(range(len(widths)), [f"{PROBLEM['Ps'] / w:.3g}\n{w}" for w in widths])
    ax.set_yticks(range(len(couplings)), [f"{g:g}" for g in couplings])
    ax.set(xlim=(-0.5, len(widths) - 0.5), ylim=(-0.5, len(couplings) - 0.5),
           xlabel="alpha_s = Ps / N1  (N1 below)", ylabel="coupling gamma")
    names = ("physical root", "unphysical root", "converged off a root", "no convergence")
    handles = [matplotlib.patches.Patch(color=c, label=f"old solver: {k}") for k, c in zip(names, colours)]
    handles += [plt.Line2D([], [], ls="", marker="o", color="k", ms=4, label="new solver: physical root"),
                plt.Line2D([], [], ls="", marker="x", color="red", mew=2, label="new solver: failed"),
                plt.Line2D([], [], ls="", marker="*", mfc="none", mec="navy", ms=12, label="networks sampled")]
    ax.legend(handles=handles, fontsize=7.5, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=3)
    ax.set_title("roots of the transfer theory (numbers: physical + unphysical roots)", fontsize=10)

    ax = axes[1]
    labels = [f"{N1}, {'inf' if np.isinf(g) else f'{g:g}'}" for N1, g in net_points]
    protocols = list(dict.fromkeys(r["protocol"] for r in rows))
    for r in rows:
        x = net_points.index((r["N1"], r["gamma"]))
        i = r["table"]["names"].index("test error")
        theory, networks, stderr = (float(r["table"][c][i]) for c in ("theory", "networks", "stderr"))
        if r["protocol"] == protocols[0]:
            ax.plot(x, theory, "s", color="k", ms=8, mfc="none", mew=1.5,
                    label="theory, physical root" if x == 0 else None)
            p = grid.get((r["N1"], r["gamma"]))
            if p is not None and p["old_outcome"] != OLD_OK:
                old = float(p["old"]["error"])
                shown = old if 0 <= old <= OFF_SCALE - 0.05 else OFF_SCALE
                ax.plot(x, shown, "x", color="red", ms=8, mew=2)
                text = "none" if p["old_outcome"] == OLD_DIVERGED else f"{old:.3g}"
                ax.annotate(text, (x, shown), textcoords="offset points", xytext=(7, -3), fontsize=7.5, color="red")
        k = protocols.index(r["protocol"])
        ax.errorbar(x + 0.15 * (k + 1), networks, 2 * stderr, fmt="o", color=f"C{k}", capsize=3,
                    label=f"networks, {r['protocol']} chains (2 stderr)" if x == 0 else None)
    ax.plot([], [], "x", color="red", mew=2, label="old solver where it failed (top row: off the scale)")
    ax.set_xticks(range(len(net_points)), labels)
    ax.set(xlabel="N1, gamma", ylabel="target test error", ylim=(0, OFF_SCALE + 0.07), xlim=(-0.5, len(net_points) - 0.3))
    ax.axhline(OFF_SCALE - 0.04, color="grey", lw=0.5, ls="--")
    ax.legend(fontsize=7.5, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2)
    ax.set_title("theory vs Langevin networks at the marked points", fontsize=10)
    fig.suptitle(f"jaxtl.transfer on teacher_pair(key 0, {', '.join(f'{k}={v:g}' for k, v in PROBLEM.items())}), "
                 f"erf, T = {TEMPERATURE}", fontsize=10)
    fig.savefig(path, dpi=110)
    print(f"wrote {path}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: map 6 x 5, two network points, default chains")
    parser.add_argument("--no-nets", action="store_true", help="the map only")
    parser.add_argument("--results", type=pathlib.Path, help="pickle of the results: written after a run; when it "
                        "exists, read instead of running (to redraw the figure and reprint the tables)")
    args = parser.parse_args()
    widths, couplings = (QUICK_WIDTHS, QUICK_COUPLINGS) if args.quick else (WIDTHS, COUPLINGS)
    pair = jaxtl.tasks.teacher_pair(jax.random.key(0), **PROBLEM)
    print(f"jaxtl domain, {datetime.date.today()}, jax {jax.__version__} on {jax.default_backend()}; erf, "
          f"T = {TEMPERATURE}, lambda0 = lambda1 = 1, {PROBLEM}")
    if args.results and args.results.exists():
        grid, rows = pickle.loads(args.results.read_bytes())
        print(HEADER)
        print("-" * len(HEADER))
        for (N1, gamma), p in grid.items():
            p["old_outcome"] = old_outcome(p["old"])
            print(point_row(N1, gamma, p))
        summarize(grid)
        network_table(grid, rows)
    else:
        start = time.perf_counter()
        grid = run_map(pair, widths, couplings)
        summarize(grid)
        print(f"map: {time.perf_counter() - start:.0f} s", flush=True)
        rows = []
        if not args.no_nets:
            start = time.perf_counter()
            rows = run_networks(pair, grid, QUICK_NET_POINTS if args.quick else NET_POINTS,
                                PROTOCOLS if not args.quick else {"default": PROTOCOLS["default"]})
            network_table(grid, rows)
            print(f"networks: {time.perf_counter() - start:.0f} s")
        if args.results:
            args.results.write_bytes(pickle.dumps((grid, rows)))
    figure(grid, list(widths), list(couplings), rows, pathlib.Path(__file__).with_name("domain.png"))


if __name__ == "__main__":
    main()
