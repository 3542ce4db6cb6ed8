"""The transfer protocol on sampled networks (jaxtl/theory/README.md, section 4.1).

Source chains sample the source posterior at the source temperature T_s; for every kept
source sample (W~, v~), target chains sample, at the target temperature T_t,
p(W, v | W~) ∝ exp(-L_t/T_t - lambda0/2 |W|^2 - lambda1/2 |v|^2 - gamma/2 |W - W~|^2).
Target observables are averaged over target samples, then over source samples (the source is
quenched). The independent unit for error bars is a source chain with all target chains
that hang from its samples.
"""

import dataclasses
import pathlib

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from .. import _checks
from ..theory._activation import Activation
from ._estimate import Estimate, jackknife, test_error
from ._deep_sampling import DeepSamples, sample_deep
from ._langevin import Langevin, Samples, sample
from .._repr import Readable
from ..theory._result import TestError
from ..tasks._task_pair import TaskPair


class TransferSamples(Readable):
    """What the transfer protocol measured.

    **Fields:**
    - `source`: the source chains' `Samples`, kept networks included.
    - `target`: the target chains' `Samples`, chains ordered as
      (source chain, kept source sample, target chain) and flattened.
    - `lambda1`: readout prior precision (for the overlaps below).

    Order parameters as network observables (jaxtl/theory/README.md, section 5.1), each averaged over
    target chains and source samples, error bars over source chains:
    `Q_s` = lambda1 <|v~|^2>/N1, `Q_t` = lambda1 <|v|^2>/N1, `Q_st` = lambda1 v~ . <v>/N1,
    `Q_tt` = lambda1 <v>_a . <v>_b / N1 for two target chains a != b on the same source sample.
    """

    source: Samples
    target: Samples
    lambda1: float
    _shown = ("Q_s", "Q_t", "Q_st", "Q_tt", "lambda1")

    def _per_source_sample(self, x: Float[Array, "target_chains ..."]) -> Float[Array, "chains samples targets ..."]:
        chains, samples = self.source.readout_norm.shape
        return x.reshape(chains, samples, -1, *x.shape[1:])

    def _per_unit(self, x: Float[Array, "target_chains ..."]) -> Float[Array, "chains ..."]:
        chains = self.source.readout_norm.shape[0]
        return x.reshape(chains, -1, *x.shape[1:]).mean(1)

    @property
    def Q_s(self) -> Estimate:
        """Source readout norm lambda1 <|v~|^2> / N1 (the source's single-task Q)."""
        return self.source.Q

    @property
    def Q_t(self) -> Estimate:
        """Target readout norm lambda1 <|v|^2> / N1."""
        return jackknife(lambda q: q, self._per_unit(self.target.readout_norm.mean(1)))

    @property
    def Q_st(self) -> Estimate:
        """Source-target readout overlap lambda1 v~ . <v> / N1."""
        v_source = self.source.params.v  # (chains, samples, N1)
        v_target = self._per_source_sample(self.target.mean_readout)  # (chains, samples, targets, N1)
        n1 = v_source.shape[-1]
        overlap = self.lambda1 * jnp.einsum("csi,csti->cst", v_source, v_target) / n1
        return jackknife(lambda q: q, overlap.mean((1, 2)))

    @property
    def Q_tt(self) -> Estimate:
        """Overlap of two target chains on one source sample, lambda1 <v>_a . <v>_b / N1."""
        v = self._per_source_sample(self.target.mean_readout)  # (chains, samples, targets, N1)
        n_targets, n1 = v.shape[-2:]
        total = v.sum(2)
        pairs = (jnp.sum(total**2, -1) - jnp.sum(v**2, (-2, -1))) / (n_targets * (n_targets - 1))
        return jackknife(lambda q: q, self.lambda1 * pairs.mean(1) / n1)

    @property
    def order_parameters(self) -> "dict[str, Estimate]":
        """The measured order parameters by their theory names: Q_s, Q_t, Q_st, Q_tt."""
        return {"Q_s": self.Q_s, "Q_t": self.Q_t, "Q_st": self.Q_st, "Q_tt": self.Q_tt}

    def test_error(self, y_test: Float[ArrayLike, " P0"]) -> Estimate[TestError]:
        """Target test error at the target test points, averaged over target then source samples."""
        y_test = jnp.asarray(y_test, self.target.mean_output.dtype)
        _checks.shape("y_test", y_test, self.target.mean_output.shape[1:], "(P0,)")
        return test_error(self._per_unit(self.target.mean_output), self._per_unit(self.target.mean_output_sq), y_test)


_SOURCE_SAMPLER = Langevin(n_samples=2, thin=1000)


def _target_chains(W_source: Float[Array, "chains samples N1 N0"], target_sampler: Langevin) -> "tuple[Array, Langevin]":
    """The target chains' anchors, each kept source sample's first layer repeated for its
    `target_sampler.n_chains` target chains, shape (chains x samples x targets, N1, N0), and
    the target sampler with that many chains."""
    anchors = jnp.repeat(W_source.reshape(-1, *W_source.shape[2:]), target_sampler.n_chains, axis=0)
    return anchors, dataclasses.replace(target_sampler, n_chains=anchors.shape[0])


