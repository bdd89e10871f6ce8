"""convert_to_smart: SMART blocks in place of chosen nn.Conv3d layers of any model."""
import torch.nn as nn

from smartops.nn.fused_dispatch import check_fused_arg
from smartops.nn.relation_pool import RelationPool
from smartops.nn.smart import SMART, RelationBlock

_SMART_MODULES = (SMART, RelationBlock, RelationPool)


def _walk(module, name, parent, key, grandparent, parent_key, out):
    """(name, module, parent, key, grandparent, parent_key) for every module,
    not descending into SMART / RelationBlock / RelationPool."""
    out.append((name, module, parent, key, grandparent, parent_key))
    if isinstance(module, _SMART_MODULES):
        return
    for child_key, child in module._modules.items():
        if child is not None:
            _walk(child, name + "." + child_key if name else child_key, module, child_key, parent, key, out)


def _check_convertible(name, conv):
    """SMART's geometry for `conv`, or a ValueError saying why it cannot be converted."""
    where = "convert_to_smart: cannot convert %r (%s)" % (name, conv)

    def fail(reason):
        raise ValueError("%s: %s" % (where, reason))

    if conv.groups != 1:
        fail("groups=%d; only groups=1 is supported" % conv.groups)
    if tuple(conv.dilation) != (1, 1, 1):
        fail("dilation=%s; only dilation 1 is supported" % (tuple(conv.dilation),))
    if conv.padding_mode != "zeros":
        fail("padding_mode=%r; only 'zeros' is supported" % conv.padding_mode)
    if conv.kernel_size[0] % 2 == 0:
        fail("temporal kernel size %d is even; SMART needs an odd one (its appearance branch takes the centre "
             "frame of each window)" % conv.kernel_size[0])
    if conv.out_channels < 2 or conv.out_channels % 2:
        fail("out_channels=%d is odd; SMART needs an even number (its relation branch pools channel pairs)"
             % conv.out_channels)
    padding = conv.padding
    if padding == "valid":
        padding = (0, 0, 0)
    elif padding == "same":
        if any(k % 2 == 0 for k in conv.kernel_size):
            fail("padding='same' with an even kernel %s pads asymmetrically" % (tuple(conv.kernel_size),))
        padding = tuple(k // 2 for k in conv.kernel_size)
    return tuple(conv.kernel_size), tuple(conv.stride), tuple(padding)


def _absorbable(parent, key, conv):
    """Keys of the BatchNorm3d (and ReLU) that follow `conv` in an nn.Sequential, or ()."""
    if not isinstance(parent, nn.Sequential):
        return ()
    keys = list(parent._modules)
    i = keys.index(key)
    following = [parent._modules[k] for k in keys[i + 1:i + 3]]
    if not following or not isinstance(following[0], nn.BatchNorm3d):
        return ()
    bn = following[0]
    if bn.num_features != conv.out_channels or not bn.affine:
        return ()
    if len(following) > 1 and isinstance(following[1], nn.ReLU):
        return tuple(keys[i + 1:i + 3])
    return (keys[i + 1],)


def convert_to_smart(model, predicate, *, fused="auto", relu=False, absorb_bn=True):
    """Replaces the nn.Conv3d layers of `model` for which predicate(name, conv) is
    true with SMART blocks of the same geometry (in/out channels, kernel t x k x k,
    stride, padding), and returns the converted model (the same object, modified in
    place, unless `model` itself is replaced).

    `name` is the conv's qualified name as in model.named_modules(); convs inside
    existing SMART / RelationBlock / RelationPool modules are not offered. A selected
    conv must have an odd temporal kernel, even out_channels, groups=1, dilation 1 and
    zero padding, else a ValueError names it and says why (checked for all selected
    convs before anything is changed).

    SMART ends with its own BN (and optional ReLU). absorb_bn=True (default): when the
    conv is followed, in an nn.Sequential, by a BatchNorm3d of its out_channels (and
    possibly an nn.ReLU), the SMART block takes the place of conv + BN (+ ReLU): its
    `.bn` stands for the BN (eps and momentum copied) and its final ReLU is on exactly
    when a ReLU followed; the absorbed layers become nn.Identity, and a Sequential left
    with only the SMART block is replaced by the block itself. This is how ARTNet
    replaces "3D conv + BN" and, for smartops.models' C3D-ResNet18, reproduces the
    modules and state_dict keys of ARTNet-ResNet18 (d). Other convs (or all, with
    absorb_bn=False) are replaced alone, with a final ReLU when relu=True (default
    False); the model's own BN after them is kept, so the block's BN and the model's
    run back to back, which differs from ARTNet.

    The blocks are freshly initialised (SMART's own initialisation, nothing is copied
    from the conv, no bias), on the conv's device and dtype, in its training mode;
    fused is passed to every new block.
    """
    check_fused_arg(fused)
    if not callable(predicate):
        raise TypeError("convert_to_smart: predicate must be a callable (name, conv) -> bool, got %r"
                        % (predicate,))
    entries = []
    _walk(model, "", None, None, None, None, entries)
    targets = []
    for name, module, parent, key, grandparent, parent_key in entries:
        if isinstance(module, nn.Conv3d) and predicate(name, module):
            targets.append((name, module, parent, key, grandparent, parent_key, _check_convertible(name, module)))

    new_root = model
    touched = {}
    for name, conv, parent, key, grandparent, parent_key, (kernel, stride, padding) in targets:
        absorbed = _absorbable(parent, key, conv) if absorb_bn else ()
        block_relu = len(absorbed) == 2 if absorbed else bool(relu)
        block = SMART(conv.in_channels, conv.out_channels, kernel, stride, padding, bias=False, relu=block_relu,
                      fused=fused)
        if absorbed:
            bn = parent._modules[absorbed[0]]
            block.bn.eps, block.bn.momentum = bn.eps, bn.momentum
        block.to(device=conv.weight.device, dtype=conv.weight.dtype).train(conv.training)
        if parent is None:  # the model is the conv
            return block
        parent._modules[key] = block
        for k in absorbed:
            parent._modules[k] = nn.Identity()
        if absorbed:
            touched[id(parent)] = (parent, grandparent, parent_key)

    for parent, grandparent, parent_key in touched.values():
        remaining = [m for m in parent._modules.values() if m is not None and not isinstance(m, nn.Identity)]
        if len(remaining) == 1 and isinstance(remaining[0], SMART):
            if grandparent is None:
                new_root = remaining[0]
            else:
                grandparent._modules[parent_key] = remaining[0]
    return new_root
