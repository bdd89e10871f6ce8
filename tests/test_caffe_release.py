"""The released Caffe networks (c3d_resnet18_caffe, artnet_resnet18_caffe) and
smartops-convert-caffe, against synthetic .caffemodel files in the real wire
format and an independent layer-by-layer interpreter of the release's tables
(tests/caffe_release_nets.py)."""
import copy
import json

import numpy as np
import pytest
import torch

import caffe_release_nets as nets
import protobuf_writer as pw
from smartops import convert_caffe
from smartops.caffe.convert import ConversionError, convert_layers
from smartops.caffe.mapping import PAIR_MEAN, caffe_targets
from smartops.caffe.wire import Blob, Layer, read_caffemodel
from smartops.engine.checkpoint import load_checkpoint
from smartops.engine.modeling import model_from_checkpoint
from smartops.models import get_model, set_fused

ROWS = {"c3d_resnet18_caffe": nets.c3d_rows, "artnet_resnet18_caffe": nets.artnet_rows}
# The smallest clip the release's fixed 1x7x7 pooling takes (H, W >= 97); T = 4
# still gives every temporal kernel two or more real frames in the stem and res2.
SMALL_CLIP = (1, 3, 4, 97, 97)


def n_params(model):
    return sum(p.numel() for p in model.parameters())


def meta_model(arch):
    with torch.device("meta"):
        return set_fused(get_model(arch), False).eval()


# ---------------------------------------------------------------- the architectures

def test_tables_match_the_note():
    """The test's tables have the note's layer, weight-layer and blob counts."""
    for rows, counts in ((nets.artnet_rows(), (129, 80, 218)), (nets.c3d_rows(), (66, 38, 110))):
        assert (len(rows), sum(1 for r in rows if nets.blob_shapes(r)),
                sum(len(nets.blob_shapes(r)) for r in rows)) == counts


@pytest.mark.parametrize("arch, params, running", [("c3d_resnet18_caffe", 37_847_312, 7_808),
                                                   ("artnet_resnet18_caffe", 39_675_216, 12_608)])
def test_parameter_counts(arch, params, running):
    model = meta_model(arch)
    assert n_params(model) == params
    stats = sum(b.numel() for k, b in model.state_dict().items() if k.endswith(("running_mean", "running_var")))
    assert stats == running
    fixed = sum(int(np.prod(s)) for t in caffe_targets(model) for k, s in t.blobs if k is PAIR_MEAN)
    assert fixed == (960 if "artnet" in arch else 0)  # the release's pooling* weights, not parameters here


@pytest.mark.parametrize("arch", list(ROWS))
def test_every_output_shape_matches_the_table(arch):
    """At the release's 1x3x16x112x112, every conv / BN / fc output of the model
    has the shape of the same Caffe layer's top (the table run on meta)."""
    model = meta_model(arch)
    modules = dict(model.named_modules())
    seen = {}
    for t in caffe_targets(model):
        key = next((k for k, _ in t.blobs if k is not PAIR_MEAN), None)
        if key is not None:
            module = modules[key.rsplit(".", 1)[0]]
            module.register_forward_hook(lambda m, i, o, name=t.name: seen.__setitem__(name, o.shape))
    x = torch.empty(1, 3, 16, 112, 112, device="meta")
    with torch.no_grad():
        out = model(x)
    rows = ROWS[arch]()
    tops = nets.interpret(rows, {name: [np.zeros(s, np.float32) for s in nets.blob_shapes(r)]
                                 for r in rows for name in [r.name] if nets.blob_shapes(r)}, x)
    caffe = {r.name: tops[r.top].shape for r in rows
             if nets.blob_shapes(r) and not (r.type == "Convolution" and r.name.startswith("pooling"))}
    assert seen == caffe and len(seen) == (73 if "artnet" in arch else 38)
    assert seen["res5b_bn"] == (1, 512, 1, 7, 7) and out.shape == (1, 400)
    if "artnet" in arch:
        assert seen["pooling1_bn"] == (1, 32, 8, 56, 56) and seen["redu4"] == (1, 128, 4, 28, 28)


def test_training_fused_equals_unfused():
    """Training mode (batch statistics, running-stat updates) and gradients of
    the fused ARTNet wiring equal its pure-PyTorch composition, in float64."""
    torch.manual_seed(0)
    fused = get_model("artnet_resnet18_caffe", width=0.125, num_classes=5, dropout=0.0, fused=True).double()
    unfused = set_fused(copy.deepcopy(fused), False)
    x = torch.randn(2, 3, 4, 32, 32, dtype=torch.float64)
    outs = []
    for model in (fused, unfused):
        out = model.train()(x)
        out.square().sum().backward()
        outs.append((out, [p.grad for p in model.parameters()], list(model.buffers())))
    torch.testing.assert_close(outs[0][0], outs[1][0], rtol=1e-9, atol=1e-9)
    for a, b in zip(outs[0][1] + outs[0][2], outs[1][1] + outs[1][2]):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9)


