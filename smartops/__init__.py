"""smartops: fused ARTNet (Appearance-and-Relation Network) operators for PyTorch.

Subpackages:
  smartops.ops     fused custom ops (relation_pool, concat_reduce) and their
                   pure-PyTorch references
  smartops.nn      modules built on them (RelationPool, SMART, ...)
  smartops.models  the paper's ResNet-18 family
  smartops.data    video decoding, dataset formats and the paper's sampling

Importing smartops itself is cheap: subpackages load on first use, so that
e.g. the data pipeline works without the compiled extension.
"""
import importlib

__version__ = "0.1.0"

_SUBMODULES = ("ops", "nn", "models", "data")


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module("smartops." + name)
    raise AttributeError("module 'smartops' has no attribute %r" % name)
