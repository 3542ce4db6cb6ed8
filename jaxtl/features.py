"""Readouts learned on frozen features: the exact learning curves of the Gaussian covariate
model (jaxtl/theory/README.md, section 9).

`learning_curve(Omega, Phi, theta, *, samples, ridge, loss="square" | "logistic")` gives the
test classification error, the test mean squared error and the training loss of a readout
(square loss or logistic regression, ridge penalty) fitted on `samples`
samples of features v with population covariances Omega = E[v v^T] and Phi = E[v u^T], for
labels y = sign(theta . u / sqrt(D)) of a Gaussian latent u: the readout of a network whose
first layer was transferred from a source task and frozen.

`feature_covariances(W, F)` gives Omega and Phi of the features phi(W x / sqrt(N0)) of a
frozen layer W on hidden-manifold data x = sigma(F^T c / sqrt(D)) in closed form (Gaussian
equivalence); `sampled_feature_covariances(key, W, F, samples=...)` by Monte Carlo, its
reference.

The whole transfer protocol (a source network trained, its first layer transferred, the
readout's theory beside random features, scratch training and fine-tuning) is the theory
"feature_transfer" (`jaxtl.theory.FeatureTransfer`), run by `jaxtl.sweep`,
`jaxtl.learning_curves` and `jaxtl.optimize`.
"""

from .theory._readout import ReadoutCurve as ReadoutCurve, learning_curve as learning_curve
from .theory._feature_covariances import (
    FeatureCovariances as FeatureCovariances,
    feature_covariances as feature_covariances,
    sampled_feature_covariances as sampled_feature_covariances,
)
