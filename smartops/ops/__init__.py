"""Fused SMART-block operators and their pure-PyTorch references.

- relation_pool: BN -> square -> adjacent-pair mean -> BN -> ReLU, fused.
- reference:     the eager compositions they are defined by.
"""
from smartops.ops import reference
from smartops.ops.reference import pair_mean, relation_pool_reference
from smartops.ops.relation_pool import relation_pool

__all__ = ["relation_pool", "relation_pool_reference", "pair_mean", "reference"]