def sample_source(
    key: PRNGKeyArray,
    pair: TaskPair,
    *,
    width: int,
    temperature: float,
    lambda0: float = 1.0,
    lambda1: float = 1.0,
    activation: "str | Activation" = "erf",
    sampler: Langevin = _SOURCE_SAMPLER,
    checkpoint_dir: "str | pathlib.Path | None" = None,
    kernel: bool = False,
) -> Samples:
    """The transfer protocol's first step: the source chains on (pair.Xs, pair.ys), kept
    networks included, exactly as `transfer` samples them with the same `key`.

    Pass the result to `transfer(key, pair, ..., source=...)` to run target chains at several
    couplings on the same source samples (the source does not depend on the coupling):
    `transfer` with the same key then gives the result it gives without `source`.

    **Arguments:** as in `transfer` (`sampler` is its `source_sampler`); checkpoints go to the
    `source` subfolder of `checkpoint_dir`; `kernel`: also measure the source's feature
    kernel on its training points (`Samples.mean_kernel`, see `sample`).
    """
    key_source, _ = jax.random.split(key)
    folder = {} if checkpoint_dir is None else {"checkpoint_dir": pathlib.Path(checkpoint_dir) / "source"}
    return sample(key_source, pair.Xs, pair.ys, width=width, temperature=temperature, lambda0=lambda0, lambda1=lambda1,
                  activation=activation, sampler=sampler, keep_params=True, kernel=kernel, **folder)


def transfer(
    key: PRNGKeyArray,
    pair: TaskPair,
    *,
    width: int,
    temperature: float,
    coupling: float,
    source_temperature: "float | None" = None,
    lambda0: float = 1.0,
    lambda1: float = 1.0,
    activation: "str | Activation" = "erf",
    source_sampler: Langevin = _SOURCE_SAMPLER,
    target_sampler: Langevin = Langevin(n_chains=2),
    checkpoint_dir: "str | pathlib.Path | None" = None,
    source: "Samples | None" = None,
    kernel: bool = False,
) -> TransferSamples:
    """Run the transfer protocol: source chains, then target chains coupled to each source sample.

    **Arguments:**
    - `key`: JAX PRNG key.
    - `pair`: a `jaxtl.tasks.TaskPair`: source data (Xs, ys), target data (Xt, yt), and the
      target test inputs X0 at which the target networks' outputs are measured. The network
      dtype follows the source inputs (see `sample`).
    - `width`, `lambda0`, `lambda1`, `activation`: as in `sample`, shared by source and target
      networks.
    - `temperature`: the target chains' temperature T_t (as in `sample`).
    - `source_temperature`: the source chains' temperature T_s; None (default): T_t.
    - `coupling`: gamma >= 0 of gamma/2 |W - W~|^2 (not divided by T); 0 gives independent
      single-task target chains, inf holds the target's W at the source sample's.
    - `source_sampler`: the source chains; its `n_samples` samples per chain, `thin` steps
      apart, are the source samples W~ (keep them far apart: they should be independent).
    - `target_sampler`: chains per source sample (`n_chains` >= 2, for `Q_tt`), their
      burn-in, samples and thinning. All target chains run together, vmapped:
      source chains x source samples x target chains of them.
    - `checkpoint_dir`: checkpoints of the source and target runs go to its `source` and
      `target` subfolders (see `sample`).
    - `source`: source chains already sampled (`sample_source`, or `sample` with
      `keep_params=True`) with the same pair, width, source temperature, lambda0, lambda1 and
      activation: they are used instead of sampling new ones (and `source_sampler` is unused).
    - `kernel`: also measure the feature kernels (see `sample`): the source's on its training
      points (when the source is sampled here) and the target's on the target training points
      and on (X0, target training) pairs (`Samples.mean_kernel`, `mean_kernel_test`).

    **Returns:** a `TransferSamples`; its `test_error(pair.y0)` is the target test error.
    """
    if target_sampler.n_chains < 2:
        raise ValueError(f"target_sampler.n_chains must be >= 2 (Q_tt needs two target chains), got {target_sampler.n_chains}")
    common = dict(width=width, lambda0=lambda0, lambda1=lambda1, activation=activation)
    if source is None:
        T_s = temperature if source_temperature is None else source_temperature
        source = sample_source(key, pair, **common, temperature=T_s, sampler=source_sampler, checkpoint_dir=checkpoint_dir,
                               kernel=kernel)
    elif source.params is None:
        raise ValueError("source must hold its kept networks: sample it with nets.sample_source (or keep_params=True)")
    else:
        _checks.shape("source.params.W", source.params.W, (*source.params.W.shape[:2], width, pair.Xs.shape[1]),
                      "(chains, samples, width, N0)")
    _, key_target = jax.random.split(key)

    anchors, sampler = _target_chains(source.params.W, target_sampler)
    folder = {} if checkpoint_dir is None else {"checkpoint_dir": pathlib.Path(checkpoint_dir) / "target"}
    target = sample(
        key_target,
        pair.Xt.astype(anchors.dtype),
        pair.yt,
        sampler=sampler,
        X_test=pair.X0,
        anchor=anchors,
        coupling=coupling,
        temperature=temperature,
        kernel=kernel,
        **common,
        **folder,
    )
    return TransferSamples(source=source, target=target, lambda1=float(lambda1))


