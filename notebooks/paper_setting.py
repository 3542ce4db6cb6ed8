# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # The transfer paper's setting on MNIST
#
# **Question.** In the setting of arXiv 2407.07168 (a source and a target one-hidden-layer
# network, each at its own temperature, coupled through the first layer; binary tasks built
# from image classes, the target with one class per label swapped; Ps = 800, Pt = 100), when
# does transfer help, how does the help depend on how related the two tasks are, and is it
# carried by the renormalized source-target kernel (the `source` part of the benefit,
# jaxtl/theory/README.md sections 4.6 and 4.8)? The paper builds its pairs from EMNIST letters;
# here the same construction on MNIST digits (`jaxtl.tasks.mnist_pair`), with the Franz-Parisi
# theory (`jaxtl.transfer`) and, at three couplings, Langevin-sampled networks as the reference.
#
# **Sizes (full).** Ps = 800, Pt = 100, P0 = 1000 test images, MNIST downsampled to 14 x 14
# (N0 = 196; each image standardized over its pixels), erf, lambda0 = lambda1 = 1, N1 = 500.
# The paper's images are 28 x 28: a network step there costs 4x as much (it scales with
# N1 N0 P), so the networks run at 14 x 14; the theory is cheap at 28 x 28 and its benefit curve
# for the related pair is drawn for comparison. Temperature T = 0.05 for both networks unless
# varied (section 4 varies both): the benefit is clearly visible there, about +0.028 at large
# gamma on the related pair, 4% of the target's error, and as large as at T = 0.01-0.02 (the
# map of section 4 is nearly flat below T = 0.05); and it is the temperature at which the other
# notebooks and tests/test_nets.py put the theory against networks.
#
# Set `JAXTL_NOTEBOOK_FULL=1` for the full sizes; the default sizes only check that the
# notebook runs.

# %%
import os
import pathlib
import time

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
from scipy import stats

import jaxtl
from jaxtl import nets

FULL = os.environ.get("JAXTL_NOTEBOOK_FULL") == "1"
FIGURES = pathlib.Path(os.environ.get("JAXTL_FIGURES", "figures" if pathlib.Path.cwd().name == "notebooks" else "notebooks/figures"))
FIGURES.mkdir(parents=True, exist_ok=True)

if FULL:
    SIZES, SIDE, WIDTH, T = dict(Ps=800, Pt=100, P0=1000), 14, 500, 0.05
    source_sampler = nets.Langevin(n_chains=8, burn_in=3000, n_samples=2, thin=1500)
    target_sampler = nets.Langevin(n_chains=2, burn_in=3000, n_samples=40, thin=25)
    gammas, widths = np.logspace(-2, 3, 26), np.logspace(2, 5, 19)
    temperatures = np.logspace(-2, -0.5, 9)  # T_s and T_t, 0.01 to 0.32
    CHUNK = 16
else:
    SIZES, SIDE, WIDTH, T = dict(Ps=80, Pt=20, P0=50), 4, 30, 0.05
    # a fixed step (no curvature estimate) and two couplings: fewer programs to compile
    source_sampler = nets.Langevin(n_chains=2, burn_in=100, n_samples=2, thin=50, step_size=1e-3)
    target_sampler = nets.Langevin(n_chains=2, burn_in=100, n_samples=5, thin=10, step_size=1e-3)
    gammas, widths = np.logspace(-2, 3, 6), np.logspace(2, 5, 4)
    temperatures = np.logspace(-2, -0.5, 3)
    CHUNK = 8
GAMMA = 10.0  # the coupling of the width sweep, the temperature map and the relatedness table
NET_GAMMAS = [0.0, 3.0, np.inf] if FULL else [0.0, np.inf]
SOURCE = ((0, 1, 2, 3), (5, 6, 7, 8))  # (digits labelled +1, digits labelled -1)
start = time.time()
print(SIZES, f"side {SIDE} (N0 = {SIDE ** 2}), N1 = {WIDTH}, T = {T}, source: {SOURCE[0]} vs {SOURCE[1]}")

# %% [markdown]
# The theory at many points of one pair: the parameters broadcast together, solved in chunks of
# a fixed number of points so that one compiled program serves every call on data of one
# shape. A point that did not converge holds NaN.

# %%
def _point(Xs, ys, Xt, yt, X0, y0, width, coupling, source_temperature, temperature):
    sol = jaxtl.transfer((Xs, ys), (Xt, yt), width=width, temperature=temperature, coupling=coupling,
                         source_temperature=source_temperature, throw=False)
    e, b = sol.test_error(X0, y0), sol.benefit(X0, y0)
    return dict(error=e.total, benefit=b.total, prior=b.prior, source=b.source, relatedness=sol.relatedness,
                Q_st=sol.Q_st, converged=sol.converged)


