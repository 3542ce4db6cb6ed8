"""Speed of one Langevin step: jaxtl's sampler against a plain hand-written JAX loop.

Both run the same update (jaxtl/theory/README.md, section 1.3) on the same erf network,
data and chains, in the same process: theta <- theta - eta (grad L + T lambda theta) +
sqrt(2 eta T) xi, vmapped over chains. The time per step is the marginal cost,
(time of a long run - time of a short run) / (difference in steps), so that compilation,
initialization, jaxtl's curvature estimate and Python overhead drop out; medians over repeats.
Target: jaxtl within 1.2x of the plain loop.

    python benchmarks/langevin_step.py            # about a minute on two CPU cores
"""

import math
import time

import jax
import jax.numpy as jnp
import numpy as np

import jaxtl
from jaxtl import nets

REPEATS = 3
THIN = 50
# (N0, N1, P, dtype, chains, steps in the short and the long run)
CASES = [
    (100, 200, 200, np.float64, 4, 100, 500),
    (784, 1000, 1000, np.float32, 1, 50, 150),
]
TEMPERATURE, LAMBDA0, LAMBDA1, STEP_SIZE = 0.05, 1.0, 1.0, 1e-3


def plain_loop(X, y, n1, chains, n_steps):
    """The same Langevin step, hand-written: a jitted lax.scan, vmapped over chains."""
    n0 = X.shape[1]
    dtype = X.dtype
    T, l0, l1, eta = (jnp.asarray(c, dtype) for c in (TEMPERATURE, LAMBDA0, LAMBDA1, STEP_SIZE))

    def loss(W, v):
        f = jax.scipy.special.erf(X @ W.T / math.sqrt(n0)) @ v / math.sqrt(n1)
        return 0.5 * jnp.sum((y - f) ** 2)

    def step(carry, _):
        W, v, key = carry
        key, key_W, key_v = jax.random.split(key, 3)
        gW, gv = jax.grad(loss, argnums=(0, 1))(W, v)
        scale = jnp.sqrt(2 * eta * T)
        W = W - eta * (gW + T * l0 * W) + scale * jax.random.normal(key_W, W.shape, dtype)
        v = v - eta * (gv + T * l1 * v) + scale * jax.random.normal(key_v, v.shape, dtype)
        return (W, v, key), None

    def chain(key):
        key_W, key_v, key_run = jax.random.split(key, 3)
        W = jax.random.normal(key_W, (n1, n0), dtype) / jnp.sqrt(l0)
        v = jax.random.normal(key_v, (n1,), dtype) / jnp.sqrt(l1)
        (W, v, _), _ = jax.lax.scan(step, (W, v, key_run), length=n_steps)
        return W, v

    run = jax.jit(jax.vmap(chain))
    return lambda key: jax.block_until_ready(run(jax.random.split(key, chains)))


def jaxtl_run(X, y, n1, chains, n_steps):
    sampler = nets.Langevin(n_chains=chains, burn_in=0, n_samples=n_steps // THIN, thin=THIN, step_size=STEP_SIZE)

    def run(key):
        s = nets.sample(key, X, y, width=n1, temperature=TEMPERATURE, lambda0=LAMBDA0, lambda1=LAMBDA1, sampler=sampler)
        return jax.block_until_ready(s.final)

    return run


def median_times(runs):
    """Median wall time of each run; the runs alternate, so that load drifts hit all alike."""
    for run in runs:
        run(jax.random.key(0))  # compile
    times = np.zeros((REPEATS, len(runs)))
    for i in range(REPEATS):
        for j, run in enumerate(runs):
            start = time.perf_counter()
            run(jax.random.key(i + 1))
            times[i, j] = time.perf_counter() - start
    return np.median(times, axis=0)


def main():
    print(f"jax {jax.__version__} on {jax.devices()[0].device_kind}; jaxtl {jaxtl.__version__}")
    header = f"{'N0':>5} {'N1':>5} {'P':>5} {'dtype':>8} {'chains':>6} {'jaxtl ms/step':>14} {'plain ms/step':>14} {'ratio':>6}"
    print(header)
    for n0, n1, P, dtype, chains, short, long in CASES:
        rng = np.random.default_rng(0)
        X = jnp.asarray(rng.standard_normal((P, n0)), dtype)
        y = jnp.asarray(np.tanh(2 * np.asarray(X) @ rng.standard_normal(n0) / np.sqrt(n0)), dtype)
        runs = [make(X, y, n1, chains, n) for make in (jaxtl_run, plain_loop) for n in (short, long)]
        t = median_times(runs)
        jaxtl_step, plain_step = (1e3 * (t[1] - t[0]) / (long - short), 1e3 * (t[3] - t[2]) / (long - short))
        print(
            f"{n0:>5} {n1:>5} {P:>5} {np.dtype(dtype).name:>8} {chains:>6} "
            f"{jaxtl_step:>14.3f} {plain_step:>14.3f} {jaxtl_step / plain_step:>6.2f}"
        )


if __name__ == "__main__":
    main()
