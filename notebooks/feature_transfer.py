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
# # Transferred features on the correlated hidden manifold model
#
# **Question.** A two-layer network is trained on a data-rich source task; its first layer W
# is frozen and transferred, and only a readout is learned on Pt target points (Gerace et al.
# 2022, arXiv:2106.05418). How does this compare with random features of the same norm (RF),
# with a network trained from scratch on the target (2L) and with fine-tuning the source
# network (FT)? At which Pt does scratch training overtake the transferred features, and how
# does that move as the tasks become less similar? And does the Bayesian picture of transfer
# (`jaxtl.transfer`, the Franz-Parisi theory of the other notebooks) say the same about when
# transfer helps?
#
# The theory `feature_transfer` (jaxtl/theory/README.md, section 10) trains the source network
# once per pair (full-batch Adam, square loss, weight decay), then gives at each point:
#
# - TF and RF by theory: the exact learning curve of a ridge readout on the features
#   phi(W x / sqrt(N0)) (Gaussian covariate model, covariances in closed form on the target's
#   manifold), for the transferred W and for a Gaussian W of the same Frobenius norm;
# - the same two readouts actually fitted on the pair's Pt target points (simulation, the
#   check of the theory), 2L and FT (networks trained on those points with the source's
#   recipe); all tested on P0 fresh target points.
#
# Errors are classification errors (fraction of test points misclassified); the labels are
# sign(theta . c / sqrt(D)), no noise. The task pairs are `hidden_manifold_pair` with
# `readout="sign"`; the target differs from the source by the teacher perturbation, the
# feature perturbation or the replaced fraction of features (all 0: source = target task).
#
# **Sizes (full).** Ps = 2000 source points, P0 = 2000 target test points, N0 = 200, D = 100;
# K = 100 hidden units (erf), trained by 500 full-batch Adam steps (rate 1e-2, weight decay
# 1e-3, square loss), readout ridge 0.1; Pt = 10 to 1280 (eight values, a factor 2 apart);
# four seeds for the learning curves, one key for the phase diagrams; the Bayesian theory at
# N1 = 100, T = 0.05, gamma = 1 and inf, at Pt = 40, 160 and 640.
#
# Set `JAXTL_NOTEBOOK_FULL=1` for the full sizes; the default sizes only check that the
# notebook runs.

# %%
import functools
import os
import pathlib
import time

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

import jaxtl

FULL = os.environ.get("JAXTL_NOTEBOOK_FULL") == "1"
FIGURES = pathlib.Path(os.environ.get("JAXTL_FIGURES", "figures" if pathlib.Path.cwd().name == "notebooks" else "notebooks/figures"))
FIGURES.mkdir(parents=True, exist_ok=True)

if FULL:
    SIZES = dict(Ps=2000, P0=2000, N0=200, D=100)
    WIDTH, STEPS, SEEDS = 100, 500, 4
    PTS = [10, 20, 40, 80, 160, 320, 640, 1280]  # over two decades: benefit_map puts Pt on a log axis
    KNOBS = {"teacher_perturbation": np.array([0.0, 0.25, 0.5, 1.0, 1.5, 2.0]),
             "replaced_fraction": np.array([0.0, 0.2, 0.4, 0.6, 0.8, 1.0])}
    BAYES_PTS = [40, 160, 640]
else:
    SIZES = dict(Ps=200, P0=200, N0=30, D=15)
    WIDTH, STEPS, SEEDS = 10, 50, 2
    PTS = [10, 40]
    KNOBS = {"teacher_perturbation": np.array([0.0, 1.0, 2.0])}  # one knob: fewer programs to compile
    BAYES_PTS = [40]