# ---------------------------------------------------------------- conversion

@pytest.fixture(scope="module")
def releases(tmp_path_factory):
    """releases(arch): a synthetic .caffemodel of that released net (random
    blobs), converted by the CLI into a checkpoint; made once per module."""
    made = {}

    def make(arch):
        if arch not in made:
            rows = ROWS[arch]()
            blobs = nets.random_blobs(rows, seed=len(arch))
            folder = tmp_path_factory.mktemp(arch)
            path = folder / ("112_%s_kinetics.caffemodel" % arch)
            path.write_bytes(nets.caffemodel_bytes(rows, blobs))
            ckpt = folder / "converted.pt"
            assert convert_caffe.main([str(path), "--arch", arch, "-o", str(ckpt)]) == 0
            made[arch] = {"arch": arch, "rows": rows, "blobs": blobs, "path": path, "ckpt": ckpt}
        return made[arch]
    return make


@pytest.fixture(params=list(ROWS))
def release(request, releases):
    return releases(request.param)


@pytest.fixture
def artnet(releases):
    return releases("artnet_resnet18_caffe")


def fingerprint(values):
    """Exact and independent of element order: numel, and the sum and xor of
    the float32 bit patterns."""
    bits = np.ascontiguousarray(values, dtype=np.float32).view(np.int32).ravel()
    return bits.size, int(bits.astype(np.int64).sum()), int(np.bitwise_xor.reduce(bits))


def test_round_trip_is_exact(release):
    """Every tensor of the checkpoint is one blob of the file, bit for bit (up
    to the BGR->RGB order of the first convs), every blob but the fixed pair
    means is used once, and named samples sit where the note says."""
    state = load_checkpoint(release["ckpt"])["model"]
    ours = sorted(fingerprint(v.numpy()) for k, v in state.items() if not k.endswith("num_batches_tracked"))
    theirs = sorted(fingerprint(b) for name, bl in release["blobs"].items()
                    if not name.startswith("pooling") or name.endswith("_bn") for b in bl)
    assert ours == theirs
    b = release["blobs"]
    assert torch.equal(state["fc.weight"], torch.from_numpy(b["fc8"][0]))
    assert torch.equal(state["layer4.1.bn.running_var"], torch.from_numpy(b["res5b_bn"][3][0]))
    assert torch.equal(state["layer2.0.downsample.bias"], torch.from_numpy(b["res3a_down"][1]))
    first = "stem.conv.relation_conv.weight" if "artnet" in release["arch"] else "stem.conv.weight"
    caffe_first = b["conv1_t" if "artnet" in release["arch"] else "conv1"][0]
    assert torch.equal(state[first], torch.from_numpy(caffe_first[:, ::-1].copy()))  # BGR -> RGB


def test_checkpoint_is_a_smartops_checkpoint(release):
    ckpt = load_checkpoint(release["ckpt"])
    assert ckpt["model_config"]["arch"] == release["arch"] and ckpt["model_config"]["num_classes"] == 400
    assert ckpt["class_names"] == [str(i) for i in range(400)] and ckpt["class_names_missing"] is True
    assert ckpt["args"] == {"clip_len": 16, "frame_stride": 1, "frame_size": [128, 170], "crop_size": 112,
                            "mean": [123.0, 117.0, 104.0], "std": None}
    assert ckpt["converted_from"]["unused"] == []


