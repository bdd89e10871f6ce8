"""The two released deploy nets as layer tables (shared/notes/caffe-release.md
sections 2.3 and 2.5), written here independently of smartops, with a
layer-by-layer interpreter (torch.nn.functional) and a .caffemodel writer.

A row is (name, type, bottoms, top, settings); ReLU and Dropout are in place.
"""
from collections import namedtuple

import numpy as np
import torch
import torch.nn.functional as F

import protobuf_writer as pw

Row = namedtuple("Row", "name type bottoms top p")


def conv(name, bottom, out, inp, k, s=(1, 1, 1), p=(0, 0, 0), bias=True, group=1):
    return Row(name, "Convolution", [bottom], name, dict(out=out, inp=inp, k=k, s=s, pad=p, bias=bias, group=group))


def conv3(name, bottom, out, inp, stride=1, bias=True):
    return conv(name, bottom, out, inp, (3, 3, 3), (stride,) * 3, (1, 1, 1), bias)


def bn(name, bottom, c):
    return Row(name, "BN", [bottom], name, dict(c=c))


def relu(name, blob):
    return Row(name, "ReLU", [blob], blob, {})


def bn_relu(name, bottom, c):
    return [bn(name + "_bn", bottom, c), relu(name + "_relu", name + "_bn")]


def eltwise(name, a, b):
    return Row(name, "Eltwise", [a, b], name, {})