# every knob passed in every call (0 where not varied): one compiled program per Pt serves all
ZERO = dict(teacher_perturbation=0.0, feature_perturbation=0.0, replaced_fraction=0.0)
RECIPE = dict(width=WIDTH, training_steps=STEPS)  # ridge 0.1, weight decay 1e-3, Adam rate 1e-2, square loss, erf
BAYES = dict(width=float(WIDTH), temperature=0.05, coupling=np.array([1.0, np.inf]))
task = functools.partial(jaxtl.tasks.hidden_manifold_pair, readout="sign")
start = time.time()
print(SIZES, f"K = {WIDTH}, training steps {STEPS}, seeds {SEEDS}, Pt = {PTS}")

# %% [markdown]
# ## 1. Learning curves
#
# `jaxtl.learning_curves` draws `SEEDS` independent pairs (manifold, teachers, data, network
# initializations) and trains each source network once, for every Pt. Three pairs: source =
# target (every knob 0) and two dissimilar ones: teacher perturbation 1 (the same manifold,
# teacher overlap 1/sqrt(2) = 0.71) and replaced fraction 0.5 (half of the D features replaced
# by new ones, the same teacher on the latent coordinates). Lines: theory (mean over seeds, band
# one standard error); points: simulations, with one-standard-error bars.

# %%
PAIRS = {"source = target": {}, "teacher perturbation 1": dict(teacher_perturbation=1.0),
         "replaced fraction 0.5": dict(replaced_fraction=0.5)}
curves = {}
for name, knobs in PAIRS.items():
    t = time.time()
    curves[name] = jaxtl.learning_curves(task, theory="feature_transfer", Pt=PTS, seeds=SEEDS, progress=False,
                                         **SIZES, **RECIPE, **(ZERO | knobs))  # fmt: skip
    print(f"{name}: converged {int(curves[name].converged.sum())}/{curves[name].converged.size} ({time.time() - t:.0f} s)")

# %%
SHOWN = {  # variable: (label, colour, line (theory) or points (simulation))
    "transferred_error": ("TF, theory", "C0", "line"),
    "transferred_readout_error": ("TF, fitted readout", "C0", "points"),
    "random_error": ("RF, theory", "C1", "line"),
    "random_readout_error": ("RF, fitted readout", "C1", "points"),
    "scratch_error": ("2L, from scratch", "C2", "points"),
    "fine_tuned_error": ("FT, fine-tuned", "C3", "points"),
}


def mean_stderr(da):
    return da.mean("seed").values, da.std("seed").values / np.sqrt(da.sizes["seed"])


fig, axes = plt.subplots(1, len(curves), figsize=(6 * len(curves), 4.5), sharey=True, constrained_layout=True)
for ax, (name, ds) in zip(np.atleast_1d(axes), curves.items()):
    for i, (var, (label, color, kind)) in enumerate(SHOWN.items()):
        m, s = mean_stderr(ds[var])
        if kind == "line":
            ax.plot(PTS, m, "-", color=color, label=label)
            ax.fill_between(PTS, m - s, m + s, color=color, alpha=0.2, lw=0)
        else:
            marker = {"transferred_readout_error": "o", "random_readout_error": "o", "scratch_error": "s",
                      "fine_tuned_error": "^"}[var]  # fmt: skip
            shift = 1 + 0.03 * (i - 3)  # small horizontal offsets so the error bars do not overlap
            ax.errorbar(np.array(PTS) * shift, m, yerr=s, fmt=marker, color=color, ms=4, capsize=2, label=label,
                        mfc="none" if var.endswith("readout_error") else color)  # fmt: skip
    ax.set(xscale="log", xlabel="target training set size Pt", title=name)
axes[0].set_ylabel(f"classification error (mean over {SEEDS} seeds)")
axes[0].legend(fontsize="small")
fig.suptitle(f"Transferred features (TF) vs random features (RF), scratch (2L) and fine-tuning (FT): "
             f"Ps={SIZES['Ps']}, N0={SIZES['N0']}, D={SIZES['D']}, K={WIDTH}")  # fmt: skip
fig.savefig(FIGURES / "feature_transfer_learning_curves.png", dpi=100)
plt.show()

