"""Two-stream helpers: cross-modality initialisation and the evaluation of
an RGB and a flow checkpoint on the same videos, fused.

Cross-modality initialisation (TSN): a flow network starts from an RGB one
by averaging the first convolution's weights over the 3 colour channels and
repeating that mean over the 2 flow channels; every other weight is kept.
"""
from __future__ import annotations

import copy
import os
from typing import Callable, Dict

import torch

__all__ = ["TWO_STREAM_WEIGHTS", "cross_modality_state", "run_two_stream"]

#: RGB : flow score weights of the paper's two-stream results (TSN's)
TWO_STREAM_WEIGHTS = (1.0, 1.5)


def cross_modality_state(state: Dict[str, torch.Tensor], in_channels: int = 2
                         ) -> Dict[str, torch.Tensor]:
    """``state`` with every 5-d conv weight that reads 3 input channels (the
    stem's) replaced by its channel mean repeated ``in_channels`` times."""
    out = dict(state)
    changed = []
    for name, w in state.items():
        if name.endswith("weight") and w.dim() == 5 and w.shape[1] == 3:
            out[name] = w.mean(1, keepdim=True).repeat(1, in_channels, 1, 1, 1)
            changed.append(name)
    if not changed:
        raise ValueError("no 3-channel input convolution in the state dict: it is not an RGB model "
                         "(cross-modality initialisation starts from one)")
    return out


def run_two_stream(args, evaluate_one: Callable, log=print) -> int:
    """``smartops-eval --two-stream RGB FLOW``: evaluates both checkpoints
    with the same clips x crops (each on its own data: ``--data`` for RGB,
    ``--flow-data`` for flow, default the checkpoints' validation data),
    then prints RGB, flow and fused top-1/top-5 (probabilities weighted
    ``--fuse-weights``, default 1 : 1.5). ``evaluate_one(namespace)`` is the
    single-checkpoint evaluation; it writes OUTPUT/{rgb,flow}/scores.npz."""
    import numpy as np

    from smartops.engine.metrics import accuracy_report
    from smartops.eval import _print_report, fuse_scores, load_scores

    rgb_ckpt, flow_ckpt = args.two_stream
    output = args.output or os.path.join(os.path.dirname(os.path.abspath(flow_ckpt)), "two_stream")
    weights = args.fuse_weights or list(TWO_STREAM_WEIGHTS)
    sources = []
    for stream, ckpt, data in (("rgb", rgb_ckpt, args.data), ("flow", flow_ckpt, args.flow_data)):
        one = copy.copy(args)
        one.checkpoint, one.data, one.two_stream, one.fuse = ckpt, data, None, []
        one.fuse_weights, one.output = None, os.path.join(output, stream)
        log("== %s stream: %s" % (stream, ckpt), flush=True)
        code = evaluate_one(one)
        if code:
            return code
        sources.append(load_scores(os.path.join(one.output, "scores.npz")))
        crops = one.crops  # resolved from the checkpoint when not given
    probs, labels, ids, notes = fuse_scores(sources, weights)
    for note in notes:
        log("note: " + note, flush=True)
    classes = [str(c) for c in sources[0]["classes"]]
    log("== two-stream (the same %d clips x %d crops per video)" % (args.clips, crops), flush=True)
    for stream, s in zip(("RGB", "flow"), sources):
        _print_report(stream, accuracy_report(s["probs"], s["labels"], len(classes)), len(classes))
    _print_report("fused (RGB %g : flow %g)" % tuple(weights), accuracy_report(probs, labels, len(classes)),
                  len(classes))
    path = os.path.join(output, "fused.npz")
    np.savez(path, probs=probs, labels=labels, ids=np.asarray(ids, dtype=str),
             classes=np.asarray(classes, dtype=str), weights=np.asarray(weights))
    log("fused scores: %s" % path, flush=True)
    return 0
