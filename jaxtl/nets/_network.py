"""The finite networks whose posteriors the theories describe.

Theory note (`shared/theory/transfer.md`), section "Network, prior, posterior":
f(x) = N1^{-1/2} sum_i v_i sigma(w_i . x / sqrt(N0)), prior w ~ N(0, 1/lambda0), v ~ N(0, 1/lambda1).
`DeepNetwork` is its L-hidden-layer form (jaxtl/theory/README.md, section 12).
The nonlinearity is the same `Activation` object whose `kernel` the theory uses.
"""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, DTypeLike, Float, PRNGKeyArray

from .. import _checks
from ..theory._activation import Activation, get_activation


class Network(eqx.Module):
    """One-hidden-layer fully connected network in the theory's parametrization.

    f(x) = N1^{-1/2} v . sigma(W x / sqrt(N0)), with `W` of shape (N1, N0) (N1 hidden units,
    N0 inputs) and readout `v` of shape (N1,). The dtype of `W` and `v` is the network's
    dtype: float32 networks run about 3x faster than float64 ones (on CPU and GPU alike).

    **Fields:**
    - `W`: first-layer weights, shape (N1, N0).
    - `v`: readout weights, shape (N1,).
    - `activation`: the nonlinearity, an `Activation` or its name ("erf", "identity", "tanh").
    """

    W: Float[Array, "N1 N0"]
    v: Float[Array, " N1"]
    activation: Activation = eqx.field(converter=get_activation, default="erf")

    @classmethod
    def from_prior(
        cls,
        key: PRNGKeyArray,
        n0: int,
        width: int,
        *,
        lambda0: float = 1.0,
        lambda1: float = 1.0,
        activation: "str | Activation" = "erf",
        dtype: DTypeLike = float,
    ) -> "Network":
        """A network drawn from the prior W_ij ~ N(0, 1/lambda0), v_i ~ N(0, 1/lambda1).

        **Arguments:** `key`; `n0` = N0 inputs; `width` = N1 hidden units; `lambda0`,
        `lambda1`: prior precisions of the two layers; `activation`; `dtype` of the weights.
        """
        lambda0 = _checks.positive("lambda0", lambda0)
        lambda1 = _checks.positive("lambda1", lambda1)
        key_W, key_v = jax.random.split(key)
        W = jax.random.normal(key_W, (width, n0), dtype) * jnp.sqrt(1 / lambda0).astype(dtype)
        v = jax.random.normal(key_v, (width,), dtype) * jnp.sqrt(1 / lambda1).astype(dtype)
        return cls(W, v, activation)

    def __call__(self, x: Float[ArrayLike, "*batch N0"]) -> Float[Array, "*batch"]:
        """f(x) for one input (shape (N0,)) or a batch of them (shape (..., N0))."""
        n1, n0 = self.W.shape
        hidden = self.activation(x @ self.W.T / math.sqrt(n0))
        return hidden @ self.v / math.sqrt(n1)


class DeepNetwork(eqx.Module):
    """L-hidden-layer fully connected network in the deep theory's parametrization
    (`jaxtl.deep.single_task`, jaxtl/theory/README.md, section 12).

    h^1 = W_1 x / sqrt(N0), h^l = W_l sigma(h^(l-1)) / sqrt(N_(l-1)) for l = 2, ..., L,
    f(x) = N_L^{-1/2} v . sigma(h^L). At L = 1 it is `Network` (same weights, same outputs).
    The dtype of the weights is the network's dtype.

    **Fields:**
    - `layers`: (W_1, ..., W_L), W_l of shape (N_l, N_(l-1)), N_0 = N0 the input dimension.
    - `v`: readout weights, shape (N_L,).
    - `activation`: the nonlinearity, an `Activation` or its name ("erf", "identity", "tanh").
    """

    layers: "tuple[Float[Array, 'Nl Nl_1'], ...]"
    v: Float[Array, " NL"]
    activation: Activation = eqx.field(converter=get_activation, default="erf")

    @classmethod
    def from_prior(
        cls,
        key: PRNGKeyArray,
        n0: int,
        widths: "tuple[int, ...]",
        *,
        lambdas: "tuple[float, ...] | None" = None,
        activation: "str | Activation" = "erf",
        dtype: DTypeLike = float,
    ) -> "DeepNetwork":
        """A network drawn from the prior: the weights of W_1, ..., W_L and v independent,
        N(0, 1/lambda_l) with (lambda0, ..., lambda_L) = `lambdas` in that order (lambda_L the
        readout's, the indexing of `jaxtl.deep.single_task`; default all 1).

        **Arguments:** `key`; `n0` = N0 inputs; `widths` = (N_1, ..., N_L); `lambdas`;
        `activation`; `dtype` of the weights. At L = 1 the draw is `Network.from_prior`'s.
        """
        shapes = [(n, m) for n, m in zip(widths, (n0, *widths[:-1]))] + [(widths[-1],)]
        lambdas = jnp.ones(len(shapes)) if lambdas is None else _checks.positive("lambdas", lambdas)
        _checks.shape("lambdas", lambdas, (len(shapes),), f"(L + 1,) = ({len(shapes)},): lambda0, ..., lambda_L")
        keys = jax.random.split(key, len(shapes))
        weights = [jax.random.normal(k, s, dtype) * jnp.sqrt(1 / lam).astype(dtype)
                   for k, s, lam in zip(keys, shapes, lambdas)]  # fmt: skip
        return cls(tuple(weights[:-1]), weights[-1], activation)

    @property
    def weights(self) -> "tuple[Array, ...]":
        """(W_1, ..., W_L, v): the L + 1 weight arrays in the order of the lambdas."""
        return (*self.layers, self.v)

    def __call__(self, x: Float[ArrayLike, "*batch N0"]) -> Float[Array, "*batch"]:
        """f(x) for one input (shape (N0,)) or a batch of them (shape (..., N0))."""
        hidden = x
        for W in self.layers:
            hidden = self.activation(hidden @ W.T / math.sqrt(W.shape[1]))
        return hidden @ self.v / math.sqrt(self.v.shape[0])