# %% [markdown]
# The numbers behind the figure: means over seeds (standard errors in parentheses), and the
# gap between theory and fitted readout in units of the standard error of that gap over seeds.

# %%
for name, ds in curves.items():
    print(f"{name}:")
    print(f"{'Pt':>6} {'TF theory':>10} {'TF fitted':>15} {'RF theory':>10} {'RF fitted':>15} {'2L':>15} {'FT':>15}"
          f" {'TF gap/se':>10} {'RF gap/se':>10}")  # fmt: skip
    for j, P in enumerate(PTS):
        row = ds.isel(Pt=j)
        cells = []
        for var in ("transferred_error", "transferred_readout_error", "random_error", "random_readout_error",
                    "scratch_error", "fine_tuned_error"):  # fmt: skip
            m, s = mean_stderr(row[var])
            cells.append(f"{m:10.4f}" if var in ("transferred_error", "random_error") else f"{m:7.4f} ({s:.4f})")
        gaps = []
        for theory, fitted in (("transferred_error", "transferred_readout_error"), ("random_error", "random_readout_error")):
            m, s = mean_stderr(row[theory] - row[fitted])
            gaps.append(f"{m / s:+10.2f}" if s > 0 else f"{'-':>10}")
        print(f"{P:6d} " + " ".join(cells) + " " + " ".join(gaps))
    tf_gap = (ds.transferred_error - ds.transferred_readout_error).mean("seed")
    rf_gap = (ds.random_error - ds.random_readout_error).mean("seed")
    print(f"  theory - fitted readout, mean over seeds: TF {float(tf_gap.min()):+.4f} to {float(tf_gap.max()):+.4f}, "
          f"RF {float(rf_gap.min()):+.4f} to {float(rf_gap.max()):+.4f}")  # fmt: skip

# %% [markdown]
# **What the curves show (full run; numbers in notebooks/README.md).** On the source = target
# pair the transferred features beat random ones at every Pt (RF - TF 0.050-0.074 by theory)
# and beat scratch training by 0.03-0.05 up to Pt = 80; from Pt = 320 on, 2L and TF are level
# within one standard error. On the two dissimilar pairs the transferred features lose most of
# their edge over random ones (RF - TF 0.014-0.032 at teacher perturbation 1, at most 0.01 at
# replaced fraction 0.5), are level with 2L up to Pt = 80 and behind it by 0.024-0.055 from
# Pt = 160 on.
#
# FT has the lowest error at Pt <= 80 on the two dissimilar pairs (0.02-0.06 below TF and 2L)
# and is level with the TF readout on source = target (within 0.015), but it ends above 2L at Pt
# = 1280 on all three (on source = target 0.183 against 0.167). The check after the phase
# diagrams shows why this FT must be read with care: on the source = target pair of key 0 the
# source network alone errs less than FT at every Pt, so the fine-tuning recipe (500 full-batch
# Adam steps at rate 1e-2 from the trained network, no early stopping) makes the network worse
# than where it started.
#
# Theory against simulation: the TF theory lies above the TF readout fitted on the same points
# at every Pt of the source = target pair, by 0.002 to 0.021 (by 8.4 standard errors at Pt = 10
# and 5.3 at Pt = 320); on the dissimilar pairs the two are within 2.4 standard errors except at
# Pt = 640 and 1280 with half the features replaced (3.1 standard errors; the RF theory there is
# 5.1 and 3.1 standard errors from its readout). The RF theory is within 0.015 of its fitted
# readout. The theory treats the features as Gaussian with the same covariances; at N0 = 200, K
# = 100 the real hidden-manifold features are not quite that, the finite-size bias that
# README.md and jaxtl/theory/README.md (section 10.3) report, here largest for transferred
# features on the task they were trained for.

