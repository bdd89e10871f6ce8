"""Modules of the SMART block built on smartops' fused operators."""
from smartops.nn.relation_pool import RelationPool
from smartops.nn.smart import SMART, RelationBlock
from smartops.nn.convert import convert_to_smart
from smartops.nn.fold import fold_for_inference
from smartops.nn.sync_batch_norm import SyncBatchNorm, convert_sync_batchnorm

__all__ = ["RelationPool", "SMART", "RelationBlock", "convert_to_smart", "fold_for_inference",
           "SyncBatchNorm", "convert_sync_batchnorm"]
