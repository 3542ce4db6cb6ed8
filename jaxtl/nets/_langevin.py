"""Unadjusted Langevin sampling of the network posterior, vmapped over independent chains.

Theory note (`shared/theory/transfer.md`), section "Network, prior, posterior", and, for the
elastic coupling of the first layer to an anchor W~ (a source sample), section "Transfer":

    p(W, v) ∝ exp(-L/T - lambda0/2 |W|^2 - lambda1/2 |v|^2 - gamma/2 |W - W~|^2),
    L = 1/2 sum_mu (y_mu - f(x_mu))^2.

With the potential U = -T log p = L + T (lambda0/2 |W|^2 + lambda1/2 |v|^2 + gamma/2 |W - W~|^2)
one step is theta <- theta - eta grad U(theta) + sqrt(2 eta T) xi, xi ~ N(0, 1): the note's
update, with the coupling (like the prior) not divided by T. gamma = inf holds W at W~ and
samples v alone.
"""

import dataclasses
import functools
import math
import pathlib

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from jaxtyping import Array, ArrayLike, Bool, Float, Int, PRNGKeyArray, PyTree
from tqdm.auto import tqdm

from .. import _checks
from ..theory._activation import Activation
from ._estimate import Estimate, jackknife, prediction, test_error
from ._network import Network
from .._repr import Readable
from ..theory._result import Prediction, TestError

# Default step: this fraction of 1 / (largest curvature of U at the initial chains). For a
# direction of curvature a, the sampled variance is T / (a (1 - eta a / 2)): at most 5.3% too
# large in the stiffest direction, nearly exact in the soft ones; eta a = 2 diverges.
_STEP_FRACTION = 0.1
_POWER_ITERATIONS = 30


class Langevin(eqx.Module):
    """Settings of the Langevin sampler (jaxtl/theory/README.md, section 1.3).

    **Fields:**
    - `n_chains`: independent chains, run in parallel (vmapped); error bars come from them.
    - `burn_in`: steps discarded at the start of every chain (rounded up to a multiple of
      `thin`).
    - `n_samples`: samples kept per chain after the burn-in.
    - `thin`: steps between two kept samples.
    - `step_size`: eta of the update (module docstring); stable for eta < 2 / a_max. `None`
      picks eta = 0.1 / a_max with a_max the largest Hessian eigenvalue of U at the initial
      chains (power iteration): the discretization inflates variances by at most
      1 / (1 - eta a_max / 2) = 1.053, and by that much only in the stiffest directions.
    - `chunk`: kept samples per compiled chunk; progress, divergence checks and checkpoints
      happen between chunks (the burn-in too runs in chunks of `chunk * thin` steps).
    - `progress`: show a tqdm progress bar over the chunks.
    - `throw`: raise a `RuntimeError` when a chain diverges (non-finite weights); with
      `False` the result carries `diverged` and its estimates are NaN.
    """

    n_chains: int = 4
    burn_in: int = 1000
    n_samples: int = 100
    thin: int = 10
    step_size: "float | None" = None
    chunk: int = 100
    progress: bool = False
    throw: bool = True

    def __check_init__(self):
        for name in ("n_chains", "n_samples", "thin", "chunk"):
            _checks.count(f"Langevin({name}=...)", getattr(self, name))
        _checks.count("Langevin(burn_in=...)", self.burn_in, minimum=0)
        if self.step_size is not None:
            _checks.positive("step_size", self.step_size)


