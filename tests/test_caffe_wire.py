"""smartops.caffe.wire: the protobuf reader against the tests' own writer."""
import numpy as np
import pytest

import protobuf_writer as pw
from smartops.caffe.wire import CaffeFormatError, read_net

RNG = np.random.default_rng(0)
W = RNG.normal(size=(4, 3, 1, 2, 2)).astype(np.float32)
B = RNG.normal(size=(4,)).astype(np.float32)
BN = [RNG.normal(size=(1, 4)).astype(np.float32) for _ in range(4)]


def small_net(**blob_options):
    conv = pw.layer("conv1", "Convolution", ["data"], ["conv1"],
                    [pw.blob(W.shape, W, **blob_options), pw.blob(B.shape, B, **blob_options)],
                    extra=pw.length_field(106, pw.varint_field(1, 4)))  # convolution_param { num_output: 4 }
    bn = pw.layer("conv1_bn", "BN", ["conv1"], ["conv1_bn"], [pw.blob(b.shape, b, **blob_options) for b in BN],
                  extra=pw.length_field(137, b""))
    split = pw.layer("conv1_conv1_0_split", "Split", ["conv1"], ["a", "b"])
    return pw.net("C3D", [conv, split, bn], extra=pw.length_field(200, pw.varint_field(1, 1)))  # mem_param


def check_small(name, layers):
    assert name == "C3D"
    assert [(layer.name, layer.type, len(layer.blobs)) for layer in layers] == [
        ("conv1", "Convolution", 2), ("conv1_conv1_0_split", "Split", 0), ("conv1_bn", "BN", 4)]
    conv, _, bn = layers
    assert conv.blobs[0].shape == W.shape and conv.blobs[1].shape == B.shape
    np.testing.assert_array_equal(conv.blobs[0].data.reshape(W.shape), W)
    np.testing.assert_array_equal(conv.blobs[1].data, B)
    for blob, ref in zip(bn.blobs, BN):
        assert blob.shape == (1, 4)
        np.testing.assert_array_equal(blob.data.reshape(1, 4), ref)


@pytest.mark.parametrize("options", [{}, {"packed": False}, {"chunks": 3}], ids=["packed", "unpacked", "chunks"])
def test_round_trip(options):
    check_small(*read_net(small_net(**options)))


def test_gradients_are_flagged():
    data = pw.net("n", [pw.layer("fc", "InnerProduct", blobs=[pw.blob((2,), [1, 2]) + pw.length_field(6, b"\0" * 8)])])
    blob = read_net(data)[1][0].blobs[0]
    assert blob.has_diff and blob.data.tolist() == [1.0, 2.0]
    assert not read_net(small_net())[1][0].blobs[0].has_diff


def test_legacy_dims_win():
    """As Blob::FromProto: num/channels/height/width are used when present."""
    data = pw.net("n", [pw.layer("fc", "InnerProduct", blobs=[pw.blob((1, 1, 4, 3), np.arange(12), legacy=True)])])
    blob = read_net(data)[1][0].blobs[0]
    assert blob.shape == (1, 1, 4, 3)
    np.testing.assert_array_equal(blob.data, np.arange(12, dtype=np.float32))


def test_truncated_file_names_the_layer():
    data = small_net()
    cut = data[:len(data) - 10]  # inside the last layer, conv1_bn
    with pytest.raises(CaffeFormatError, match=r"x.caffemodel is truncated: layer #2 \('conv1_bn'\) needs \d+ bytes"):
        read_net(cut, "x.caffemodel")


def test_shape_and_data_disagree():
    bad = pw.net("n", [pw.layer("conv1", "Convolution", blobs=[pw.blob((4, 3), np.zeros(11))])])
    with pytest.raises(CaffeFormatError, match=r"layer 'conv1' \(#0\), blob 0: shape \(4, 3\) needs 12 values but "
                                               r"the file holds 11"):
        read_net(bad)


def test_legacy_v1_layers_are_refused():
    with pytest.raises(CaffeFormatError, match="legacy V1 'layers' field"):
        read_net(pw.length_field(2, pw.string_field(4, "conv1")))


def test_not_a_caffemodel():
    with pytest.raises(CaffeFormatError, match="wire type 7"):
        read_net(b"\x0f\x00")