_chunk = jax.jit(jax.vmap(_point, (None,) * 6 + (0,) * 4))


def solve(pair, *, width=WIDTH, coupling=GAMMA, source_temperature=T, temperature=T):
    values = np.broadcast_arrays(*(np.asarray(v, float) for v in (width, coupling, source_temperature, temperature)))
    shape, flat = values[0].shape, [v.ravel() for v in values]
    n = flat[0].size
    flat = [np.concatenate([v, np.full(-n % CHUNK, v[-1])]) for v in flat]
    data = (pair.Xs, pair.ys, pair.Xt, pair.yt, pair.X0, pair.y0)
    parts = [_chunk(*data, *(jnp.asarray(v[i:i + CHUNK]) for v in flat)) for i in range(0, flat[0].size, CHUNK)]
    out = {k: np.concatenate([np.asarray(p[k]) for p in parts])[:n].reshape(shape) for k in parts[0]}
    bad = ~out["converged"]
    if bad.any():
        print(f"  {int(bad.sum())}/{n} points did not converge (NaN)")
    return {k: (v if k == "converged" else np.where(bad, np.nan, v)) for k, v in out.items()}


def agreement(target, source=SOURCE):
    """(agreeing - disagreeing) / all target digits: +1 for a target digit the source labels
    alike, -1 for one it labels oppositely, 0 for a digit the source never saw."""
    label = {d: s for group, s in zip(source, (1, -1)) for d in group}
    signs = [label.get(d, 0) * s for group, s in zip(target, (1, -1)) for d in group]
    return sum(signs) / len(signs)


def mnist(target, side=SIDE):
    return jaxtl.tasks.mnist_pair(jax.random.key(0), source_classes=SOURCE, target_classes=target, side=side, **SIZES)

# %% [markdown]
# ## 1. Task pairs of decreasing relatedness
#
# All three share the source {0,1,2,3} vs {5,6,7,8}. The *related* target swaps one class per
# label for a digit the source never saw (the paper's construction): {0,1,2,4} vs {5,6,7,9}.
# The *less related* one does that and also moves one class per label across: {0,1,4,7} vs
# {2,5,6,9}, so that of the six digits both tasks see, four keep the source's label and two
# have it flipped. The *unrelated* one is a parity split of the source's own digits, {0,2,6,8}
# vs {1,3,5,7}: the same images' kind, labels orthogonal to the source's (half of the digits
# agree, half disagree). `agreement` counts this: +1 per target digit labelled as the source
# labels it, -1 per digit labelled oppositely, 0 for a new digit, divided by the target's
# digits; it is a property of the class lists only.

# %%
PAIRS = {
    "related": ((0, 1, 2, 4), (5, 6, 7, 9)),
    "less related": ((0, 1, 4, 7), (2, 5, 6, 9)),
    "unrelated (parity)": ((0, 2, 6, 8), (1, 3, 5, 7)),
}
pairs = {name: mnist(classes) for name, classes in PAIRS.items()}
for name, classes in PAIRS.items():
    print(f"{name:>20}: source {SOURCE[0]} vs {SOURCE[1]}, target {classes[0]} vs {classes[1]}, agreement {agreement(classes):+.2f}")

# %% [markdown]
# ## 2. Test error and benefit vs the coupling gamma
#
# The benefit is error(gamma = 0) - error(gamma); its prior part comes from the coupling's
# change of the target's first-layer prior alone (it is there when the source carries no
# information: not transfer), its source part is carried by the source-target kernel.

# %%
all_gammas = np.concatenate([gammas, [np.inf, 0.0]])
INF, ZERO = gammas.size, gammas.size + 1
by_gamma = {}
for name, pair in pairs.items():
    print(name)
    by_gamma[name] = solve(pair, coupling=all_gammas)
if FULL:  # the theory at the paper's 28 x 28 images, related pair
    print("related, 28 x 28")
    by_gamma_28 = solve(mnist(PAIRS["related"], side=28), coupling=all_gammas)

fig, axes = plt.subplots(1, 2, figsize=(12, 4.4), constrained_layout=True)
for k, (name, s) in enumerate(by_gamma.items()):
    axes[0].plot(gammas, s["error"][:INF], color=f"C{k}", label=name)
    axes[0].axhline(s["error"][INF], color=f"C{k}", ls="--", lw=0.8)
    axes[1].plot(gammas, s["benefit"][:INF], color=f"C{k}", label=f"{name}: total")
    axes[1].plot(gammas, s["prior"][:INF], color=f"C{k}", ls="--", lw=1)
    axes[1].plot(gammas, s["source"][:INF], color=f"C{k}", ls=":")
