"""Langevin-sampled deep (L-hidden-layer) networks: the ground truth of `jaxtl.deep.single_task`.

The posterior of a `DeepNetwork` with weights M_0 = W_1, ..., M_(L-1) = W_L, M_L = v of prior
precisions lambda_0, ..., lambda_L (jaxtl/theory/README.md, section 12):

    p ∝ exp(-L/T - sum_l lambda_l/2 |M_l|^2),  L = 1/2 sum_mu (y_mu - f(x_mu))^2,

sampled by the chains of `sample` (`_langevin._chains`: the same step, step size, burn-in,
thinning, divergence checks and checkpoints) on U = -T log p = L + T sum_l lambda_l/2 |M_l|^2.
At L = 1 it is `sample` without coupling, chain for chain. As in `sample`, the first layer may
be anchored to a source sample's W_1~ by gamma/2 |W_1 - W_1~|^2 in -log p (gamma = inf: held at
it); `deep_transfer` runs the transfer protocol on it (section 12.3).
"""

import math
import pathlib

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from .. import _checks
from ..theory._activation import Activation
from ._estimate import Estimate, jackknife
from ._langevin import Langevin, Samples, _anchor, _chains, _data, _samples
from ._network import DeepNetwork


class DeepSamples(Samples):
    """What a Langevin run of deep networks measured, per chain (leading axis: chains): the
    fields of `Samples` (`mean_readout` of shape (chains, N_L), `readout_norm`
    lambda_L |v|^2 / N_L, no kernels; `final` and `params` are `DeepNetwork`s), and

    - `mean_layers`: per chain, the average hidden weights (<W_1>, ..., <W_L>), shapes
      (chains, N_l, N_(l-1)).
    - `layer_norms`: per kept sample, 1 + (lambda_l' |M_l|^2 - n_l) / N_l for the weights M_l
      of every layer l = 0, ..., L (M_0 = W_1, M_L = v; n_l entries; N_l the width M_l reads,
      N_0 = N0), shape (chains, n_samples, L + 1), with lambda_l' = lambda_l (1 - eta T lambda_l / 2)
      the precision the chain of step eta samples where only the prior acts (`_layer_norms`).
      1 on average under the prior; the last is the readout norm (up to that factor, below
      1e-3 in practice). The theory's counterpart is `DeepSingleTaskSolution.norms`.
    """

    mean_layers: "tuple[Float[Array, 'chains Nl Nl_1'], ...]"
    layer_norms: Float[Array, "chains samples L1"]
    _shown = ("norms", "Q", "diverged", "step_size", "curvature", "mean_output")

    @property
    def norms(self) -> Estimate:
        """The average `layer_norms`, shape (L + 1,), with standard errors over chains."""
        return jackknife(lambda q: q, self.layer_norms.mean(1))

    @property
    def order_parameters(self) -> "dict[str, Estimate]":
        """The measured order parameters by their theory names: {"norms": `norms`} (`nets.compare`
        shows one row per layer, "norms[0]", ..., "norms[L]")."""
        return {"norms": self.norms}


class _DeepPosterior(eqx.Module):
    """U = -T log p of one chain (module docstring), its data, and what a kept sample measures;
    `coupling` gamma of the first layer to an anchor (`frozen`: gamma = inf, W_1 held there)."""

    X: Float[Array, "P N0"]
    y: Float[Array, " P"]
    temperature: Float[Array, ""]
    lambdas: Float[Array, " L1"]
    coupling: Float[Array, ""]
    frozen: bool = eqx.field(static=True)

    def potential(self, net: DeepNetwork, anchor: "Float[Array, 'N1 N0'] | None") -> Float[Array, ""]:
        residual = self.y - net(self.X)
        prior = sum(lam * jnp.sum(M**2) for lam, M in zip(self.lambdas, net.weights))
        if anchor is not None and not self.frozen:
            prior = prior + self.coupling * jnp.sum((net.layers[0] - anchor) ** 2)
        return 0.5 * jnp.sum(residual**2) + 0.5 * self.temperature * prior

    def split(self, net: DeepNetwork) -> "tuple[DeepNetwork, DeepNetwork]":
        """(the sampled weights, the rest): every weight, but W_1 when frozen."""
        sampled = jax.tree.map(eqx.is_inexact_array, net)
        if self.frozen:
            sampled = eqx.tree_at(lambda n: n.layers[0], sampled, False)
        return eqx.partition(net, sampled)

    def measure(self, net: DeepNetwork, X_test: Float[Array, "P0 N0"], kernel: bool) -> "tuple[dict, dict]":
        """(per-sample outputs: the loss, the readout norm and lambda_l |M_l|^2 for every layer;
        terms of the running sums: f(X_test), f(X_test)^2, v, the hidden weights). `kernel` must be False."""
        per_sample = {
            "loss": 0.5 * jnp.sum((self.y - net(self.X)) ** 2),
            "readout_norm": self.lambdas[-1] * jnp.sum(net.v**2) / net.v.shape[0],
            "weight_norms": jnp.stack([lam * jnp.sum(M**2) for lam, M in zip(self.lambdas, net.weights)]),
        }
        f = net(X_test)
        return per_sample, {"output": f, "output_sq": f**2, "readout": net.v, "layers": net.layers}