class DeepTransferSamples(TransferSamples):
    """What the transfer protocol measured on networks of two (or more) hidden layers
    (`deep_transfer`): `source` and `target` are `DeepSamples`, `lambda1` is the readout's
    prior precision lambda_L, so that `Q_s`, `Q_t` are the readout norms and `Q_st`, `Q_tt` the
    readout overlaps lambda_L v_s . <v_t> / N_L and lambda_L <v_t>_a . <v_t>_b / N_L (zero in the
    theory: jaxtl/theory/README.md, section 12.3); `second_lambda` is W_2's, for
    `second_layer_overlap`."""

    second_lambda: float
    _shown = ("Q_s", "Q_t", "Q_st", "Q_tt", "second_layer_overlap", "lambda1")

    @property
    def second_layer_overlap(self) -> Estimate:
        """The second layers' overlap lambda_1 W_2~ : <W_2> / (N_1 N_2) of a source sample and its
        target chains (zero in the theory; lambda_1 |W_2|^2 / (N_1 N_2) is about 1)."""
        W_source = self.source.params.layers[1]  # (chains, samples, N2, N1)
        W_target = self._per_source_sample(self.target.mean_layers[1])  # (chains, samples, targets, N2, N1)
        overlap = self.second_lambda * jnp.einsum("csij,cstij->cst", W_source, W_target) / W_source[0, 0].size
        return jackknife(lambda q: q, overlap.mean((1, 2)))

    @property
    def order_parameters(self) -> "dict[str, Estimate]":
        """Q_s, Q_t, Q_st, Q_tt of the readouts and `second_layer_overlap`."""
        return super().order_parameters | {"second_layer_overlap": self.second_layer_overlap}


def deep_transfer(
    key: PRNGKeyArray,
    pair: TaskPair,
    *,
    widths: "tuple[int, ...]",
    temperature: float,
    coupling: float,
    source_temperature: "float | None" = None,
    lambdas: "Float[ArrayLike, ' L1'] | None" = None,
    activation: "str | Activation" = "erf",
    source_sampler: Langevin = _SOURCE_SAMPLER,
    target_sampler: Langevin = Langevin(n_chains=2),
    source: "DeepSamples | None" = None,
) -> DeepTransferSamples:
    """The transfer protocol of `transfer` on deep networks (`sample_deep`, L >= 2 hidden layers
    of `widths`): source chains on (pair.Xs, pair.ys) at T_s, then for every kept source sample
    `target_sampler.n_chains` target chains on (pair.Xt, pair.yt) at T_t whose first layer is
    anchored to that sample's W_1 by gamma/2 |W_1 - W_1~|^2; the deeper layers and readouts are
    free. `source`: deep source chains already sampled (`sample_deep` with `keep_params=True`,
    same pair, widths, T_s, lambdas, activation), shared by several couplings; with the same
    `key`, the result is the one without it. Other arguments as in `transfer` and `sample_deep`.

    **Returns:** a `DeepTransferSamples`; its `test_error(pair.y0)` is the target test error.
    """
    if target_sampler.n_chains < 2:
        raise ValueError(f"target_sampler.n_chains must be >= 2 (Q_tt needs two target chains), got {target_sampler.n_chains}")
    key_source, key_target = jax.random.split(key)
    common = dict(widths=widths, lambdas=lambdas, activation=activation)
    if source is None:
        T_s = temperature if source_temperature is None else source_temperature
        source = sample_deep(key_source, pair.Xs, pair.ys, **common, temperature=T_s, sampler=source_sampler,
                             keep_params=True)  # fmt: skip
    elif source.params is None:
        raise ValueError("source must hold its kept networks: sample it with nets.sample_deep(..., keep_params=True)")
    if len(source.final.layers) < 2:
        raise ValueError(f"widths must have L >= 2 hidden layers for deep_transfer (nets.transfer is L = 1), got {widths!r}")
    anchors, sampler = _target_chains(source.params.layers[0], target_sampler)
    target = sample_deep(key_target, pair.Xt.astype(anchors.dtype), pair.yt, **common, temperature=temperature,
                         sampler=sampler, X_test=pair.X0, anchor=anchors, coupling=coupling)  # fmt: skip
    lambdas = jnp.ones(len(widths) + 1) if lambdas is None else jnp.asarray(lambdas)
    return DeepTransferSamples(source=source, target=target, lambda1=float(lambdas[-1]), second_lambda=float(lambdas[1]))
