"""boxloop: discover checked Bayesian models from data."""

__version__ = "0.1.0"


def discover(data, **options):
    """Discover a checked Bayesian model for `data`; see `boxloop.api.discover` for the options."""
    from .api import discover as _discover

    return _discover(data, **options)


__all__ = ["discover", "__version__"]