class Samples(Readable):
    """What a Langevin run measured, per chain (leading axis: chains).

    Averages over the kept samples of each chain are accumulated during the run, so that
    no parameters need be stored; `params` holds them only when asked for.

    **Fields:**
    - `step_size`: the eta used; `curvature`: largest Hessian eigenvalue of U at the start.
    - `mean_output`, `mean_output_sq`: per chain, the average over kept samples of f(x0) and
      f(x0)^2 at the P0 test points, shape (chains, P0).
    - `mean_readout`: per chain, the average readout vector <v>, shape (chains, N1).
    - `readout_norm`: lambda1 |v|^2 / N1 per kept sample, shape (chains, n_samples); its
      average is the network counterpart of the order parameter Q (jaxtl/theory/README.md, section 5.1).
    - `loss`: the training loss L per kept sample, shape (chains, n_samples).
    - `mean_kernel`: with `sample(..., kernel=True)`, per chain, the average over kept
      samples of the hidden-layer (feature) kernel Phi(x, x') = sigma(h(x)) . sigma(h(x')) / N1,
      h(x) = W x / sqrt(N0), on the P training points, shape (chains, P, P); else None.
    - `mean_kernel_test`: likewise on (test, training) pairs, shape (chains, P0, P); else None.
    - `final`: the chains' last networks (fields with a leading chain axis), which are
      their last kept samples.
    - `params`: the kept networks (leading axes chains, n_samples), or None.
    - `diverged`: per chain, whether its weights became non-finite.
    """

    step_size: float
    curvature: float
    mean_output: Float[Array, "chains P0"]
    mean_output_sq: Float[Array, "chains P0"]
    mean_readout: Float[Array, "chains N1"]
    readout_norm: Float[Array, "chains samples"]
    loss: Float[Array, "chains samples"]
    mean_kernel: "Float[Array, 'chains P P'] | None"
    mean_kernel_test: "Float[Array, 'chains P0 P'] | None"
    final: Network
    params: "Network | None"
    diverged: Bool[Array, " chains"]
    _shown = ("Q", "diverged", "step_size", "curvature", "mean_output", "readout_norm")

    @property
    def Q(self) -> Estimate:
        """lambda1 <|v|^2> / N1 averaged over chains, with its standard error."""
        return jackknife(lambda q: q, self.readout_norm.mean(1))

    @property
    def order_parameters(self) -> "dict[str, Estimate]":
        """The measured order parameters by their theory names: {"Q": `Q`}."""
        return {"Q": self.Q}

    def predict(self) -> Estimate[Prediction]:
        """Posterior mean and variance of f(x0) at the test points, shape (P0,) each."""
        return prediction(self.mean_output, self.mean_output_sq)

    def test_error(self, y_test: Float[ArrayLike, " P0"]) -> Estimate[TestError]:
        """Test error at the test points against labels `y_test` (total, bias2, variance)."""
        y_test = jnp.asarray(y_test, self.mean_output.dtype)
        _checks.shape("y_test", y_test, self.mean_output.shape[1:], "(P0,)")
        return test_error(self.mean_output, self.mean_output_sq, y_test)


class _Posterior(eqx.Module):
    """The potential U = -T log p of one chain (module docstring), its data, and what a kept
    sample measures."""

    X: Float[Array, "P N0"]
    y: Float[Array, " P"]
    temperature: Float[Array, ""]
    lambda0: Float[Array, ""]
    lambda1: Float[Array, ""]
    coupling: Float[Array, ""]
    frozen: bool = eqx.field(static=True)  # coupling = inf: W held at the anchor

    def potential(self, net: Network, anchor: "Float[Array, 'N1 N0'] | None") -> Float[Array, ""]:
        residual = self.y - net(self.X)
        prior = self.lambda0 * jnp.sum(net.W**2) + self.lambda1 * jnp.sum(net.v**2)
        if anchor is not None and not self.frozen:
            prior = prior + self.coupling * jnp.sum((net.W - anchor) ** 2)
        return 0.5 * jnp.sum(residual**2) + 0.5 * self.temperature * prior

    def split(self, net: Network) -> "tuple[Network, Network]":
        """(the sampled weights, the rest): W is not sampled when frozen."""
        sampled = jax.tree.map(lambda _: True, net)
        if self.frozen:
            sampled = eqx.tree_at(lambda n: n.W, sampled, False)
        return eqx.partition(net, sampled)

    def measure(self, net: Network, X_test: Float[Array, "P0 N0"], kernel: bool) -> "tuple[dict, dict]":
        """What one kept network measures: (per-sample outputs: the loss and readout norm;
        terms of the running sums: f(X_test), f(X_test)^2, v and, if `kernel`, the feature
        kernel on (train, train) and (test, train) pairs)."""
        per_sample = {
            "loss": 0.5 * jnp.sum((self.y - net(self.X)) ** 2),
            "readout_norm": self.lambda1 * jnp.sum(net.v**2) / net.v.shape[0],
        }
        f = net(X_test)
        running = {"output": f, "output_sq": f**2, "readout": net.v}
        if kernel:
            n1, n0 = net.W.shape
            train = net.activation(self.X @ net.W.T / math.sqrt(n0))
            test = net.activation(X_test @ net.W.T / math.sqrt(n0))
            running["kernel"] = train @ train.T / n1
            running["kernel_test"] = test @ train.T / n1
        return per_sample, running


