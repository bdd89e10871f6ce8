"""Reads a .caffemodel (a binary NetParameter message) from the protobuf wire
format directly: no Caffe, no generated code, only the standard library and
numpy. Field numbers are those of caffe.proto (yjxiong/caffe, branch 3D):

    NetParameter     name 1, layers (legacy V1) 2, layer 100
    LayerParameter   name 1, type 2, blobs 7
    BlobProto        num/channels/height/width 1-4 (legacy), data 5 (float,
                     packed), diff 6, shape 7
    BlobShape        dim 1 (int64, packed)

Fields other than these are skipped, as proto2 allows. Both the packed and
the unpacked encoding of repeated numbers are read, in any order.
"""
import numpy as np

VARINT, FIXED64, LENGTH, FIXED32 = 0, 1, 2, 5


class CaffeFormatError(ValueError):
    """The file is not a readable .caffemodel (truncated, corrupt)."""


class Blob:
    """One BlobProto: `shape` (a tuple), `data` (float32 numpy array) and
    `has_diff` (it also stores gradients, which a conversion leaves out)."""

    def __init__(self, shape, data, has_diff=False):
        self.shape, self.data, self.has_diff = tuple(shape), data, has_diff

    def __repr__(self):
        return "Blob%s" % (self.shape,)


class Layer:
    """One LayerParameter: `name`, `type` and its `blobs`, in file order."""

    def __init__(self, name, type, blobs):
        self.name, self.type, self.blobs = name, type, blobs

    def __repr__(self):
        return "Layer(%r, %r, %s)" % (self.name, self.type, self.blobs)


def _varint(buf, pos, end, where):
    value, shift = 0, 0
    while True:
        if pos >= end:
            raise CaffeFormatError("%s: a number runs past the end of its message at byte %d (truncated or corrupt "
                                   "file)" % (where, pos))
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise CaffeFormatError("%s: malformed number at byte %d (corrupt file)" % (where, pos))


def next_field(buf, pos, end, where):
    """(field number, wire type, value, next position) of the field at pos.
    value: an int (varint), (start, stop) byte offsets (length-delimited), or
    the raw bytes (fixed32 / fixed64)."""
    key, pos = _varint(buf, pos, end, where)
    number, wire = key >> 3, key & 7
    if wire == VARINT:
        value, pos = _varint(buf, pos, end, where)
        return number, wire, value, pos
    if wire == LENGTH:
        size, pos = _varint(buf, pos, end, where)
        if pos + size > end:
            raise CaffeFormatError(
                "%s: field %d needs %d bytes at byte %d but only %d remain (the file is truncated: download it "
                "again)" % (where, number, size, pos, end - pos))
        return number, wire, (pos, pos + size), pos + size
    if wire in (FIXED32, FIXED64):
        width = 4 if wire == FIXED32 else 8
        if pos + width > end:
            raise CaffeFormatError("%s: field %d runs past the end at byte %d (truncated file)" % (where, number, pos))
        return number, wire, bytes(buf[pos:pos + width]), pos + width
    raise CaffeFormatError("%s: unsupported wire type %d at byte %d (not a .caffemodel, or corrupt)"
                           % (where, wire, pos))


def fields(buf, start, end, where):
    """Yields (field number, wire type, value) of the message in buf[start:end]."""
    pos = start
    while pos < end:
        number, wire, value, pos = next_field(buf, pos, end, where)
        yield number, wire, value


def _packed_varints(buf, span, where):
    out, pos = [], span[0]
    while pos < span[1]:
        v, pos = _varint(buf, pos, span[1], where)
        out.append(v - (1 << 64) if v >= 1 << 63 else v)
    return out


def _string(buf, span):
    return bytes(buf[span[0]:span[1]]).decode("utf-8", "replace")


