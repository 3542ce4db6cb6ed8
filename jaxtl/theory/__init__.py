"""The theories: kernels, the stationary-point solver, and one module per theory."""