def _step(post: _Posterior, step_size, net: Network, anchor, key: PRNGKeyArray) -> Network:
    """theta <- theta - eta grad U(theta) + sqrt(2 eta T) xi for the sampled weights."""
    params, rest = post.split(net)
    force = jax.grad(lambda p: post.potential(eqx.combine(p, rest), anchor))(params)
    leaves, treedef = jax.tree.flatten(params)
    keys = jax.random.split(key, len(leaves))
    noise = treedef.unflatten([jax.random.normal(k, x.shape, x.dtype) for k, x in zip(keys, leaves)])
    scale = jnp.sqrt(2 * step_size * post.temperature)
    params = jax.tree.map(lambda p, g, xi: p - step_size * g + scale * xi, params, force, noise)
    return eqx.combine(params, rest)


def _measure(post, net, X_test, keep_params: bool, kernel: bool) -> "tuple[dict, dict]":
    """`post.measure`, with the network itself among the per-sample outputs if `keep_params`."""
    per_sample, running = post.measure(net, X_test, kernel)
    if keep_params:
        per_sample = {**per_sample, "params": net}
    return per_sample, running


@eqx.filter_jit
def _run(post, step_size, nets, anchors, keys, sums, X_test, n_blocks: Int[Array, ""], chunk: int, thin: int,
         keep_params: bool, kernel: bool):
    """Every chain: `n_blocks` (<= `chunk`) blocks of `thin` steps, each followed by a measurement.

    `sums` (per chain: of the running terms of `post.measure`, e.g. f(X_test), f(X_test)^2
    and v) accumulate the measurements; the per-block outputs (e.g. the loss, the readout
    norm and, if `keep_params`, the network) fill the first `n_blocks` rows of buffers of
    length `chunk`. `n_blocks` is traced, so that one compilation serves every chunk, a
    shorter last one included. `post` may be any posterior with `potential`, `split`,
    `measure` and `temperature` (a `_Posterior`, or the joint one of `_joint_sampling`).
    """

    def chain(net, anchor, key, sums):
        def step(carry, _):
            net, key = carry
            key, sub = jax.random.split(key)
            return (_step(post, step_size, net, anchor, sub), key), None

        def block(i, carry):
            net, key, sums, outs = carry
            (net, key), _ = jax.lax.scan(step, (net, key), length=thin)
            per_sample, running = _measure(post, net, X_test, keep_params, kernel)
            outs = jax.tree.map(lambda buffer, x: buffer.at[i].set(x), outs, per_sample)
            return net, key, jax.tree.map(jnp.add, sums, running), outs

        shapes = jax.eval_shape(lambda n: _measure(post, n, X_test, keep_params, kernel)[0], net)
        outs = jax.tree.map(lambda x: jnp.zeros((chunk, *x.shape), x.dtype), shapes)
        return jax.lax.fori_loop(0, n_blocks, block, (net, key, sums, outs))

    return eqx.filter_vmap(chain)(nets, anchors, keys, sums)


@eqx.filter_jit
def _curvature(post, nets, anchors) -> Float[Array, ""]:
    """Largest |eigenvalue| of the Hessian of U over the chains, by power iteration."""

    def chain(net, anchor):
        params, rest = post.split(net)
        flat, unravel = ravel_pytree(params)

        def grad(theta):
            g = jax.grad(lambda p: post.potential(eqx.combine(p, rest), anchor))(unravel(theta))
            return ravel_pytree(g)[0]

        def iterate(_, u):
            hu = jax.jvp(grad, (flat,), (u,))[1]
            return hu / jnp.linalg.norm(hu)

        u0 = jax.random.normal(jax.random.key(0), flat.shape, flat.dtype)
        u = jax.lax.fori_loop(0, _POWER_ITERATIONS, iterate, u0 / jnp.linalg.norm(u0))
        return jnp.linalg.norm(jax.jvp(grad, (flat,), (u,))[1])

    return eqx.filter_vmap(chain)(nets, anchors).max()