# %% [markdown]
# ## 2. Where scratch training overtakes the transferred features
#
# The crossover is the Pt past which 2L - TF (`advantage_over_scratch`, > 0 while the
# transferred features win) stays <= 0: its last change of sign from > 0 to <= 0, linearly
# interpolated in log Pt between grid points. From the learning curves (mean over seeds, and
# each seed alone) here, and for every knob value of the phase diagrams below (one seed).
# Near the crossover the two errors differ by less than the scatter over seeds, so the
# printed standard errors say how well the crossover is located.

# %%
def crossover(Pt, advantage):
    """Where `advantage` changes sign for the last time, from > 0 to <= 0, interpolated in
    log Pt, as text: also when it is <= 0 (or > 0) at every Pt."""
    a, x = np.asarray(advantage, float), np.log(np.asarray(Pt, float))
    if np.all(a <= 0):
        return f"none: 2L ahead (or level) at every Pt from {Pt[0]}"
    if a[-1] > 0:
        return f"none up to Pt = {Pt[-1]}: TF ahead there"
    i = int(np.nonzero(a > 0)[0][-1])
    return f"Pt = {np.exp(x[i] + a[i] * (x[i + 1] - x[i]) / (a[i] - a[i + 1])):.0f}"


for name, ds in curves.items():
    print(f"{name}: crossover {crossover(PTS, ds.advantage_over_scratch.mean('seed'))}")
    for label, da in (("2L - TF", ds.advantage_over_scratch), ("2L - FT", ds.scratch_error - ds.fine_tuned_error)):
        m, s = mean_stderr(da)
        print(f"  {label} over Pt: " + " ".join(f"{a:+.4f}({e:.4f})" for a, e in zip(m, s)))
    print(f"  crossover of each seed: " + "; ".join(crossover(PTS, ds.advantage_over_scratch.isel(seed=k)) for k in range(SEEDS)))
NOISE = {label: float(np.median(np.concatenate([da(ds).std("seed").values for ds in curves.values()])))
         for label, da in (("2L - TF", lambda ds: ds.advantage_over_scratch),
                           ("2L - FT", lambda ds: ds.scratch_error - ds.fine_tuned_error))}  # fmt: skip
print("scatter of one seed (standard deviation over seeds, median over Pt and pairs): "
      + ", ".join(f"{k} {v:.4f}" for k, v in NOISE.items()))

# %% [markdown]
# **Crossover (full run).** On the source = target pair the mean over seeds crosses at Pt ~ 300,
# but only one seed of four crosses on this range: scratch training catches up with the
# transferred features there and stays level with them (2L - TF within one standard error of 0
# from Pt = 320 to 1280); it does not pull clearly ahead. Teacher perturbation 1 and replaced
# fraction 0.5 put the crossover at Pt ~ 90 (per seed between about 30 and 150; one seed at
# teacher perturbation 1 has 2L ahead or level at every Pt), and below it the two are level
# within the scatter rather than TF ahead: dissimilarity removes the transferred features' lead
# at small Pt, and 2L is ahead by 0.024-0.055 from Pt = 160 on.

# %% [markdown]
# ## 3. Phase diagrams over (Pt, knob)
#
# `jaxtl.sweep` with Pt as a list (one compiled program per Pt) and a knob as an array
# (vmapped); one key, so one draw of the manifold, the source network and the data, shared by
# every knob value (the knob changes only how the target is derived from the source). The
# source network is trained once per Pt. Blue: the transferred features win; red: they lose;
# black: the zero contour. `jaxtl.plot.benefit_map` draws the diverging map and the zero
# contour for variables named `benefit*` only, so the two advantages are passed to it under
# such names (their labels are kept).

# %%
maps = {}
for knob, values in KNOBS.items():
    t = time.time()
    maps[knob] = jaxtl.sweep(task, theory="feature_transfer", Pt=PTS, progress=False,
                             **SIZES, **RECIPE, **(ZERO | {knob: values}))  # fmt: skip
    print(f"{knob}: converged {int(maps[knob].converged.sum())}/{maps[knob].converged.size} ({time.time() - t:.0f} s)")