if FULL:
    axes[1].plot(gammas, by_gamma_28["benefit"][:INF], color="C0", lw=0.8, alpha=0.5, label="related, 28 x 28: total")
axes[0].set(xscale="log", xlabel="coupling gamma", ylabel="target test error", title=f"N1 = {WIDTH}, T = {T} (dashed: gamma = inf)")
axes[0].legend(fontsize=7)
axes[1].axhline(0, color="k", lw=0.5)
axes[1].set(xscale="log", xlabel="coupling gamma", ylabel="error(0) - error(gamma)",
            title="benefit: total (solid), prior part (dashed), source part (dotted)")
axes[1].legend(fontsize=7)
fig.savefig(FIGURES / "paper_setting_benefit_vs_gamma.png", dpi=110)
plt.show()

# %% [markdown]
# ## 3. Benefit vs width N1 (related pair, gamma = 10)
#
# At fixed P, the source part vanishes as N1 grows (jaxtl/theory/README.md section 4.7: at
# N1 = inf the target is NNGP regression with the coupled prior), the prior part stays.

# %%
by_width = solve(pairs["related"], width=widths, coupling=GAMMA)
fig, ax = plt.subplots(figsize=(6, 4), constrained_layout=True)
ax.plot(widths, by_width["benefit"], color="k", label="total")
ax.plot(widths, by_width["prior"], color="C1", ls="--", label="prior part")
ax.plot(widths, by_width["source"], color="C0", ls=":", label="source part")
ax.axhline(0, color="k", lw=0.5)
ax.set(xscale="log", xlabel="width N1", ylabel="benefit", title=f"related pair, gamma = {GAMMA:g}, T = {T}")
ax.legend(fontsize=8)
fig.savefig(FIGURES / "paper_setting_benefit_vs_width.png", dpi=110)
plt.show()

# %% [markdown]
# ## 4. Source and target temperatures (related pair, N1 = 500, gamma = 10)
#
# T_s enters only the source's side (Q_s and the source's kernel inverse A_s); T_t sets the
# target's noise and its gamma = 0 reference. Rows: T_t; columns: T_s.

# %%
Ts_grid, Tt_grid = np.meshgrid(temperatures, temperatures)  # rows: T_t, columns: T_s
by_T = solve(pairs["related"], source_temperature=Ts_grid, temperature=Tt_grid)
fig, axes = plt.subplots(1, 3, figsize=(15, 4.2), constrained_layout=True)
for ax, key, what in zip(axes, ("benefit", "source", "relatedness"), ("benefit", "source part of the benefit", "relatedness R")):
    values = by_T[key]
    limit = np.nanmax(np.abs(values))
    mesh = ax.pcolormesh(temperatures, temperatures, values, shading="nearest", cmap="RdBu" if key != "relatedness" else "viridis",
                         **(dict(vmin=-limit, vmax=limit) if key != "relatedness" else {}))
    fig.colorbar(mesh, ax=ax)
    ax.plot(temperatures, temperatures, "k:", lw=0.8)
    ax.set(xscale="log", yscale="log", xlabel="source temperature T_s", ylabel="target temperature T_t", title=what)
fig.suptitle(f"related pair, N1 = {WIDTH}, gamma = {GAMMA:g} (dotted: T_s = T_t)")
fig.savefig(FIGURES / "paper_setting_temperatures.png", dpi=110)
plt.show()

# %% [markdown]
# ## 5. Relatedness against benefit across pairs
#
# More targets with the same source, from the same task to digits the source never saw; at
# gamma = 10 and N1 = 500 the relatedness R of the theory (the fraction of the target labels'
# power that the source's predictor explains through the renormalized source-target kernel)
# against the benefit and its source part. Spearman rank correlations over the pairs.

# %%
MORE = {
    "same task": SOURCE,
    **PAIRS,
    "new digits on swapped sides": ((0, 1, 2, 9), (5, 6, 7, 4)),
    "one digit each, 0 vs 5": ((0,), (5,)),
    "one digit each, 3 vs 8": ((3,), (8,)),
    "source +1 side vs new digits": ((0, 1, 2, 3), (4, 9)),
    "within the +1 side: 0,1 vs 2,3": ((0, 1), (2, 3)),
    "crossed: 0,5 vs 1,6": ((0, 5), (1, 6)),
    "unseen digits: 4 vs 9": ((4,), (9,)),
}
if not FULL:
    MORE = dict(list(MORE.items())[:4])
