"""Transfer benefit over (gamma, rho) on teacher pairs: total, prior part and source part.

Writes benchmarks/benefit_map.png and prints the benefit at a few grid points. The benefit is
the target test error at gamma = 0 minus the error at gamma (positive: transfer helps); its
prior part comes from the coupling's change of the first-layer prior alone, its source part
from the renormalized source-target kernel (`jaxtl.TransferBenefit`).

    python benchmarks/benefit_map.py      # about a minute on 2 CPU cores
"""

import pathlib

import jax
import jax.numpy as jnp
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import jaxtl  # noqa: E402

SIZES = dict(Ps=300, Pt=80, P0=400, N0=100)
WIDTH, TEMPERATURE = 200.0, 0.05


def main():
    rhos = jnp.linspace(0.0, 1.0, 21)
    gammas = jnp.logspace(-2, 3, 26)
    pairs = jax.vmap(lambda r: jaxtl.tasks.teacher_pair(jax.random.key(0), rho=r, gain=2.0, noise=0.1, **SIZES))(rhos)

    def point(yt, y0, gamma):
        p = pairs
        sol = jaxtl.transfer((p.Xs[0], p.ys[0]), (p.Xt[0], yt), width=WIDTH, temperature=TEMPERATURE,
                             coupling=gamma, throw=False)
        b = sol.benefit(p.X0[0], y0)
        return jnp.stack([b.total, b.prior, b.source]), sol.converged

    grid = jax.jit(lambda g: jax.lax.map(lambda gamma: jax.vmap(point, (0, 0, None))(pairs.yt, pairs.y0, gamma), g))
    benefit, converged = grid(gammas)  # (gamma, rho, 3)
    print(f"{SIZES}, N1 = {WIDTH:g}, T = {TEMPERATURE}: converged {int(converged.sum())}/{converged.size}")
    print("| gamma | rho | total | prior part | source part |")
    print("|---|---|---|---|---|")
    for i in (5, 10, 15, 20, 25):
        for j in (0, 10, 20):
            t, p, s = (float(v) for v in benefit[i, j])
            print(f"| {float(gammas[i]):.3g} | {float(rhos[j]):.2f} | {t:+.4f} | {p:+.4f} | {s:+.4f} |")

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), sharey=True, constrained_layout=True)
    limit = float(jnp.abs(benefit).max())
    for ax, k, title in zip(axes, range(3), ("total benefit", "prior part (not transfer)", "source part")):
        mesh = ax.pcolormesh(rhos, gammas, benefit[:, :, k], cmap="RdBu", vmin=-limit, vmax=limit, shading="auto")
        ax.contour(rhos, gammas, benefit[:, :, k], levels=[0.0], colors="k", linewidths=1)
        ax.set(yscale="log", xlabel="teacher overlap rho", title=title)
    axes[0].set_ylabel("coupling gamma")
    fig.colorbar(mesh, ax=axes, label="error(gamma = 0) - error(gamma)")
    fig.suptitle(f"jaxtl.transfer, erf, Ps={SIZES['Ps']}, Pt={SIZES['Pt']}, N0={SIZES['N0']}, N1={WIDTH:g}, T={TEMPERATURE}; black: zero")
    out = pathlib.Path(__file__).with_name("benefit_map.png")
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
