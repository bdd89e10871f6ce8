"""smartops-convert-caffe: a released ARTNet .caffemodel -> a smartops checkpoint.

    smartops-convert-caffe 112_artnet_resnet_18_kinetics.caffemodel --arch artnet_resnet18_caffe -o artnet.pt
    smartops-convert-caffe 112_c3d_resnet_18_kinetics.caffemodel --arch c3d_resnet18_caffe \\
        --classes kinetics400_classes.txt -o c3d.pt

The checkpoint is read by smartops-eval, -predict and -finetune (--pretrained)
like those smartops-train writes. It carries the original test-time
preprocessing (frames resized to 128x170, 112x112 crops, 16-frame clips, the
mean 123,117,104 subtracted from 0-255 RGB values, no scaling), which the
CLIs apply. The release has no class names: its labels are 0-399. --classes
FILE (one name per line, in label order) stores names; without it the
checkpoint stores the indices and smartops-predict says that names are
missing. Every blob of the file is checked against the network; an unknown
layer with blobs is an error unless --allow-unknown, and every unused blob
is listed.
"""
import argparse
import hashlib
import os
import sys
import time

from smartops.caffe.convert import RELEASED, ConversionError, convert_layers, file_classes
from smartops.caffe.wire import CaffeFormatError, read_caffemodel
from smartops.data import AnnotationError, ClassIndex
from smartops.engine.checkpoint import FORMAT, VERSION, atomic_save
from smartops.engine.cli import CLIError, run_main
from smartops.engine.modeling import model_config

__all__ = ["main", "build_parser", "convert", "ORIGINAL_PREPROCESSING", "NAMES_MISSING_KEY"]

# The release's test protocol (ARTNet test/ scripts): BGR frames resized to
# 170x128 (W x H), 10 crops of 112, clips of 16 consecutive frames, BGR mean
# 104,117,123 subtracted on the 0-255 scale. In smartops' RGB order the mean
# is 123,117,104. These are the data options smartops-eval/-predict read.
ORIGINAL_PREPROCESSING = {"clip_len": 16, "frame_stride": 1, "frame_size": [128, 170], "crop_size": 112,
                          "mean": [123.0, 117.0, 104.0], "std": None}
NAMES_MISSING_KEY = "class_names_missing"


def build_parser(prog="smartops-convert-caffe"):
    p = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0].split(": ", 1)[1],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("caffemodel", help="a .caffemodel of the ARTNet release")
    p.add_argument("--arch", required=True, choices=RELEASED, help="the network the file holds")
    p.add_argument("-o", "--output", required=True, metavar="CKPT", help="the checkpoint to write (.pt)")
    p.add_argument("--classes", metavar="FILE", help="class names in label order (one per line)")
    p.add_argument("--allow-unknown", action="store_true",
                   help="convert even when the file has layers with blobs the network lacks (they are listed)")
    return p


def _class_names(path, num_classes):
    if path is None:
        return [str(i) for i in range(num_classes)]
    try:
        names = ClassIndex.from_file(path).names
    except (AnnotationError, FileNotFoundError, ValueError) as err:
        raise CLIError("--classes %s: %s" % (path, err)) from None
    if len(names) != num_classes:
        raise CLIError("--classes %s has %d names but the network has %d classes" % (path, len(names), num_classes))
    return names


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def convert(path, arch, classes=None, allow_unknown=False):
    """The checkpoint dict for a .caffemodel (see the module doc)."""
    try:
        net_name, layers = read_caffemodel(path)
        names = _class_names(classes, file_classes(layers))
        state, report = convert_layers(layers, arch, path, allow_unknown)
    except (CaffeFormatError, ConversionError) as err:
        raise CLIError(str(err)) from None
    config = model_config(arch, report["num_classes"], 1.0, 0.2)
    return {"format": FORMAT, "version": VERSION, "model": state, "epoch": 0, "model_config": config,
            ClassIndex.KEY: names, NAMES_MISSING_KEY: classes is None, "args": dict(ORIGINAL_PREPROCESSING),
            "converted_from": {"file": os.path.abspath(path), "sha256": _sha256(path), "net_name": net_name,
                               "unused": report["unused"]}}, report


def run(argv=None):
    args = build_parser().parse_args(argv)
    if not os.path.isfile(args.caffemodel):
        raise CLIError("file not found: %s" % args.caffemodel)
    start = time.time()
    print("reading %s (%.1f MB)" % (args.caffemodel, os.path.getsize(args.caffemodel) / 1e6), flush=True)
    ckpt, report = convert(args.caffemodel, args.arch, args.classes, args.allow_unknown)
    for line in report["unused"]:
        print("unused: layer %s" % line, flush=True)
    if report["with_gradients"]:
        print("unused: the gradients (diff) stored with %d blobs" % report["with_gradients"], flush=True)
    atomic_save(ckpt, args.output)
    print("%s: %d layers, %d blobs converted into %s (%d classes, %s), %d layers without blobs; %.1f s" % (
        args.output, report["layers"], report["blobs"], args.arch, report["num_classes"],
        "names from %s" % args.classes if args.classes else "no class names: labels 0-%d"
        % (report["num_classes"] - 1), report["without_blobs"], time.time() - start), flush=True)
    return 0


def main(argv=None):
    return run_main("smartops-convert-caffe", run, argv)


if __name__ == "__main__":
    sys.exit(main())
