"""The source/target task pair that every theory and network of jaxtl is run on."""

from typing import Any

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float

from .. import _checks


class TaskPair(eqx.Module):
    """A source task, a target task and a target test set (a pytree: jit-, vmap-, grad-friendly).

    **Fields:**
    - `Xs`, `ys`: source training inputs (Ps, N0) and labels (Ps,).
    - `Xt`, `yt`: target training inputs (Pt, N0) and labels (Pt,).
    - `X0`, `y0`: target test inputs (P0, N0) and labels (P0,).
    - `overlaps`: measured overlaps of the two tasks, scalar arrays. Keys used by the
      generators: "teacher" (cosine of the source and target teacher vectors, synthetic
      pairs only), "features" (cosine of the two feature matrices, hidden-manifold pairs
      only), "input" (overlap of the input distributions, see below).
    - `params`: what made the pair: the generator's continuous knobs (arrays, so that
      gradients flow through them), its activation objects, and its hidden variables
      (teacher vectors, feature matrices, image indices). Each generator documents its keys.

    The "input" overlap is the cosine of the source and target training inputs' second-moment
    matrices, Tr(Ss St) / sqrt(Tr(Ss^2) Tr(St^2)) with S = E[x x^T], each trace estimated
    without bias: 1 up to sampling error for one input distribution, NaN if Ps or Pt is 1.

    Shapes are checked on construction (a ValueError names the field); the fields may be
    given as NumPy arrays, e.g. to wrap one's own data:
    `TaskPair(Xs, ys, Xt, yt, X0, y0)`.

    A single task (X, y, X0, y0), e.g. for the single-task theory, is the source side of a pair
    whose target test set comes from the source distribution, e.g. `teacher_pair(...)` with
    `rho=1` and `shift=0`: `(pair.Xs, pair.ys, pair.X0, pair.y0)`.
    """

    Xs: Float[Array, "Ps N0"] = eqx.field(converter=jnp.asarray)
    ys: Float[Array, " Ps"] = eqx.field(converter=jnp.asarray)
    Xt: Float[Array, "Pt N0"] = eqx.field(converter=jnp.asarray)
    yt: Float[Array, " Pt"] = eqx.field(converter=jnp.asarray)
    X0: Float[Array, "P0 N0"] = eqx.field(converter=jnp.asarray)
    y0: Float[Array, " P0"] = eqx.field(converter=jnp.asarray)
    overlaps: dict[str, Float[Array, ""]] = eqx.field(default_factory=dict)
    params: dict[str, Any] = eqx.field(default_factory=dict)

    def __check_init__(self):
        if self.Xs.ndim != 2:
            raise ValueError(f"Xs must have shape (Ps, N0), got {self.Xs.shape}")
        n0 = self.Xs.shape[1]
        for x, y, p in (("Xs", "ys", "Ps"), ("Xt", "yt", "Pt"), ("X0", "y0", "P0")):
            X, Y = getattr(self, x), getattr(self, y)
            _checks.shape(x, X, (X.shape[0] if X.ndim else 0, n0), f"({p}, N0)")
            _checks.shape(y, Y, X.shape[:1], f"({p},)")