@eqx.filter_jit
def _initialize(key, chains, n0, width, lambda0, lambda1, activation, dtype, anchor, frozen):
    """Networks drawn from the prior (with W = anchor if frozen) and a PRNG key per chain."""
    key_init, key_run = jax.random.split(key)
    init = eqx.filter_vmap(
        lambda k: Network.from_prior(k, n0, width, lambda0=lambda0, lambda1=lambda1, activation=activation, dtype=dtype)
    )
    nets = init(jax.random.split(key_init, chains))
    if frozen:
        nets = eqx.tree_at(lambda n: n.W, nets, anchor)
    return nets, jax.random.split(key_run, chains)


@eqx.filter_jit
def _finite(nets) -> Bool[Array, " chains"]:
    """Per chain, whether every weight of its network (any pytree, leading chain axis) is finite."""
    leaves = jax.tree.leaves(eqx.filter(nets, eqx.is_inexact_array))
    return jnp.stack([jnp.isfinite(x).reshape(x.shape[0], -1).all(1) for x in leaves]).all(0)


def _named_arrays(tree, prefix: str = "") -> "dict[str, Array]":
    """The arrays of nested dicts and modules by their joined names, e.g. {"loss": ...,
    "W": ..., "source_loss": ...}; a kept network (key "params") adds its fields' names."""
    if isinstance(tree, dict):
        items = tree.items()
    elif isinstance(tree, eqx.Module):
        items = ((field.name, getattr(tree, field.name)) for field in dataclasses.fields(tree))
    else:
        return {prefix: tree} if eqx.is_array(tree) else {}
    arrays = {}
    for name, x in items:
        arrays.update(_named_arrays(x, prefix if name == "params" else f"{prefix}_{name}" if prefix else name))
    return arrays


def _save_chunk(path: pathlib.Path, out: dict, sums: dict, kept: int) -> None:
    """One checkpoint: this chunk's per-sample outputs and the running means so far."""
    arrays = {**_named_arrays(out), "n_kept": kept}
    arrays.update({f"mean_{name}": total / kept for name, total in _named_arrays(sums).items()})
    np.savez(path, **jax.tree.map(np.asarray, arrays))


