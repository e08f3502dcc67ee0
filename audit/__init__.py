"""audit: a responsible-AI auditing and benchmarking suite for PyTorch models."""

__version__ = "0.1.0"
