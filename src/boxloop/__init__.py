"""boxloop: discover checked Bayesian models from data."""

__version__ = "0.1.0"
