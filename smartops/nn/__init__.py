"""Modules of the SMART block built on smartops' fused operators."""
from smartops.nn.relation_pool import RelationPool

__all__ = ["RelationPool"]