def smart(name, k, bottom, c, inp, bias, stride=1, kernel=3):
    """ARTNet's SMART unit in the release: <name> (1xkxk) + BN, <name>_t (3xkxk)
    + BN -> energy (square) -> pooling (grouped 1x1x1, 0.5) -> BN, concat, ReLU,
    redu (1x1x1). Returns the rows; the unit's output is redu<k>."""
    pad = kernel // 2
    return [conv(name, bottom, c, inp, (1, kernel, kernel), (stride,) * 3, (0, pad, pad), bias),
            bn(name + "_bn", name, c),
            conv(name + "_t", bottom, c, inp, (3, kernel, kernel), (stride,) * 3, (1, pad, pad), bias),
            bn(name + "_t_bn", name + "_t", c),
            Row("energy%d" % k, "Power", [name + "_t_bn"], "energy%d" % k, {}),
            conv("pooling%d" % k, "energy%d" % k, c // 2, c, (1, 1, 1), bias=False, group=c // 2),
            bn("pooling%d_bn" % k, "pooling%d" % k, c // 2),
            Row("concat%d" % k, "Concat", [name + "_bn", "pooling%d_bn" % k], "concat%d" % k, {}),
            relu("concat%d_relu" % k, "concat%d" % k),
            conv("redu%d" % k, "concat%d" % k, c, c + c // 2, (1, 1, 1), bias=bias)]


def head(bottom):
    return [Row("global_pool", "Pooling", [bottom], "global_pool", dict(k=(1, 7, 7))),
            Row("global_pool_reshape", "Reshape", ["global_pool"], "global_pool_reshape", {}),
            Row("dropout", "Dropout", ["global_pool_reshape"], "global_pool_reshape", {}),
            Row("fc8", "InnerProduct", ["global_pool_reshape"], "fc-action", dict(out=400, inp=512))]


def _unit(rows, name, prev_sum, prev_act, inp, c, stride, bias, second):
    """One residual unit: <name>_1 (3x3x3) + BN + ReLU, the second conv rows
    from second(bottom, bias) -> (rows, output blob), the shortcut (prev_sum,
    or <name>_down on prev_act), the sum <name>, then <name>_bn + ReLU."""
    rows += [conv3(name + "_1", prev_act, c, inp, stride, bias)] + bn_relu(name + "_1", name + "_1", c)
    branch_rows, out = second(name + "_1_bn", bias)
    rows += branch_rows
    shortcut = prev_sum
    if stride != 1:
        rows.append(conv3(name + "_down", prev_act, c, inp, stride, True))
        shortcut = name + "_down"
    rows.append(eltwise(name, out, shortcut))
    rows += bn_relu(name, name, c)
    return name, name + "_bn"


def c3d_rows():
    rows = [conv("conv1", "data", 64, 3, (3, 7, 7), (2, 2, 2), (1, 3, 3), True), bn("conv1_bn", "conv1", 64),
            relu("relu1", "conv1_bn")]
    s, a, inp = "conv1", "conv1_bn", 64
    for stage, c in zip((2, 3, 4, 5), (64, 128, 256, 512)):
        for j, unit in enumerate("ab"):
            name = "res%d%s" % (stage, unit)
            stride = 2 if stage > 2 and j == 0 else 1
            s, a = _unit(rows, name, s, a, inp, c, stride, True,  # every C3D conv has a bias
                         lambda bottom, bias, name=name, c=c: ([conv3(name + "_2", bottom, c, c, 1, bias)],
                                                               name + "_2"))
            inp = c
    return rows + head(a)


def artnet_rows():
    rows = smart("conv1", 1, "data", 64, 3, False, stride=2, kernel=7)
    rows += [bn("redu1_bn", "redu1", 64), relu("redu1_relu", "redu1_bn")]
    s, a, inp, k = "redu1", "redu1_bn", 64, 2
    for stage, c in zip((2, 3, 4, 5), (64, 128, 256, 512)):
        for j, unit in enumerate("ab"):
            name = "res%d%s" % (stage, unit)
            stride = 2 if stage > 2 and j == 0 else 1
            if stage < 5:
                second = (lambda bottom, bias, name=name, c=c, k=k:
                          (smart(name + "_2", k, bottom, c, c, bias), "redu%d" % k))
                k += 1
            else:
                second = (lambda bottom, bias, name=name, c=c: ([conv3(name + "_2", bottom, c, c, 1, bias)],
                                                                name + "_2"))
            s, a = _unit(rows, name, s, a, inp, c, stride, c > 64, second)  # biases from res3 on
            inp = c
    return rows + head(a)


def blob_shapes(row):
    p = row.p
    if row.type == "Convolution":
        w = (p["out"], p["inp"] // p["group"]) + tuple(p["k"])
        return [w, (p["out"],)] if p["bias"] else [w]
    if row.type == "BN":
        return [(1, p["c"])] * 4
    if row.type == "InnerProduct":
        return [(p["out"], p["inp"]), (p["out"],)]
    return []


def random_blobs(rows, seed=0):
    """{layer name: [float32 arrays]}: He-scaled weights (1/64 of that on the
    convolutions that read pixels), small biases, BN scale/shift/mean/positive
    variance, and 0.5 for the fixed pair means: finite logits on videos."""
    rng = np.random.default_rng(seed)
    out = {}
    for row in rows:
        shapes = blob_shapes(row)
        if not shapes:
            continue
        if row.name.startswith("pooling") and row.type == "Convolution":
            out[row.name] = [np.full(shapes[0], 0.5, np.float32)]
        elif row.type == "BN":  # after a pair mean of squares the mean is about 1, elsewhere 0
            c = shapes[0]
            mean = rng.uniform(0.5, 1.5, c) if row.name.startswith("pooling") else rng.normal(0, 0.2, c)
            out[row.name] = [rng.uniform(0.5, 1.5, c), rng.normal(0, 0.2, c), mean, rng.uniform(0.5, 2.0, c)]
            out[row.name] = [b.astype(np.float32) for b in out[row.name]]
        else:  # keeps activations of order 1 through the squares
            fan_in = int(np.prod(shapes[0][1:]))
            # The first convolutions read pixels minus the mean (spread ~64, not
            # 1): scaled down, or the squares overflow to inf/NaN logits by res3.
            gain = 1.0 / 64 if row.bottoms == ["data"] else 1.0
            out[row.name] = [rng.standard_normal(s, np.float32) * np.float32(scale)
                             for s, scale in zip(shapes, (gain * np.sqrt(1.0 / fan_in), 0.1))]
    return out


def caffemodel_bytes(rows, blobs, **blob_options):
    """A .caffemodel as the fork's solver writes it (the training net: an
    unnamed-blob data layer, Split and loss layers without blobs around the
    weight layers; a ParamSpec on convolutions), in the real wire format."""
    param = pw.length_field(6, pw.varint_field(3, 0))  # param { lr_mult ... } is skipped by readers
    layers = [pw.layer("data", "VideoData", tops=["data", "label"]),
              pw.layer("data_reshape", "Reshape", ["data"], ["data_reshape"]),
              pw.layer("label_data_1_split", "Split", ["label"], ["label_a", "label_b"])]
    for row in rows:
        b = [pw.blob(a.shape, a, **blob_options) for a in blobs.get(row.name, [])]
        layers.append(pw.layer(row.name, row.type, row.bottoms, [row.top], b, param if b else b""))
    layers += [pw.layer("loss", "SoftmaxWithLoss", ["fc-action", "label_a"], ["loss"]),
               pw.layer("top1", "Accuracy", ["fc-action", "label_b"], ["top1"])]
    return pw.net("C3D", layers)


def interpret(rows, blobs, data):
    """Runs the table on `data` (N, 3, T, H, W), BGR, in the dtype of data."""
    t = {"data": data}
    param = {name: [torch.from_numpy(b).to(data.device, data.dtype) for b in bl] for name, bl in blobs.items()}
    for row in rows:
        x = [t[b] for b in row.bottoms]
        w, p = param.get(row.name), row.p
        if row.type == "Convolution":
            y = F.conv3d(x[0], w[0], w[1] if p["bias"] else None, p["s"], p["pad"], 1, p["group"])
        elif row.type == "BN":  # test phase: stored mean and variance, eps 1e-5
            scale, shift, mean, var = (v.reshape(1, -1, 1, 1, 1) for v in w)
            y = (x[0] - mean) / torch.sqrt(var + 1e-5) * scale + shift
        elif row.type == "Power":
            y = x[0] ** 2
        elif row.type == "Concat":
            y = torch.cat(x, 1)
        elif row.type == "ReLU":
            y = F.relu(x[0])
        elif row.type == "Eltwise":
            y = x[0] + x[1]
        elif row.type == "Pooling":
            y = F.avg_pool3d(x[0], p["k"], 1)
        elif row.type == "Reshape":
            y = x[0].reshape(-1, 512)
        elif row.type == "Dropout":
            y = x[0]
        elif row.type == "InnerProduct":
            y = F.linear(x[0], w[0], w[1])
        else:
            raise ValueError(row.type)
        t[row.top] = y
    return t