ADVANTAGES = {"advantage_over_scratch": "2L - TF", "advantage_over_random": "RF - TF"}
fig, axes = plt.subplots(len(ADVANTAGES), len(maps), figsize=(5.5 * len(maps), 4.2 * len(ADVANTAGES)),
                         constrained_layout=True, squeeze=False)  # fmt: skip
for col, (knob, ds) in enumerate(maps.items()):
    for row, var in enumerate(ADVANTAGES):
        as_benefit = ds[[var, "converged", "status"]].rename({var: f"benefit_{var}"})
        ax = jaxtl.plot.benefit_map(as_benefit, var=f"benefit_{var}", x="Pt", y=knob, ax=axes[row, col])
        if ax.get_legend() is not None:
            for text in ax.get_legend().get_texts():
                text.set_text(text.get_text().replace(f"benefit_{var}", ADVANTAGES[var]))
        ax.set_title(f"{ADVANTAGES[var]} (> 0: transferred features win)", fontsize="medium")
fig.suptitle(f"Phase diagrams of transfer, one seed: Ps={SIZES['Ps']}, N0={SIZES['N0']}, D={SIZES['D']}, K={WIDTH}")
fig.savefig(FIGURES / "feature_transfer_phase_diagrams.png", dpi=100)
plt.show()

# %%
for knob, ds in maps.items():
    print(f"{knob}:")
    for v in ds[knob].values:
        at = ds.sel({knob: v})
        scratch, random = at.advantage_over_scratch.values, at.advantage_over_random.values
        print(f"  {knob} = {v:.2f}: 2L - TF crossover {crossover(PTS, scratch)}; RF - TF from {random.min():+.4f} to "
              f"{random.max():+.4f} (< 0 at {int((random < 0).sum())}/{random.size} Pt)")  # fmt: skip
    for var, label in ADVANTAGES.items():
        print(f"  fraction of the map where {label} > 0: {float((ds[var] > 0).mean()):.2f}")

# %% [markdown]
# **Phase diagrams (full run, one seed).** RF - TF is positive on the whole teacher-
# perturbation map (from 0.04-0.07 at 0 to 0.006-0.011 at 2, a teacher overlap of 0.45): on the
# same manifold the transferred features stay better than random ones. Over the replaced
# fraction it changes sign between 0.4 and 0.6 (the contour at about 0.55-0.6), almost
# independently of Pt: features learned on a manifold of which more than half is replaced are
# worse than random features of the same norm (by 0.009-0.014 at 0.8; at 1 the sign varies with
# Pt, -0.019 to +0.006). The border where 2L overtakes TF for good moves to smaller Pt as the
# tasks part: beyond Pt = 1280 at teacher perturbation <= 0.25 (where the four-seed curves say
# level from about 300), Pt ~ 210 at 0.5, 160 at 1, 110 at 1.5 and 2; Pt ~ 56 at replaced
# fraction 0.2, and 2L is ahead or level at every Pt at replaced fraction 0.4 to 0.8 (at 1, TF
# is ahead at Pt = 10 only). At small Pt and teacher perturbation >= 1, 2L - TF changes sign
# from cell to cell: one seed does not resolve the border there (the four-seed curve at teacher
# perturbation 1 has |2L - TF| <= 0.012 up to Pt = 80).

# %% [markdown]
# **A check on FT.** Fine-tuning starts from the source network, which on the source = target
# pair is already a network trained on Ps points of the target task. Here that network alone
# on the target's test set (key 0, as in the maps), through the theory's protocol:
# `Theory.shared` trains the source network exactly as the sweeps do.

# %%
theory = jaxtl.theory.FeatureTransfer()
parameters = {p.name: p.resolve(RECIPE.get(p.name, p.default)) if isinstance(p, jaxtl.theory.Option)
              else jnp.asarray(RECIPE.get(p.name, p.default), float) for p in theory.parameters}  # fmt: skip


def pair_at(teacher_perturbation, Pt):
    return task(jax.random.key(0), Pt=Pt, **SIZES, **(ZERO | dict(teacher_perturbation=teacher_perturbation)))


