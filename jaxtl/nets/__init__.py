"""Langevin-sampled one-hidden-layer networks: the empirical ground truth of the theories.

`Network` is the finite network of jaxtl/theory/README.md, section 1;
`sample` draws it from its posterior by Langevin dynamics with the settings of a `Langevin`;
`transfer` runs the Franz-Parisi transfer protocol (section "Transfer"), whose source chains
`sample_source` draws alone, to be shared by several couplings; `compare` puts a
solved theory and sampled networks side by side. Every measurement is an `Estimate`
(value and standard error over independent chains). Where a theory describes training
instead (the feature-transfer theory), `train` trains a `Network` by full-batch Adam and
`fit_readout` fits the exact readout on frozen features. `sample_mean_field` and
`transfer_mean_field` sample the mean-field (muP) network of the adaptive-kernel theory,
f = (gamma0 N)^{-1} w . phi(W x / sqrt(D)), through `sample` and `transfer` on rescaled labels,
and measure its feature kernel; `transfer_mean_field` also has the joint (annealed) reading.
`DeepNetwork` has L hidden layers (jaxtl/theory/README.md, section 12); `sample_deep` draws it
from its posterior with the same chains, measuring every layer's weight norm (`DeepSamples`),
the counterparts of `jaxtl.deep.single_task`; `deep_transfer` runs the transfer protocol on them
(`DeepTransferSamples`), the counterpart of `jaxtl.deep.transfer`.
"""

from ._comparison import Comparison as Comparison, compare as compare, compare_single_task as compare_single_task
from ._deep_sampling import DeepSamples as DeepSamples, sample_deep as sample_deep
from ._estimate import Estimate as Estimate
from ._langevin import Langevin as Langevin, Samples as Samples, sample as sample
from ._mean_field import (
    MeanFieldSamples as MeanFieldSamples,
    MeanFieldTransferSamples as MeanFieldTransferSamples,
    sample_mean_field as sample_mean_field,
    transfer_mean_field as transfer_mean_field,
)
from ._network import DeepNetwork as DeepNetwork, Network as Network
from ._training import fit_readout as fit_readout, train as train
from ._transfer_sampling import (
    DeepTransferSamples as DeepTransferSamples,
    TransferSamples as TransferSamples,
    deep_transfer as deep_transfer,
    sample_source as sample_source,
    transfer as transfer,
)
