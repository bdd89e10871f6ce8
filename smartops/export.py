"""smartops-export: write a trained model as a file that runs without smartops.

    smartops-export --checkpoint runs/artnet/best.pt --format onnx -o artnet.onnx
    smartops-export --checkpoint runs/artnet/best.pt --format exported-program -o artnet.pt2

The model is folded for inference (every BatchNorm folded into its
convolution; smartops.nn.fold_for_inference) and written with standard
operators only: conv, square, a reshape-sum over channel pairs, affine,
ReLU, concat, pooling and the fc head. Input: float32 clips (N, C, T, H, W)
with C, T, H, W from the checkpoint (--clip-len / --crop-size to change
T, H, W) and a dynamic batch size N; output: logits (N, classes).

- onnx: an ONNX file (opset --opset, default 17) for ONNX Runtime,
  TensorRT, ...; needs `pip install onnx` to write (smartops[export]).
  Input "clips", output "logits".
- exported-program: torch.export's ExportedProgram (.pt2), loaded with
  torch.export.load(path).module() by any torch with the same version.
"""
import argparse
import os
import sys
import warnings

import torch

from smartops.engine import checkpoint as ckpt_io
from smartops.engine.cli import CLIError, positive_int, run_main
from smartops.engine.modeling import model_from_checkpoint
from smartops.nn.fold import fold_for_inference

__all__ = ["main", "build_parser", "export_onnx", "export_program", "folded_export_model"]

FORMATS = ("onnx", "exported-program")


def build_parser(prog="smartops-export"):
    p = argparse.ArgumentParser(prog=prog, description="Export a trained model (BatchNorm folded, standard "
                                "operators only) to ONNX or a torch.export ExportedProgram.",
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 2)[2])
    p.add_argument("--checkpoint", required=True, metavar="CKPT", help="a checkpoint of smartops-train")
    p.add_argument("--format", choices=FORMATS, required=True)
    p.add_argument("-o", "--output", required=True, metavar="FILE")
    p.add_argument("--clip-len", type=positive_int, default=None, help="frames per clip (default: the checkpoint's)")
    p.add_argument("--crop-size", type=positive_int, default=None, help="H = W (default: the checkpoint's)")
    p.add_argument("--opset", type=positive_int, default=17, help="ONNX opset (17)")
    return p


def folded_export_model(model):
    """The eval-mode, folded copy of `model` in standard operators only."""
    return fold_for_inference(model.eval(), fused=False)


def export_onnx(model, example, path, opset=17):
    """Writes the folded `model` to ONNX with a dynamic batch dimension."""
    try:
        import onnx  # noqa: F401  (the exporter needs it)
    except ImportError:
        raise CLIError("--format onnx needs the onnx package: pip install onnx (or smartops[export])") from None
    folded = folded_export_model(model)
    with warnings.catch_warnings():
        # The TorchScript-based exporter (no onnxscript needed) warns that it
        # is the older of torch's two ONNX exporters.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        # Shape checks in Python (the SMART blocks' input checks) are traced
        # as constants: the exported graph takes the checked shape only.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(folded, (example,), path, dynamo=False, opset_version=opset, input_names=["clips"],
                          output_names=["logits"], dynamic_axes={"clips": {0: "batch"}, "logits": {0: "batch"}})
    return path


def export_program(model, example, path):
    """Writes the folded `model` as a torch.export ExportedProgram (.pt2)
    with a dynamic batch dimension."""
    folded = folded_export_model(model)
    batch = torch.export.Dim("batch", min=1)
    program = torch.export.export(folded, (example,), dynamic_shapes={"x": {0: batch}})
    torch.export.save(program, path)
    return path


def run(argv=None):
    args = build_parser().parse_args(argv)
    ckpt = ckpt_io.load_checkpoint(args.checkpoint)
    model, config = model_from_checkpoint(ckpt, fused=False)
    saved = ckpt.get("args", {})
    t = args.clip_len or saved.get("clip_len", 16)
    s = args.crop_size or saved.get("crop_size", 112)
    example = torch.randn(2, config["in_channels"], t, s, s)
    folder = os.path.dirname(os.path.abspath(args.output))
    if not os.path.isdir(folder):
        raise CLIError("the folder of --output does not exist: %s" % folder)
    print("smartops-export: %s (%s, width %g, %d classes), input (N, %d, %d, %d, %d) float32, N dynamic"
          % (ckpt["path"], config["arch"], config["width"], config["num_classes"], config["in_channels"], t, s, s),
          flush=True)
    if args.format == "onnx":
        export_onnx(model, example, args.output, args.opset)
    else:
        export_program(model, example, args.output)
    print("wrote %s (%s, %.1f MB)" % (args.output, args.format, os.path.getsize(args.output) / 1e6), flush=True)
    return 0


def main(argv=None):
    return run_main("smartops-export", run, argv)


if __name__ == "__main__":
    sys.exit(main())