source = jax.jit(lambda: theory.shared(pair_at(0.0, PTS[0]), parameters))()
pair0 = pair_at(0.0, PTS[0])
own = float(np.mean(np.sign(np.asarray(source.network(pair0.X0))) != np.asarray(pair0.y0)))
at_zero = maps[next(iter(KNOBS))].isel({next(iter(KNOBS)): 0})
print(f"source network alone on the target test set (source = target, key 0): error {own:.4f}")
print("FT over Pt (same pairs): " + " ".join(f"{e:.4f}" for e in at_zero.fine_tuned_error.values))
print("2L over Pt (same pairs): " + " ".join(f"{e:.4f}" for e in at_zero.scratch_error.values))

# %% [markdown]
# The source network alone is better than FT at every Pt (full run: 0.1695, against FT from
# 0.377 at Pt = 10 to 0.188 at Pt = 1280): FT here measures this recipe, not the best that
# fine-tuning the source network could do.

# %% [markdown]
# ## 4. The Bayesian picture of transfer on the same pairs
#
# The Franz-Parisi theory (`theory="transfer"`, a width-N1 Bayesian network at temperature T
# whose first layer is coupled by gamma to the source network's; regression on the +-1
# labels, errors in labels squared) on the same generator, sizes, key and knob values, at a
# few Pt. Its benefit error(gamma = 0) - error(gamma) compares the coupled network with one
# trained on the target alone: at gamma = inf the target network keeps the source's first
# layer, the Bayesian counterpart of 2L - TF; gamma = 1 lets it move, a counterpart of
# 2L - FT. The two pictures answer different questions in different units, so only the
# signs are compared.

# %%
bayes = {}
for knob, values in KNOBS.items():
    t = time.time()
    bayes[knob] = jaxtl.sweep(task, theory="transfer", Pt=BAYES_PTS, progress=False, **SIZES, **BAYES,
                              **(ZERO | {knob: values}))  # fmt: skip
    print(f"{knob}: converged {int(bayes[knob].converged.sum())}/{bayes[knob].converged.size} ({time.time() - t:.0f} s)")

fig, axes = plt.subplots(2, len(KNOBS), figsize=(5.5 * len(KNOBS), 7.5), constrained_layout=True, squeeze=False)
for col, knob in enumerate(KNOBS):
    for i, P in enumerate(BAYES_PTS):
        ds, b = maps[knob].sel(Pt=P), bayes[knob].sel(Pt=P)
        axes[0, col].plot(ds[knob], ds.advantage_over_scratch, "o-", color=f"C{i}", label=f"2L - TF, Pt = {P}")
        axes[0, col].plot(ds[knob], ds.scratch_error - ds.fine_tuned_error, "s--", color=f"C{i}", mfc="none",
                          label=f"2L - FT, Pt = {P}")  # fmt: skip
        axes[1, col].plot(b[knob], b.benefit.sel(coupling=np.inf), "o-", color=f"C{i}", label=f"gamma = inf, Pt = {P}")
        axes[1, col].plot(b[knob], b.benefit.sel(coupling=1.0), "s--", color=f"C{i}", mfc="none",
                          label=f"gamma = 1, Pt = {P}")  # fmt: skip
    axes[0, col].set(title=f"feature transfer: error differences vs {knob}", ylabel="classification error difference")
    axes[1, col].set(title=f"Bayesian transfer (N1={WIDTH}, T={BAYES['temperature']}): benefit", xlabel=knob,
                     ylabel="benefit (labels$^2$)")  # fmt: skip
    for ax in axes[:, col]:
        ax.axhline(0, color="k", lw=0.8)
        ax.legend(fontsize="x-small", ncol=2)
fig.savefig(FIGURES / "feature_transfer_vs_bayesian.png", dpi=100)
plt.show()