def _chunks(total: int, size: int) -> "list[int]":
    return [size] * (total // size) + ([total % size] if total % size else [])


class _Run(eqx.Module):
    """What `_chains` returns: the step, the curvature, the chains' last networks, the means
    over kept samples of `post.measure`'s running terms (per chain), its per-sample outputs
    (leading axes chains, n_samples) and which chains diverged."""

    step_size: float
    curvature: float
    final: PyTree
    means: dict
    per_sample: dict
    diverged: Bool[Array, " chains"]


def _chains(post, nets, anchor, keys, sampler: Langevin, X_test, *, keep_params: bool = False, kernel: bool = False,
            checkpoint_dir: "str | pathlib.Path | None" = None) -> _Run:
    """Run the chains `nets` (leading chain axis) of the posterior `post` as `sample` documents:
    the step size, the burn-in, the kept samples in chunks, divergence checks, checkpoints."""
    curvature = float(_curvature(post, nets, anchor))
    step_size = sampler.step_size or _STEP_FRACTION / curvature
    dtype = jax.tree.leaves(eqx.filter(nets, eqx.is_inexact_array))[0].dtype
    eta = jnp.asarray(step_size, dtype)
    chains = sampler.n_chains

    diverged = np.zeros(chains, bool)

    def check(nets, steps_done):
        diverged[:] |= ~np.asarray(_finite(nets))
        if sampler.throw and diverged.any():
            raise RuntimeError(
                f"Langevin sampling diverged: chains {np.flatnonzero(diverged).tolist()} hold "
                f"non-finite weights by step {steps_done} (step_size = {step_size:.3g}, "
                f"step_size x curvature = {step_size * curvature:.3g}; above 2 the dynamics "
                "is unstable). Lower step_size, or pass Langevin(throw=False) for the partial result."
            )

    def zeros(kernel):
        running = eqx.filter_eval_shape(eqx.filter_vmap(lambda n: post.measure(n, X_test, kernel)[1]), nets)
        return jax.tree.map(lambda x: jnp.zeros(x.shape, x.dtype), running)

    if checkpoint_dir is not None:
        checkpoint_dir = pathlib.Path(checkpoint_dir)
        checkpoint_dir.mkdir(parents=True, exist_ok=True)
    burn_in_blocks = -(-sampler.burn_in // sampler.thin)
    total = (burn_in_blocks + sampler.n_samples) * sampler.thin
    steps_done = 0
    with tqdm(total=total, unit="step", disable=not sampler.progress, desc="Langevin") as bar:
        chunk = min(sampler.chunk, sampler.n_samples)
        run = functools.partial(_run, post, eta, X_test=X_test, chunk=chunk, thin=sampler.thin)
        # the burn-in measures what the kept samples do (kernel included: one compilation
        # fewer, at the cost of one kernel per `thin` steps), keeping no parameters
        burn_in_zeros = zeros(kernel)
        for n in _chunks(burn_in_blocks, chunk):
            nets, keys, _, _ = run(nets, anchor, keys, burn_in_zeros, n_blocks=jnp.asarray(n), keep_params=False,
                                   kernel=kernel)
            steps_done += n * sampler.thin
            check(nets, steps_done)
            bar.update(n * sampler.thin)
        sums, outs, kept = zeros(kernel), [], 0
        for i, n in enumerate(_chunks(sampler.n_samples, chunk)):
            nets, keys, sums, out = run(nets, anchor, keys, sums, n_blocks=jnp.asarray(n), keep_params=keep_params,
                                        kernel=kernel)
            out = jax.tree.map(lambda x: x[:, :n], out)
            steps_done += n * sampler.thin
            kept += n
            check(nets, steps_done)
            outs.append(out)
            if checkpoint_dir is not None:
                _save_chunk(checkpoint_dir / f"chunk_{i:05d}.npz", out, sums, kept)
            bar.update(n * sampler.thin)

    return _Run(
        step_size=float(step_size),
        curvature=curvature,
        final=nets,
        means=jax.tree.map(lambda total: total / sampler.n_samples, sums),
        per_sample=jax.tree.map(lambda *parts: jnp.concatenate(parts, axis=1), *outs),
        diverged=jnp.asarray(diverged),
    )


def _samples(run: _Run, means: dict, per_sample: dict, final: Network, params: "Network | None", cls=Samples,
             **extra) -> Samples:
    """The `Samples` of one network of a run (`means`, `per_sample`: its measurements); `cls`
    a subclass of `Samples` whose further fields are `extra`."""
    return cls(
        step_size=run.step_size,
        curvature=run.curvature,
        mean_output=means["output"],
        mean_output_sq=means["output_sq"],
        mean_readout=means["readout"],
        readout_norm=per_sample["readout_norm"],
        loss=per_sample["loss"],
        mean_kernel=means.get("kernel"),
        mean_kernel_test=means.get("kernel_test"),
        final=final,
        params=params,
        diverged=run.diverged,
        **extra,
    )


def _data(X, y, X_test) -> "tuple[Float[Array, 'P N0'], Float[Array, ' P'], Float[Array, 'P0 N0']]":
    """The checked training data and test inputs (none: P0 = 0), all in the network dtype:
    that of X (float64 for integer or float64 inputs). P = 0 is allowed (the prior alone)."""
    X = jnp.asarray(X)
    dtype = jnp.result_type(X, float)
    X = _checks.finite("X", X).astype(dtype)
    _checks.inputs("X", X, empty=True)  # P = 0 samples the prior (and the coupling) alone
    n_points, n0 = X.shape
    y = _checks.finite("y", y).astype(dtype)
    _checks.shape("y", y, (n_points,), "(P,)")
    X_test = jnp.zeros((0, n0), dtype) if X_test is None else _checks.finite("X_test", X_test).astype(dtype)
    _checks.shape("X_test", X_test, (X_test.shape[0], n0), "(P0, N0)")
    return X, y, X_test


def _anchor(coupling, anchor, shape: "tuple[int, int, int]", dtype) -> "tuple[float, Array | None]":
    """The checked coupling gamma >= 0 (a float) and first-layer anchor: None at gamma = 0,
    else of `shape` (n_chains, N1, N0), broadcast from (N1, N0)."""
    coupling = float(_checks.interval("coupling", coupling, 0.0, np.inf, allow_inf=True))
    if coupling == 0:
        return coupling, None
    if anchor is None:
        raise ValueError("a coupling > 0 needs an anchor (the first layer W~ it couples to)")
    anchor = jnp.asarray(anchor, dtype)
    if anchor.shape == shape[1:]:
        anchor = jnp.broadcast_to(anchor, shape)
    _checks.shape("anchor", anchor, shape, "(n_chains, N1, N0) or (N1, N0)")
    return coupling, anchor


def sample(
    key: PRNGKeyArray,
    X: Float[ArrayLike, "P N0"],
    y: Float[ArrayLike, " P"],
    *,
    width: int,
    temperature: float,
    lambda0: float = 1.0,
    lambda1: float = 1.0,
    activation: "str | Activation" = "erf",
    sampler: Langevin = Langevin(),
    X_test: "Float[ArrayLike, 'P0 N0'] | None" = None,
    anchor: "Float[ArrayLike, '*chains N1 N0'] | None" = None,
    coupling: float = 0.0,
    keep_params: bool = False,
    kernel: bool = False,
    checkpoint_dir: "str | pathlib.Path | None" = None,
) -> Samples:
    """Sample the posterior of one-hidden-layer networks by Langevin dynamics (module docstring).

    The chains start from the prior (with W = anchor when `coupling` is inf), run
    `sampler.burn_in` steps, then keep `sampler.n_samples` samples `sampler.thin` steps apart.

    **Arguments:**
    - `key`: JAX PRNG key; the same key gives the same run.
    - `X`, `y`: the P training inputs (rows, dimension N0) and labels. The network dtype is
      that of `X` (float64 for integer or float64 inputs); pass float32 `X` for float32
      networks, about 3x faster. Everything else is cast to this dtype.
    - `width`: N1 hidden units. `temperature`: T > 0. `lambda0`, `lambda1`: prior
      precisions of W and v. `activation`: "erf", "identity", "tanh" or an `Activation`.
    - `sampler`: a `Langevin` (chains, burn-in, samples, thinning, step size, progress).
    - `X_test`: P0 test inputs at which the output is measured (`Samples.test_error`).
    - `anchor`, `coupling`: the first layer W~ (shape (N1, N0), or (n_chains, N1, N0) for
      one per chain) and gamma >= 0 of the term gamma/2 |W - W~|^2 in -log p; gamma = inf
      holds W = W~ and samples v alone. The anchor is ignored when gamma = 0.
    - `keep_params`: also return every kept network (chains x n_samples x N1 x (N0 + 1)
      numbers).
    - `kernel`: also average the feature kernel sigma(h(x)) . sigma(h(x')) / N1 over the kept
      samples, on the training points and on (test, training) pairs (`Samples.mean_kernel`,
      `Samples.mean_kernel_test`): (P + P0) x P numbers per chain, not the parameters.
    - `checkpoint_dir`: if given, after every chunk of kept samples write
      `chunk_00000.npz`, ... there, holding that chunk's `loss`, `readout_norm` (and `W`,
      `v` with `keep_params`) and the running `mean_output`, `mean_output_sq`,
      `mean_readout` (and `mean_kernel`, `mean_kernel_test` with `kernel`) over all samples
      kept so far, with `n_kept`.

    **Returns:** a `Samples`. A chain whose weights become non-finite raises a
    `RuntimeError` naming the step size (or, with `sampler.throw=False`, is marked in
    `Samples.diverged`).
    """
    X, y, X_test = _data(X, y, X_test)
    dtype, n0 = X.dtype, X.shape[1]
    width = _checks.count("width", width)
    chains = sampler.n_chains
    coupling, anchor = _anchor(coupling, anchor, (chains, width, n0), dtype)
    post = _Posterior(
        X,
        y,
        temperature=_checks.positive("temperature", temperature).astype(dtype),
        lambda0=_checks.positive("lambda0", lambda0).astype(dtype),
        lambda1=_checks.positive("lambda1", lambda1).astype(dtype),
        coupling=jnp.asarray(0.0 if math.isinf(coupling) else coupling, dtype),
        frozen=math.isinf(coupling),
    )

    nets, keys = _initialize(key, chains, n0, width, lambda0, lambda1, activation, dtype, anchor, post.frozen)
    run = _chains(post, nets, anchor, keys, sampler, X_test, keep_params=keep_params, kernel=kernel,
                  checkpoint_dir=checkpoint_dir)
    return _samples(run, run.means, run.per_sample, run.final, run.per_sample.get("params"))
