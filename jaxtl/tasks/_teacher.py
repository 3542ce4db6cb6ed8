"""Teacher-student task pairs: Gaussian inputs, correlated source and target teachers."""

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from .. import _checks
from ..theory._activation import Activation, get_activation
from ._overlap import cosine, input_overlap
from ._task_pair import TaskPair


def teacher_labels(
    readout: Activation,
    gain: Float[Array, ""],
    fields: Float[Array, " P"],
    noise: Float[Array, ""],
    eta: Float[Array, " P"],
) -> Float[Array, " P"]:
    """y = readout(gain h) + noise eta: a teacher's labels from its local fields h = w . x / sqrt(N0)."""
    return readout(gain * fields) + noise * eta


def teacher_pair(
    key: PRNGKeyArray,
    *,
    Ps: int,
    Pt: int,
    P0: int,
    N0: int,
    rho: Float[ArrayLike, ""] = 1.0,
    readout: "str | Activation" = "tanh",
    gain: Float[ArrayLike, ""] = 1.0,
    noise: Float[ArrayLike, ""] = 0.0,
    shift: Float[ArrayLike, ""] = 0.0,
) -> TaskPair:
    """Two teacher-student regression tasks whose teachers have overlap `rho`.

    Inputs are Gaussian, x ~ N(0, I_N0) for the source and x ~ N(mu, I_N0) for the target,
    with mu = shift * u and u ~ N(0, I_N0) drawn once per key. The source teacher is
    w_s ~ N(0, I_N0); the target teacher is

        w_t = rho w_s + sqrt(1 - rho^2) xi,    xi ~ N(0, I_N0) independent of w_s,

    so that w_s . w_t / N0 -> rho as N0 -> infinity, with fluctuations of order
    (1 - rho^2) / sqrt(N0). Labels are

        y = readout(gain w . x / sqrt(N0)) + noise eta,    eta ~ N(0, 1),

    on the training sets; the target test labels y0 carry no noise (they are the target
    teacher's function, the quantity a generalization error measures).

    **Arguments:**
    - `key`: a `jax.random` key; the same key gives the same pair. Every random array has its
      own subkey, so changing one size leaves the other sets unchanged.
    - `Ps`, `Pt`, `P0`: numbers of source training, target training and target test points
      (static integers >= 1).
    - `N0`: input dimension (static integer >= 1).
    - `rho`: teacher overlap, in [-1, 1]. rho = 1: one teacher; rho = 0: independent teachers.
    - `readout`: the teacher's output nonlinearity, "identity" (a linear teacher), "erf" or
      "tanh", or a `jaxtl.kernels.Activation`.
    - `gain`: multiplies the local field before the readout, > 0; tanh or erf with a large gain
      is a smooth version of sign labels.
    - `noise`: standard deviation of the Gaussian label noise (label units), >= 0.
    - `shift`: mean of the target inputs in units of the input standard deviation per
      component (|mu|^2 / N0 -> shift^2); 0 gives one input distribution for both tasks.

    **Returns:** a `TaskPair` with `overlaps` "teacher" (cosine of w_s and w_t) and "input",
    and `params` "rho", "readout", "gain", "noise", "shift", "w_s", "w_t" (N0,), "mu" (N0,).

    For a fixed key the data are smooth functions of `rho`, `gain`, `noise` and `shift`
    (the random draws do not depend on them), so `jax.grad` runs through the generation and
    on into a theory; at |rho| = 1 the derivative of sqrt(1 - rho^2) diverges. Runs under jit
    with the sizes and `readout` static, e.g.
    `jax.jit(teacher_pair, static_argnames=("Ps", "Pt", "P0", "N0", "readout"))`.

    A single regression task (X, y, X0, y0) is the source side with rho = 1, shift = 0:
    `pair = teacher_pair(key, Ps=P, Pt=1, P0=P0, N0=N0)`, then
    `(pair.Xs, pair.ys, pair.X0, pair.y0)`.
    """
    Ps, Pt, P0, N0 = (_checks.count(n, v) for n, v in (("Ps", Ps), ("Pt", Pt), ("P0", P0), ("N0", N0)))
    rho = _checks.interval("rho", rho, -1.0, 1.0)
    readout = get_activation(readout, "readout")
    gain = _checks.positive("gain", gain)
    noise = _checks.interval("noise", noise, 0.0, jnp.inf)
    shift = _checks.finite("shift", shift)

    k = jax.random.split(key, 8)
    w_s = jax.random.normal(k[0], (N0,))
    w_t = rho * w_s + jnp.sqrt(1 - rho**2) * jax.random.normal(k[1], (N0,))
    mu = shift * jax.random.normal(k[2], (N0,))
    Xs = jax.random.normal(k[3], (Ps, N0))
    Xt = jax.random.normal(k[4], (Pt, N0)) + mu
    X0 = jax.random.normal(k[5], (P0, N0)) + mu
    ys = teacher_labels(readout, gain, Xs @ w_s / jnp.sqrt(N0), noise, jax.random.normal(k[6], (Ps,)))
    yt = teacher_labels(readout, gain, Xt @ w_t / jnp.sqrt(N0), noise, jax.random.normal(k[7], (Pt,)))
    y0 = readout(gain * X0 @ w_t / jnp.sqrt(N0))
    return TaskPair(
        Xs,
        ys,
        Xt,
        yt,
        X0,
        y0,
        overlaps={"teacher": cosine(w_s, w_t), "input": input_overlap(Xs, Xt)},
        params=dict(rho=rho, readout=readout, gain=gain, noise=noise, shift=shift, w_s=w_s, w_t=w_t, mu=mu),
    )