# %% [markdown]
# The table: at each knob value and Pt, the feature-transfer differences (classification
# error, one seed) and the Bayesian benefits (labels squared) with, at gamma = 1, the part
# carried by the source (`benefit_source`; the rest is the prior part, a change of the
# first-layer prior that is there whatever the source learned). "TF" compares the sign of
# 2L - TF with that of the benefit at gamma = inf (the source's layer kept), "FT" the sign of
# 2L - FT with that of the benefit at gamma = 1 (the layer may move). A feature-transfer
# difference smaller than the scatter of one seed (printed in section 2) has no reliable
# sign; the agreement is counted over all points and over the others.

# %%
agree = {"TF": [], "FT": []}
print(f"{'knob':>21} {'value':>5} {'Pt':>5} {'2L - TF':>8} {'2L - FT':>8} {'RF - TF':>8} {'B(inf)':>8} {'B(1)':>8}"
      f" {'source':>8} {'TF':>6} {'FT':>6}")  # fmt: skip
for knob in KNOBS:
    for P in BAYES_PTS:
        ds, b = maps[knob].sel(Pt=P), bayes[knob].sel(Pt=P)
        for v in ds[knob].values:
            d, e = ds.sel({knob: v}), b.sel({knob: v})
            tf, ft, rf = (float(x) for x in (d.advantage_over_scratch, d.scratch_error - d.fine_tuned_error,
                                             d.advantage_over_random))  # fmt: skip
            b_inf, b_1, b_1s = (float(x) for x in (e.benefit.sel(coupling=np.inf), e.benefit.sel(coupling=1.0),
                                                   e.benefit_source.sel(coupling=1.0)))  # fmt: skip
            marks = []
            for k, ours, theirs in (("TF", tf, b_inf), ("FT", ft, b_1)):
                same, clear = bool(np.sign(ours) == np.sign(theirs)), abs(ours) > NOISE[f"2L - {k}"]
                agree[k].append((same, clear))
                marks.append(("agree" if same else "DIFF") + ("" if clear else "?"))
            print(f"{knob:>21} {v:5.2f} {P:5d} {tf:+8.4f} {ft:+8.4f} {rf:+8.4f} {b_inf:+8.4f} {b_1:+8.4f} {b_1s:+8.4f}"
                  f" {marks[0]:>6} {marks[1]:>6}")  # fmt: skip
print("?: the feature-transfer difference is within the scatter of one seed")
for k, label in (("TF", "sign(2L - TF) = sign(benefit at gamma = inf)"), ("FT", "sign(2L - FT) = sign(benefit at gamma = 1)")):
    clear = [same for same, c in agree[k] if c]
    print(f"{label}: {sum(s for s, _ in agree[k])}/{len(agree[k])} points; {sum(clear)}/{len(clear)} where "
          f"|2L - {k}| > {NOISE[f'2L - {k}']:.4f}")  # fmt: skip
for knob, b in bayes.items():
    for P in BAYES_PTS:
        at = b.sel(Pt=P)
        error0 = at.test_error + at.benefit  # error at gamma = 0
        print(f"Bayesian, {knob}, Pt = {P}: benefit at gamma = inf {float(at.benefit.sel(coupling=np.inf).min()):+.4f} "
              f"to {float(at.benefit.sel(coupling=np.inf).max()):+.4f}, at gamma = 1 {float(at.benefit.sel(coupling=1.0).min()):+.4f} "
              f"to {float(at.benefit.sel(coupling=1.0).max()):+.4f} (source part {float(at.benefit_source.sel(coupling=1.0).min()):+.4f} "
              f"to {float(at.benefit_source.sel(coupling=1.0).max()):+.4f}); error at gamma = 0 {float(error0.min()):.3f} to "
              f"{float(error0.max()):.3f}")  # fmt: skip

