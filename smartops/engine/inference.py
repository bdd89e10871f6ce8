"""The inference path of smartops-eval and smartops-predict: the folded
model (BatchNorm folded into the convs, fused relation tail) by default,
the unfolded eval-mode model with --no-fold."""
import argparse
import sys

from smartops.nn.fold import fold_for_inference

__all__ = ["add_fold_argument", "inference_model"]


def add_fold_argument(parser):
    parser.add_argument("--fold", action=argparse.BooleanOptionalAction, default=True,
                        help="fold every BatchNorm into its convolution and run the folded relation tail (default; "
                             "same scores up to float rounding, faster); --no-fold runs the unfolded eval model")


def inference_model(model, fold, log=None):
    """model in eval mode, folded when `fold`; says which path through log
    (default: print to stderr, which keeps --json output on stdout clean)."""
    model.eval()
    if fold:
        model = fold_for_inference(model)
        path = "folded (BatchNorm folded into the convolutions, fused relation tail; --no-fold to compare)"
    else:
        path = "unfolded eval model (--no-fold)"
    (log or (lambda m: print(m, file=sys.stderr, flush=True)))("inference path: " + path)
    return model