def _layer_norms(weight_norms: Float[Array, "*samples L1"], n0: int, widths: "tuple[int, ...]",
                 lambdas: Float[Array, " L1"], step_size: float, temperature: Float[Array, ""]) -> Float[Array, "*samples L1"]:
    """`DeepSamples.layer_norms` from lambda_l |M_l|^2 per sample: 1 + (lambda_l' |M_l|^2 - n_l) / N_l
    with lambda_l' = lambda_l (1 - eta T lambda_l / 2), N_l = (N0, N_1, ..., N_L)[l] the width
    M_l reads and n_l = N_l N_(l+1) (N_(L+1) = 1) its entries.

    lambda_l' is the precision a Langevin chain of step eta samples where only the prior acts:
    there theta <- (1 - eta T lambda) theta + sqrt(2 eta T) xi, of stationary variance
    2 eta T / (1 - (1 - eta T lambda)^2) = 1 / (lambda (1 - eta T lambda / 2)). Most of the n_l
    weights of an inner layer feel only the prior, so that excess variance, summed, would
    shift the layer norm by N_(l+1) eta T lambda_l / 2: as much as the data's effect at widths
    of 100 and steps of 1e-2. Measured with lambda_l' it is gone (exactly under the prior)."""
    reads = jnp.array((n0, *widths))
    entries = reads * jnp.array((*widths, 1))
    factor = 1 - step_size * temperature * lambdas / 2
    return 1 + (weight_norms * factor - entries) / reads


@eqx.filter_jit
def _initialize(key, chains, n0, widths, lambdas, activation, dtype, anchor, frozen):
    """Networks drawn from the prior (with W_1 = anchor if frozen) and a PRNG key per chain
    (the keys of `sample`'s chains)."""
    key_init, key_run = jax.random.split(key)
    init = eqx.filter_vmap(
        lambda k: DeepNetwork.from_prior(k, n0, widths, lambdas=lambdas, activation=activation, dtype=dtype)
    )
    nets = init(jax.random.split(key_init, chains))
    if frozen:
        nets = eqx.tree_at(lambda n: n.layers[0], nets, anchor)
    return nets, jax.random.split(key_run, chains)


def sample_deep(
    key: PRNGKeyArray,
    X: Float[ArrayLike, "P N0"],
    y: Float[ArrayLike, " P"],
    *,
    widths: "tuple[int, ...]",
    temperature: float,
    lambdas: "Float[ArrayLike, ' L1'] | None" = None,
    activation: "str | Activation" = "erf",
    sampler: Langevin = Langevin(),
    X_test: "Float[ArrayLike, 'P0 N0'] | None" = None,
    anchor: "Float[ArrayLike, '*chains N1 N0'] | None" = None,
    coupling: float = 0.0,
    keep_params: bool = False,
    checkpoint_dir: "str | pathlib.Path | None" = None,
) -> DeepSamples:
    """Sample the posterior of L-hidden-layer networks (`DeepNetwork`) by Langevin dynamics
    (module docstring): the chains start from the prior, run `sampler.burn_in` steps, then keep
    `sampler.n_samples` samples `sampler.thin` steps apart, as in `sample`.

    **Arguments:**
    - `key`: JAX PRNG key; the same key gives the same run.
    - `X`, `y`: the P training inputs (rows, dimension N0) and labels. The network dtype is
      that of `X`; pass float32 `X` for float32 networks, about 3x faster.
    - `widths`: (N_1, ..., N_L), integers >= 1, L >= 1. `temperature`: T > 0.
    - `lambdas`: (lambda0, ..., lambda_L), the prior precisions of W_1, ..., W_L and v (each
      > 0; default all 1): the indexing of `jaxtl.deep.single_task`.
    - `activation`: "erf", "identity", "tanh" or an `Activation`.
    - `sampler`: a `Langevin`. `X_test`: P0 test inputs at which the output is measured.
    - `anchor`, `coupling`: as in `sample`, for the first layer W_1: gamma/2 |W_1 - W_1~|^2 in
      -log p, W_1~ of shape (N_1, N0) or (n_chains, N_1, N0); gamma = inf holds W_1 = W_1~.
    - `keep_params`: also return every kept network. `checkpoint_dir`: as in `sample`, the
      per-sample outputs holding `weight_norms`, lambda_l |M_l|^2 per layer, shape (L + 1,).

    **Returns:** a `DeepSamples`; with `DeepSamples.norms` and `test_error` the counterparts
    of `jaxtl.deep.single_task`'s `norms` and `test_error` (`nets.compare` puts them side by side).
    """
    X, y, X_test = _data(X, y, X_test)
    if isinstance(widths, (int, float)) or len(widths) < 1:
        raise ValueError(f"widths must be a sequence (N_1, ..., N_L) of L >= 1 widths, got {widths!r}")
    widths = tuple(_checks.count("widths", n) for n in widths)
    L = len(widths)
    lambdas = jnp.ones(L + 1) if lambdas is None else jnp.atleast_1d(_checks.positive("lambdas", lambdas))
    _checks.shape("lambdas", lambdas, (L + 1,), f"(L + 1,) = ({L + 1},): lambda0, ..., lambda_L")
    dtype = X.dtype
    temperature, lambdas = _checks.positive("temperature", temperature).astype(dtype), lambdas.astype(dtype)
    coupling, anchor = _anchor(coupling, anchor, (sampler.n_chains, widths[0], X.shape[1]), dtype)
    post = _DeepPosterior(X, y, temperature, lambdas, jnp.asarray(0.0 if math.isinf(coupling) else coupling, dtype),
                          frozen=math.isinf(coupling))  # fmt: skip
    nets, keys = _initialize(key, sampler.n_chains, X.shape[1], widths, lambdas, activation, dtype, anchor, post.frozen)
    run = _chains(post, nets, anchor, keys, sampler, X_test, keep_params=keep_params, checkpoint_dir=checkpoint_dir)
    norms = _layer_norms(run.per_sample["weight_norms"], X.shape[1], widths, lambdas, run.step_size, temperature)
    return _samples(run, run.means, run.per_sample, run.final, run.per_sample.get("params"), cls=DeepSamples,
                    mean_layers=run.means["layers"], layer_norms=norms)  # fmt: skip
