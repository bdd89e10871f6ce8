"""Caffe layers of a released ARTNet file -> the state dict of the matching
smartops architecture, with every layer, blob and shape checked.

The fork's BN layer (blobs: scale, shift, running mean, running variance,
each (1, C)) computes, at test time, gamma * (x - mean) / sqrt(var + 1e-5) +
beta with the stored averages used as they are: exactly nn.BatchNorm3d
(eps=1e-5) in eval mode, so the blobs are copied without rescaling. The
weights of the convolutions that read the image are reordered from Caffe's
BGR input channels to RGB.
"""
from collections import OrderedDict

import torch

from smartops.caffe.mapping import PAIR_MEAN, PAIR_MEAN_VALUE, caffe_targets, shapes_text
from smartops.models import get_model

RELEASED = ("c3d_resnet18_caffe", "artnet_resnet18_caffe")
LISTED = 12  # problems listed in an error before "... and N more"


class ConversionError(ValueError):
    """The layers do not hold the weights of the requested network."""


def released_model(arch, num_classes=400):
    """The architecture, for its module names and shapes. (Built on the CPU:
    on the meta device the weight initialisation first imports torch's
    compiler stack, which takes several times longer.)"""
    if arch not in RELEASED:
        raise ConversionError("--arch %r: the released Caffe files are for %s" % (arch, " or ".join(RELEASED)))
    return get_model(arch, num_classes=num_classes, fused=False)


def file_classes(layers, default=400):
    """The class count of the file's classifier fc8 (its weight's rows)."""
    fc = next((layer for layer in layers if layer.name == "fc8" and layer.blobs), None)
    return fc.blobs[0].shape[0] if fc is not None and len(fc.blobs[0].shape) == 2 else default


def check_layers(layers, targets):
    """(problems, unknown layers): every way `layers` differ from `targets`."""
    problems, by_name = [], {}
    for layer in layers:
        if layer.blobs:  # layers without blobs (data, split, loss, ...) carry nothing to convert
            if layer.name in by_name:
                problems.append("layer %r appears twice with blobs" % layer.name)
            by_name[layer.name] = layer
    for t in targets:
        layer = by_name.get(t.name)
        if layer is None:
            problems.append("missing layer %s" % t.describe())
            continue
        expected, found = [s for _, s in t.blobs], [b.shape for b in layer.blobs]
        if layer.type != t.type:
            problems.append("layer %r: type %s, expected %s" % (t.name, layer.type, t.type))
        elif found != expected:
            problems.append("layer %r (%s): expected blobs %s, found %s" % (t.name, t.type, shapes_text(expected),
                                                                            shapes_text(found)))
    known = {t.name for t in targets}
    unknown = [layer for layer in layers if layer.blobs and layer.name not in known]
    return problems, unknown


def describe_unknown(layer):
    return "%r (%s): %s" % (layer.name, layer.type, shapes_text([b.shape for b in layer.blobs]))


def _fitting_arch(layers, tried):
    for arch in RELEASED:
        if arch != tried and not check_layers(layers, caffe_targets(released_model(arch, file_classes(layers))))[0]:
            return arch
    return None


def _error(source, arch, problems, layers):
    lines = ["%s does not hold the weights of %s (%d problem%s):" % (source, arch, len(problems),
                                                                    "" if len(problems) == 1 else "s")]
    lines += ["  " + p for p in problems[:LISTED]]
    if len(problems) > LISTED:
        lines.append("  ... and %d more" % (len(problems) - LISTED))
    fits = _fitting_arch(layers, arch)
    if fits:
        lines.append("It holds the weights of %s: convert it with --arch %s." % (fits, fits))
    return ConversionError("\n".join(lines))


def _tensor(blob, key, model_state, input_layer):
    t = torch.from_numpy(blob.data.copy()).reshape(model_state[key].shape)
    if input_layer and key.endswith("weight") and t.shape[1] == 3:
        t = t.flip(1)  # Caffe's input channels are B, G, R; ours R, G, B
    return t


def _fixed_pair_mean(layer, source):
    values = layer.blobs[0].data
    if not (values == PAIR_MEAN_VALUE).all():
        raise ConversionError("%s: layer %r holds pair-mean weights other than %g (min %g, max %g); smartops fixes "
                              "them at %g, so this file cannot be converted exactly" % (
                                  source, layer.name, PAIR_MEAN_VALUE, values.min(), values.max(), PAIR_MEAN_VALUE))


def convert_layers(layers, arch, source="the file", allow_unknown=False):
    """(state_dict, report) for `arch` from the [wire.Layer] of a .caffemodel.

    Raises ConversionError listing every missing layer, wrong type and blob
    shape (expected vs found), and every unknown layer that holds blobs
    unless allow_unknown; the report lists those unused layers either way."""
    model = released_model(arch, file_classes(layers))
    targets = caffe_targets(model)
    problems, unknown = check_layers(layers, targets)
    if unknown and not allow_unknown:
        problems += ["unknown layer %s (convert with --allow-unknown to leave it out)" % describe_unknown(layer)
                     for layer in unknown]
    if problems:
        raise _error(source, arch, problems, layers)
    by_name = {layer.name: layer for layer in layers if layer.blobs}
    model_state = model.state_dict()
    state = {}
    for t in targets:
        layer = by_name[t.name]
        for (key, _), blob in zip(t.blobs, layer.blobs):
            if key is PAIR_MEAN:
                _fixed_pair_mean(layer, source)
            else:
                state[key] = _tensor(blob, key, model_state, t.input_layer)
    for key in model_state:
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(0)
        elif key not in state:  # the mapping must cover the model; never leave a parameter initialised
            raise ConversionError("internal error: no Caffe blob maps to %s of %s" % (key, arch))
        elif key.endswith("running_var") and (state[key] < 0).any():
            raise ConversionError("%s: negative running variance in the BN that gives %s" % (source, key))
    report = {"arch": arch, "num_classes": model.num_classes, "layers": len(targets),
              "blobs": sum(len(t.blobs) for t in targets), "unused": [describe_unknown(layer) for layer in unknown],
              "without_blobs": sum(1 for layer in layers if not layer.blobs),
              "with_gradients": sum(b.has_diff for t in targets for b in by_name[t.name].blobs)}
    return OrderedDict((k, state[k]) for k in model_state), report