table = {}
for name, classes in MORE.items():
    s = by_gamma[name] if name in by_gamma else solve(mnist(classes), coupling=[GAMMA, np.inf, 0.0])
    at = (lambda v: v[np.argmin(np.abs(all_gammas - GAMMA))]) if name in by_gamma else (lambda v: v[0])
    table[name] = dict(agreement=agreement(classes), error0=s["error"][-1], benefit=at(s["benefit"]),
                       prior=at(s["prior"]), source=at(s["source"]), R=at(s["relatedness"]))
names = list(table)
column = {k: np.array([table[n][k] for n in names]) for k in table[names[0]]}
print(f"{'target':>32} {'agreement':>9} {'error(0)':>9} {'R':>8} {'benefit':>9} {'prior':>9} {'source':>9}")
for n in names:
    r = table[n]
    print(f"{n:>32} {r['agreement']:>+9.2f} {r['error0']:>9.4f} {r['R']:>8.4f} {r['benefit']:>+9.4f} {r['prior']:>+9.4f} {r['source']:>+9.4f}")
rank = {}
for x, y in (("R", "source"), ("R", "benefit"), ("agreement", "source"), ("agreement", "benefit")):
    rank[x, y] = stats.spearmanr(column[x], column[y]).statistic
    print(f"Spearman rank correlation, {x} vs {y} part: {rank[x, y]:+.3f} over {len(names)} pairs" if y == "source"
          else f"Spearman rank correlation, {x} vs total benefit: {rank[x, y]:+.3f} over {len(names)} pairs")

fig, axes = plt.subplots(1, 2, figsize=(12, 4.4), constrained_layout=True)
for ax, y, what in zip(axes, ("source", "benefit"), ("source part of the benefit", "total benefit")):
    ax.scatter(column["R"], column[y], c=column["agreement"], cmap="coolwarm_r", vmin=-1, vmax=1, edgecolor="k")
    for n, xv, yv in zip(names, column["R"], column[y]):
        ax.annotate(n, (xv, yv), fontsize=6, xytext=(3, 3), textcoords="offset points")
    ax.axhline(0, color="k", lw=0.5)
    ax.set(xlabel="relatedness R", ylabel=what, title=f"{what} vs R, gamma = {GAMMA:g} (Spearman {rank['R', y]:+.2f}; colour: agreement)")
fig.savefig(FIGURES / "paper_setting_relatedness.png", dpi=110)
plt.show()

# %% [markdown]
# ## 6. Theory against Langevin networks (related pair, N1 = 500)
#
# Source chains once (`nets.sample_source`), then target chains anchored to each source
# sample at gamma = 0, 3 and inf (at inf the target keeps the source sample's first layer
# and learns only its readout). Float32 networks; standard errors over independent chains.

# %%
pair = pairs["related"]
pair32 = jaxtl.tasks.TaskPair(pair.Xs.astype(jnp.float32), pair.ys, pair.Xt.astype(jnp.float32), pair.yt,
                              pair.X0.astype(jnp.float32), pair.y0)
key = jax.random.key(7)
tick = time.time()
source = nets.sample_source(key, pair32, width=WIDTH, temperature=T, sampler=source_sampler)
print(f"source chains: {time.time() - tick:.0f} s, step size {float(source.step_size):.3g}, "
      f"training loss per sample {np.asarray(source.loss).mean():.2f} (first chain's samples: {np.asarray(source.loss)[0].round(2)})")
comparisons = {}
for gamma in NET_GAMMAS:
    tick = time.time()
    networks = nets.transfer(key, pair32, width=WIDTH, temperature=T, coupling=gamma, source=source, target_sampler=target_sampler)
    theory = jaxtl.transfer((pair.Xs, pair.ys), (pair.Xt, pair.yt), width=WIDTH, temperature=T, coupling=gamma)
    comparisons[gamma] = nets.compare(theory, networks, pair.X0, pair.y0)
    print(f"gamma = {gamma:g} ({time.time() - tick:.0f} s):", comparisons[gamma], sep="\n")