# %% [markdown]
# **Where the two pictures agree, and where they do not (full run).** The signs agree at 23 of
# the 36 points for TF against gamma = inf (17 of the 27 where 2L - TF exceeds the scatter of
# one seed), and at 21 of 36 for FT against gamma = 1 (21 of 31).
#
# - They agree on the source = target pair (both positive at the three Pt; at Pt = 640 2L - TF
#   is within the scatter) and where much of the manifold is replaced at small and intermediate
#   Pt (replaced fraction >= 0.4 at Pt = 40 and 160: 2L - TF and the benefit at gamma = inf both
#   negative).
# - They disagree at large Pt: at Pt = 640 the Bayesian benefit at gamma = inf is positive at
#   every teacher perturbation (+0.016 to +0.105) and up to replaced fraction 0.6, while 2L
#   beats TF by 0.02-0.06 from teacher perturbation 0.5 and replaced fraction 0.2 on. In the
#   Bayesian theory keeping the source's first layer still helps a dissimilar target with 640
#   points; with trained networks, scratch training has overtaken the transferred layer there.
#   At Pt = 40 the disagreement goes the other way for the teacher perturbation (Bayesian
#   benefit negative from 0.5 on, 2L - TF within the scatter or positive).
# - At gamma = 1 the Bayesian benefit is positive everywhere (+0.024 to +0.048) and hardly
#   depends on the knob, while its source part is small (at most +0.018, at most +0.004 at Pt =
#   640): most of it is the prior part, a change of the first-layer prior that does not need a
#   related source. 2L - FT instead turns negative at Pt = 640 for every knob value, which the
#   FT check above traces to the fine-tuning recipe as much as to the tasks.
#
# The Bayesian network itself is a poor predictor of these sign labels at T = 0.05: its
# target error at gamma = 0 is above 1 (the error of predicting 0) at Pt = 40, and 0.66-0.72
# at Pt = 640; its benefits are differences of large errors.

# %% [markdown]
# ## 5. The gradient of the TF error with respect to a knob
#
# The TF error is differentiable in the target's knobs: through the target's manifold and
# teacher into the closed-form covariances and the readout's saddle point (implicit
# differentiation). The trained source network is held fixed (it depends on the source side
# only). Here `jax.grad` of the theory's TF output at one pair, through the theory's protocol
# (`Theory.evaluate` on the source network trained above), against a central finite
# difference of the same function, and against the phase-diagram sweep at the same points.

# %%
GRAD_PT, H = PTS[len(PTS) // 2], 1e-4


def tf_error(x):
    return theory.evaluate(pair_at(x, GRAD_PT), parameters, source).values["transferred_error"]


value_and_gradient = jax.jit(jax.value_and_grad(tf_error))  # one program for values and gradients
for x in (0.25, 1.0):
    value, g = (float(v) for v in value_and_gradient(x))
    fd = (float(value_and_gradient(x + H)[0]) - float(value_and_gradient(x - H)[0])) / (2 * H)
    print(f"Pt = {GRAD_PT}, teacher_perturbation = {x}: TF error {value:.4f}, d/dknob by jax.grad "
          f"{g:+.6f}, by finite difference (h = {H:g}) {fd:+.6f}, relative difference {abs(g - fd) / abs(fd):.1e}")  # fmt: skip
on_map = maps["teacher_perturbation"].sel(Pt=GRAD_PT).transferred_error  # the same pairs (key 0) and source network
for x in (0.25, 1.0):
    if x in on_map.teacher_perturbation:
        print(f"teacher_perturbation = {x}: TF error here {float(value_and_gradient(x)[0]):.6f}, in the phase-diagram sweep "
              f"{float(on_map.sel(teacher_perturbation=x)):.6f}")  # fmt: skip
print(f"wall time {time.time() - start:.0f} s")

# %% [markdown]
# The implicit gradient and the finite difference agree to 1e-8 (relative) or better, and the TF
# error of this function equals the sweep's at the same points: `jaxtl.optimize` can descend
# the TF error over a knob (tests/test_feature_transfer.py runs it on the teacher
# perturbation). The gradient holds the transferred layer fixed: it says how the error of
# that layer changes as the target moves, not how retraining the source would change it.
