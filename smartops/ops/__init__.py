"""Fused SMART-block operators and their pure-PyTorch references.

- relation_pool:   BN -> square -> adjacent-pair mean -> BN -> ReLU, fused.
- concat_reduce:   1x1x1 conv of a channel concatenation, without forming it.
- batch_norm_relu: BN + ReLU that saves only its input for backward.
- relation_tail:   the relation branch after BN folding (inference).
- reference:       the eager compositions they are defined by.
"""
from smartops.ops import reference
from smartops.ops.batch_norm_relu import batch_norm_relu
from smartops.ops.concat_reduce import concat_reduce
from smartops.ops.reference import concat_reduce_reference, pair_mean, relation_pool_reference
from smartops.ops.relation_pool import relation_pool
from smartops.ops.relation_tail import relation_tail, relation_tail_reference

__all__ = ["relation_pool", "concat_reduce", "batch_norm_relu", "relation_pool_reference",
           "concat_reduce_reference", "pair_mean", "reference", "relation_tail", "relation_tail_reference"]