def read_blob(buf, span, where):
    legacy, dims, chunks, has_diff = {}, [], [], False
    for number, wire, value in fields(buf, span[0], span[1], where):
        if number in (1, 2, 3, 4) and wire == VARINT:
            legacy[number] = value
        elif number == 5 and wire == LENGTH:
            if (value[1] - value[0]) % 4:
                raise CaffeFormatError("%s: float data of %d bytes, not a multiple of 4" % (where, value[1] - value[0]))
            chunks.append(np.frombuffer(buf, dtype="<f4", count=(value[1] - value[0]) // 4, offset=value[0]))
        elif number == 5 and wire == FIXED32:
            chunks.append(np.frombuffer(value, dtype="<f4"))
        elif number == 6:
            has_diff = True
        elif number == 7 and wire == LENGTH:
            for n, w, v in fields(buf, value[0], value[1], where):
                if n == 1:
                    dims.extend(_packed_varints(buf, v, where) if w == LENGTH else [v])
    # as Caffe's Blob::FromProto: the legacy 4-D fields win when present
    shape = tuple(legacy.get(i, 0) for i in (1, 2, 3, 4)) if legacy else tuple(dims)
    data = np.concatenate(chunks).astype(np.float32, copy=False) if chunks else np.zeros(0, np.float32)
    expected = int(np.prod(shape, dtype=np.int64)) if shape else 0
    if data.size != expected:
        raise CaffeFormatError("%s: shape %s needs %d values but the file holds %d" % (where, shape, expected,
                                                                                          data.size))
    return Blob(shape, data, has_diff)


def _partial_name(buf, start, end):
    """The name of a layer whose bytes are cut off, when its name field made it."""
    try:
        for number, wire, value in fields(buf, start, end, "layer"):
            if number == 1 and wire == LENGTH:
                return _string(buf, value)
    except CaffeFormatError:
        pass
    return None


def read_layer(buf, span, index):
    name, type_, blob_spans = None, "", []
    for number, wire, value in fields(buf, span[0], span[1], "layer #%d" % index):
        if wire != LENGTH:
            continue
        if number == 1:
            name = _string(buf, value)
        elif number == 2:
            type_ = _string(buf, value)
        elif number == 7:
            blob_spans.append(value)
    label = "layer %r (#%d)" % (name, index)
    blobs = [read_blob(buf, s, "%s, blob %d" % (label, i)) for i, s in enumerate(blob_spans)]
    return Layer(name if name is not None else "", type_, blobs)


def _layer_span(buf, pos, end, source, index):
    """The byte span of the layer message whose length prefix starts at pos;
    a clear error, naming the layer when its name made it, if it is cut off."""
    size, body = _varint(buf, pos, end, source)
    if body + size > end:
        cut = _partial_name(buf, body, end)
        raise CaffeFormatError(
            "%s is truncated: layer #%d%s needs %d bytes from byte %d, but the file ends %d bytes later (%d bytes in "
            "all); download it again" % (source, index, "" if cut is None else " (%r)" % cut, size, body, end - body,
                                         end))
    return body, body + size


def read_net(data, source="the file"):
    """(net name, [Layer]) of a serialized NetParameter (bytes-like)."""
    buf = memoryview(data)
    end = len(buf)
    name, layers, pos = "", [], 0
    while pos < end:
        key, after_key = _varint(buf, pos, end, source)
        if key == (100 << 3 | LENGTH):
            span = _layer_span(buf, after_key, end, source, len(layers))
            layers.append(read_layer(buf, span, len(layers)))
            pos = span[1]
            continue
        number, wire, value, pos = next_field(buf, pos, end, source)
        if number == 1 and wire == LENGTH:
            name = _string(buf, value)
        elif number == 2 and wire == LENGTH:
            raise CaffeFormatError("%s stores its layers in the legacy V1 'layers' field, which cannot hold the BN "
                                   "layers of the ARTNet release: it is not one of its files" % source)
    return name, layers


def read_caffemodel(path):
    """(net name, [Layer]) of a .caffemodel file."""
    with open(path, "rb") as f:
        data = f.read()
    if not data:
        raise CaffeFormatError("%s is empty" % path)
    return read_net(data, path)