def test_converted_model_matches_the_released_graph(release):
    """The CLIs' model from the checkpoint, fused and unfused, in float64 against
    the interpreter of the release's table: BGR input to the table, RGB to ours."""
    model, _ = model_from_checkpoint(load_checkpoint(release["ckpt"]))
    model.double().eval()
    x = torch.randn(SMALL_CLIP, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ref = nets.interpret(release["rows"], release["blobs"], x)["fc-action"]
        modes = (True, False) if "artnet" in release["arch"] else (True,)  # C3D has no fused units
        for fused in modes:
            out = set_fused(model, fused)(x.flip(1))
            torch.testing.assert_close(out, ref, rtol=0, atol=1e-9, msg=lambda m: "fused=%s: %s" % (fused, m))
    assert ref.abs().max() > 0.1  # a meaningful comparison


# ---------------------------------------------------------------- errors

def test_wrong_network(release, capsys):
    other = next(a for a in ROWS if a != release["arch"])
    assert convert_caffe.main([str(release["path"]), "--arch", other, "-o", str(release["ckpt"]) + ".x"]) == 2
    err = capsys.readouterr().err
    assert "does not hold the weights of %s" % other in err
    if "artnet" in other:  # the C3D file read as ARTNet: conv1 has the C3D shapes, the SMART layers are missing
        assert "layer 'conv1' (Convolution): expected blobs [(64,3,1,7,7)], found [(64,3,3,7,7), (64)]" in err
        assert "missing layer conv1_t (Convolution): [(64,3,3,7,7)]" in err
    else:
        assert "unknown layer 'conv1_t' (Convolution): [(64,3,3,7,7)]" in err
    assert "It holds the weights of %s: convert it with --arch %s." % (release["arch"], release["arch"]) in err


def test_truncated_file(release, tmp_path, capsys):
    cut = tmp_path / "cut.caffemodel"
    data = release["path"].read_bytes()
    cut.write_bytes(data[:len(data) * 2 // 3])
    assert convert_caffe.main([str(cut), "--arch", release["arch"], "-o", str(tmp_path / "x.pt")]) == 2
    err = capsys.readouterr().err
    assert "cut.caffemodel is truncated: layer #" in err and "res5" in err and "download it again" in err
    assert not (tmp_path / "x.pt").exists()


def test_unknown_layer_is_an_error(artnet):
    _, layers = read_caffemodel(artnet["path"])
    layers.append(Layer("fc_extra", "InnerProduct", [Blob((2, 3), np.ones(6, np.float32))]))
    with pytest.raises(ConversionError, match=r"unknown layer 'fc_extra' \(InnerProduct\): \[\(2,3\)\] \(convert "
                                              r"with --allow-unknown"):
        convert_layers(layers, artnet["arch"])


def test_allowed_unknown_layers_are_listed_and_class_names_stored(artnet, tmp_path, capsys):
    extra = pw.length_field(100, pw.layer("fc_extra", "InnerProduct", blobs=[pw.blob((2, 3), np.ones(6))]))
    path = tmp_path / "extra.caffemodel"
    path.write_bytes(artnet["path"].read_bytes() + extra)  # appending a field = one more layer
    names = tmp_path / "classes.txt"
    names.write_text("".join("class %d\n" % i for i in range(400)))
    out = str(tmp_path / "x.pt")
    assert convert_caffe.main([str(path), "--arch", artnet["arch"], "-o", out, "--allow-unknown",
                               "--classes", str(names)]) == 0
    assert "unused: layer 'fc_extra' (InnerProduct): [(2,3)]" in capsys.readouterr().out
    ckpt = load_checkpoint(out)
    assert ckpt["converted_from"]["unused"] == ["'fc_extra' (InnerProduct): [(2,3)]"]
    assert ckpt["class_names"][:2] == ["class 0", "class 1"] and ckpt["class_names_missing"] is False
    names.write_text("a\nb\n")
    assert convert_caffe.main([str(path), "--arch", artnet["arch"], "-o", out, "--classes", str(names)]) == 2
    assert "has 2 names but the network has 400 classes" in capsys.readouterr().err


def test_pair_means_other_than_half_are_refused(artnet):
    _, layers = read_caffemodel(artnet["path"])
    layer = next(lay for lay in layers if lay.name == "pooling3")
    layer.blobs[0].data = np.full_like(layer.blobs[0].data, 0.25)
    with pytest.raises(ConversionError, match="layer 'pooling3' holds pair-mean weights other than 0.5"):
        convert_layers(layers, artnet["arch"])


@pytest.fixture
def video(tmp_path):
    from smartops.data.synthetic import write_video

    path = tmp_path / "clip.mp4"
    write_video(path, np.random.default_rng(0).integers(0, 255, (20, 72, 96, 3), dtype=np.uint8))
    return path


def test_predict_reads_the_converted_checkpoint(artnet, video, capsys):
    """smartops-predict takes the checkpoint as it is, applies its preprocessing
    (a 72x96 video resized to 128x170, 112 crop) and says names are missing."""
    from smartops.predict import main as predict

    assert predict([str(video), "--checkpoint", str(artnet["ckpt"]), "--clips", "1", "--crops", "1",
                    "--topk", "2", "--json"]) == 0
    out, err = capsys.readouterr()
    assert "has no class names: labels 0-399 are shown; convert it again with --classes FILE" in err
    doc = json.loads(out)
    assert doc["arch"] == "artnet_resnet18_caffe" and [t["class"] for t in doc["results"][0]["top"]] == \
        [str(t["index"]) for t in doc["results"][0]["top"]]


def test_eval_reads_the_converted_checkpoint(artnet, video, tmp_path):
    """smartops-eval on a list with the release's integer labels."""
    from smartops.eval import main as evaluate

    listing = tmp_path / "val.txt"
    listing.write_text("%s 7\n" % video)
    out = tmp_path / "eval"
    assert evaluate(["--checkpoint", str(artnet["ckpt"]), "--data", str(listing), "--clips", "1", "--crops", "1",
                     "--workers", "0", "--output", str(out)]) == 0
    with np.load(out / "scores.npz") as scores:
        assert scores["logits"].shape == (1, 400) and list(scores["labels"]) == [7]
        assert list(scores["classes"][:3]) == ["0", "1", "2"]
