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
# # Choosing the coupling and the temperature by gradient descent
#
# **Question.** For a given source-target pair, which coupling gamma and temperature T give
# the lowest target test error, and can we find them by gradient descent on the theory
# instead of a grid? `jaxtl.transfer` is differentiable (implicit differentiation at the
# stationary point); `jaxtl.optimize` runs Adam (optax) on the predicted target test error,
# with the bounds gamma in [1e-2, 1e3] and T in [1e-3, 1] kept by the parametrization (log
# scale, squashed by a sigmoid). We compare it with a grid search (`jaxtl.sweep`) for a
# related (rho = 1) and a weakly related (rho = 0.3) teacher pair.
#
# Set `JAXTL_NOTEBOOK_FULL=1` for the full sizes; the default sizes only check that the
# notebook runs.

# %%
import os
import pathlib

import jax
import matplotlib.pyplot as plt
import numpy as np

import jaxtl

FULL = os.environ.get("JAXTL_NOTEBOOK_FULL") == "1"
FIGURES = pathlib.Path(os.environ.get("JAXTL_FIGURES", "figures" if pathlib.Path.cwd().name == "notebooks" else "notebooks/figures"))
FIGURES.mkdir(parents=True, exist_ok=True)

if FULL:
    SIZES, WIDTH, n_grid, steps = dict(Ps=300, Pt=80, P0=400, N0=100), 200.0, 31, 150
else:
    SIZES, WIDTH, n_grid, steps = dict(Ps=40, Pt=12, P0=50, N0=20), 40.0, 5, 10
BOUNDS = {"coupling": (1e-2, 1e3), "temperature": (1e-3, 1.0)}
START = {"coupling": 0.04, "temperature": 0.44}  # far from the optimum
RHOS = (1.0, 0.3)
task = dict(key=jax.random.key(0), gain=2.0, noise=0.1, width=WIDTH, progress=False, **SIZES)
print(SIZES, f"N1 = {WIDTH:g}")

# %%
searches = {}
for rho in RHOS:
    ds = jaxtl.optimize(jaxtl.tasks.teacher_pair, over=BOUNDS, objective="test_error", steps=steps,
                        learning_rate=0.1, rho=rho, **START, **task)
    searches[rho] = ds
    print(f"rho = {rho}: gamma = {float(ds.coupling[-1]):.4g}, T = {float(ds.temperature[-1]):.4g}, "
          f"error {float(ds.test_error[-1]):.4f}; {ds.attrs['evaluations']} solves, all converged: {bool(ds.converged.all())}")

# %% [markdown]
# The grid search over the same box.

# %%
grid_gamma = np.logspace(-2, 3, n_grid)
grid_T = np.logspace(-3, 0, n_grid)
grids = {}
for rho in RHOS:
    ds = jaxtl.sweep(jaxtl.tasks.teacher_pair, rho=rho, coupling=grid_gamma, temperature=grid_T, **task)
    grids[rho] = np.where(ds.converged, ds.test_error, np.nan).reshape(n_grid, n_grid)  # (gamma, T)
    print(f"rho = {rho}: grid converged {int(ds.converged.sum())}/{ds.converged.size}")

# %%
fig, axes = plt.subplots(1, len(RHOS), figsize=(6 * len(RHOS), 4.5), constrained_layout=True)
for ax, rho in zip(axes, RHOS):
    mesh = ax.pcolormesh(grid_gamma, grid_T, grids[rho].T, shading="auto", cmap="viridis")
    fig.colorbar(mesh, ax=ax, label="target test error (theory)")
    i, j = np.unravel_index(np.nanargmin(grids[rho]), grids[rho].shape)
    path = searches[rho]
    ax.plot(path.coupling, path.temperature, "w.-", ms=3, lw=0.8, label="Adam path")
    ax.plot(path.coupling[-1], path.temperature[-1], "r*", ms=12, label="gradient search")
    ax.plot(grid_gamma[i], grid_T[j], "ws", mfc="none", ms=10, label="grid minimum")
    ax.set(xscale="log", yscale="log", xlabel="coupling gamma", ylabel="temperature T", title=f"teacher pair, rho = {rho}")
    ax.legend(fontsize=7)
fig.savefig(FIGURES / "gradient_search_gamma_T.png", dpi=110)
plt.show()

# %% [markdown]
# ## What the search found, in numbers

# %%
for rho in RHOS:
    path, grid = searches[rho], grids[rho]
    i, j = np.unravel_index(np.nanargmin(grid), grid.shape)
    g, T, e = (np.asarray(path[k]) for k in ("coupling", "temperature", "test_error"))
    print(f"rho = {rho}:")
    print(f"  gradient search ({path.attrs['evaluations']} solves): gamma = {g[-1]:.4g}, T = {T[-1]:.4g}, error {e[-1]:.4f} "
          f"(start: gamma = {g[0]:.3g}, T = {T[0]:.3g}, error {e[0]:.4f})")
    print(f"  grid search ({grid.size} solves): gamma = {grid_gamma[i]:.4g}, T = {grid_T[j]:.4g}, error {grid[i, j]:.4f}")
    print(f"  gradient minus grid: {e[-1] - grid[i, j]:+.4f}")

# %% [markdown]
# "gradient minus grid" above is the difference of the errors the two searches reached
# (negative: the gradient search did better than the grid's resolution allows). The
# gradient search costs a fixed number of steps, each one solve and one implicit gradient,
# whereas a grid's cost grows as the square of its resolution. Compare the optimal couplings
# of the two pairs: arXiv 2407.07168 reports that strong coupling pays only when the tasks
# are related.