fig, ax = plt.subplots(figsize=(6.5, 4.2), constrained_layout=True)
s = by_gamma["related"]
ZERO_AT, INF_AT = gammas[0] / 3, gammas[-1] * 3  # where gamma = 0 and inf are drawn
ax.plot(gammas, s["error"][:INF], color="C0", label="theory")
ax.plot([ZERO_AT, gammas[0]], [s["error"][ZERO], s["error"][0]], color="C0", ls=":")
ax.plot([gammas[-1], INF_AT], [s["error"][INF - 1], s["error"][INF]], color="C0", ls=":")
ax.plot([ZERO_AT, INF_AT], [s["error"][ZERO], s["error"][INF]], "s", color="C0", mfc="none")
for gamma, c in comparisons.items():
    row = c["test error"]
    x = ZERO_AT if gamma == 0 else INF_AT if np.isinf(gamma) else gamma
    ax.errorbar([x], [row["networks"]], [row["stderr"]], fmt="o", color="C3", capsize=3,
                label="networks (+- 1 stderr)" if gamma == NET_GAMMAS[0] else None)
ticks = [ZERO_AT, *[g for g in (1e-2, 1, 1e2) if gammas[0] <= g <= gammas[-1]], INF_AT]
ax.set_xscale("log")
ax.set_xticks(ticks, ["0", *[f"{g:g}" for g in ticks[1:-1]], "inf"])
ax.minorticks_off()
ax.set(xlabel="coupling gamma", ylabel="target test error", title=f"related pair, N1 = {WIDTH}, T = {T}")
ax.legend(fontsize=8)
fig.savefig(FIGURES / "paper_setting_networks.png", dpi=110)
plt.show()

# %% [markdown]
# ## What the figures show, in numbers

# %%
for name, s in by_gamma.items():
    j = int(np.nanargmax(s["benefit"][:INF]))
    print(f"{name}: error at gamma = 0 {s['error'][ZERO]:.4f}; best gamma {gammas[j]:.3g}: benefit {s['benefit'][j]:+.4f} "
          f"(prior {s['prior'][j]:+.4f}, source {s['source'][j]:+.4f}); gamma = inf: {s['benefit'][INF]:+.4f}; "
          f"most negative over gamma: {np.nanmin(s['benefit'][:INF]):+.4f} at gamma {gammas[int(np.nanargmin(s['benefit'][:INF]))]:.3g}")
if FULL:
    j = int(np.nanargmax(by_gamma_28["benefit"][:INF]))
    print(f"related, 28 x 28: error at gamma = 0 {by_gamma_28['error'][ZERO]:.4f}; best gamma {gammas[j]:.3g}: "
          f"benefit {by_gamma_28['benefit'][j]:+.4f} (source {by_gamma_28['source'][j]:+.4f}); gamma = inf: {by_gamma_28['benefit'][INF]:+.4f}")
print(f"width, gamma = {GAMMA:g}: source part {by_width['source'][0]:+.4f} at N1 = {widths[0]:.0f}, "
      f"{by_width['source'][-1]:+.2e} at N1 = {widths[-1]:.0f}; prior part {by_width['prior'][0]:+.4f} / {by_width['prior'][-1]:+.4f}")
i, j = np.unravel_index(np.nanargmax(by_T["benefit"]), by_T["benefit"].shape)
print(f"temperatures: largest benefit {by_T['benefit'][i, j]:+.4f} at T_s = {temperatures[j]:.3g}, T_t = {temperatures[i]:.3g}; "
      f"smallest {np.nanmin(by_T['benefit']):+.4f}")
for i, Tt in enumerate(temperatures):
    print(f"  T_t = {Tt:.3g}: benefit over T_s = {np.array2string(by_T['benefit'][i], precision=4, sign='+')}")
print(f"  source part at T_t = {temperatures[len(temperatures) // 2]:.3g} over T_s: "
      f"{np.array2string(by_T['source'][len(temperatures) // 2], precision=4, sign='+')}")
print(f"relatedness: Spearman R vs source part {rank['R', 'source']:+.3f}, R vs total {rank['R', 'benefit']:+.3f}, "
      f"agreement vs source part {rank['agreement', 'source']:+.3f} ({len(names)} pairs)")
for gamma, c in comparisons.items():
    row = c["test error"]
    print(f"networks, gamma = {gamma:g}: test error {row['networks']:.4f} +- {row['stderr']:.4f}, theory {row['theory']:.4f}, "
          f"{(row['networks'] - row['theory']) / row['stderr']:+.2f} stderr, {100 * row['relative_deviation']:+.1f}%")
e0 = comparisons[0.0]["test error"]
for gamma in NET_GAMMAS[1:]:
    e = comparisons[gamma]["test error"]
    print(f"benefit at gamma = {gamma:g}: networks {e0['networks'] - e['networks']:+.4f} +- {np.hypot(e0['stderr'], e['stderr']):.4f}, "
          f"theory {e0['theory'] - e['theory']:+.4f}")
print(f"wall time {time.time() - start:.0f} s")
