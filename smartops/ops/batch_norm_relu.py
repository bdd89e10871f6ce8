"""BatchNorm + ReLU that saves only its input for backward.

The eager composition keeps both the BN input (for BN's backward) and the
ReLU output (for its mask). Here the output is recomputed in backward from
the input and the per-channel statistics, so a layer ending a SMART block
keeps one tensor instead of two. Built from ATen ops, so it runs on every
device, and traced by torch.compile as an ordinary autograd.Function.
"""
import torch

from smartops.ops.running_stats import check_running_pair, update_running_stats


def _affine(x, weight, bias, mean, invstd):
    """x * alpha + beta per channel, in x's dtype: BN's output before the
    ReLU. Forward and backward both call this, so the ReLU mask is
    reproduced bit for bit."""
    alpha = invstd * weight
    beta = bias - mean * alpha
    shape = (1, -1) + (1,) * (x.dim() - 2)
    return torch.addcmul(beta.view(shape), x, alpha.view(shape)).to(x.dtype)


def _batch_stats(x):
    """Per-channel mean and biased variance, in x's dtype (the parameters'
    precision: float32 for a half-precision input). Eager: BN's own
    statistics kernel, several times faster than var_mean over N, T, H, W.
    Under torch.compile: var_mean, because aten.batch_norm_update_stats has
    no fake-tensor implementation (dynamic shapes fail on it) and the
    compiler fuses the reduction anyway."""
    if torch.compiler.is_compiling():
        var, mean = torch.var_mean(x, [d for d in range(x.dim()) if d != 1], correction=0)
        return mean, var
    return torch.batch_norm_update_stats(x, None, None, 0.0)


class _BatchNormReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, running_mean, running_var, batch_stats, momentum, eps):
        if batch_stats:
            mean, var = _batch_stats(x.to(weight.dtype))
            update_running_stats(running_mean, running_var, mean, var, x.numel() // x.shape[1], momentum)
        else:
            mean, var = running_mean, running_var
        invstd = torch.rsqrt(var + eps)
        out = _affine(x, weight, bias, mean, invstd).relu_()
        ctx.save_for_backward(x, weight, bias, mean, invstd)
        ctx.batch_stats, ctx.eps = batch_stats, eps
        return out

    @staticmethod
    def backward(ctx, grad_out):
        x, weight, bias, mean, invstd = ctx.saved_tensors
        if x.numel() == 0:  # an empty batch (evaluation only): torch 2.13's CPU kernel would divide by zero
            return torch.zeros_like(x), torch.zeros_like(weight), torch.zeros_like(bias), None, None, None, None, None
        grad_q = torch.ops.aten.threshold_backward(grad_out.to(x.dtype), _affine(x, weight, bias, mean, invstd), 0)
        # native_batch_norm_backward takes the statistics as (save_mean,
        # save_invstd) in training and as (running_mean, running_var) else.
        if ctx.batch_stats:
            stats = (None, None, mean, invstd)
        else:
            stats = (mean, invstd.pow(-2) - ctx.eps, None, None)
        grad_x, grad_w, grad_b = torch.ops.aten.native_batch_norm_backward(
            grad_q, x, weight, *stats, ctx.batch_stats, ctx.eps, [True, True, True])
        return grad_x, grad_w, grad_b, None, None, None, None, None


def batch_norm_relu(x, weight, bias, running_mean, running_var, training, momentum=0.1, eps=1e-5):
    """relu(F.batch_norm(x, running_mean, running_var, weight, bias, training,
    momentum, eps)), saving only x and per-channel vectors for backward.

    weight and bias are required (an affine BN). momentum may be a 0-d tensor.
    """
    if not x.is_floating_point():  # as torch's batch_norm: no integer kernels
        raise NotImplementedError("batch_norm_relu: not implemented for %s input; x must be a floating-point tensor"
                                  % x.dtype)
    check_running_pair("batch_norm_relu", "", running_mean, running_var)
    if not training and running_mean is None:
        raise ValueError("batch_norm_relu: running statistics are required when training=False")
    if training and x.numel() // x.shape[1] < 2:
        raise ValueError("batch_norm_relu: expected more than 1 value per channel when training, got input of "
                         "shape %s" % (tuple(x.shape),))
    return _BatchNormReLU.apply(x, weight, bias, running_mean, running_var, training, momentum, eps)
