"""boxloop: discover checked Bayesian models from data.

    boxloop.check(program, data=None)   # parse and check a Stan program
    boxloop.fit(program, data, ...)     # fit it with NUTS, with the diagnostics and PSIS-LOO
    boxloop.discover(data, ...)         # propose, fit, critique and revise models of the data

See `boxloop.api` (and docs/api.md) for the options; they load on first use, so that importing
boxloop starts neither JAX nor the search stack.
"""

__version__ = "0.1.0"

_API = ("check", "fit", "discover")


def __getattr__(name):
    if name in _API:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'boxloop' has no attribute {name!r}")


__all__ = [*_API, "__version__"]
