"""A minimal protobuf wire-format WRITER for the tests: it serialises
.caffemodel files (NetParameter / LayerParameter / BlobProto, field numbers
of caffe.proto) independently of smartops' reader."""
import struct

import numpy as np


def varint(value):
    value &= (1 << 64) - 1  # negative int64 as 10 bytes, like protobuf
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def key(number, wire):
    return varint(number << 3 | wire)


def length_field(number, payload):
    return key(number, 2) + varint(len(payload)) + payload


def string_field(number, text):
    return length_field(number, text.encode())


def varint_field(number, value):
    return key(number, 0) + varint(value)


def blob(shape, data, packed=True, chunks=1, legacy=False):
    """BlobProto: data (field 5) before shape (field 7), as protobuf writes
    them. packed=False: one fixed32 per value; chunks: packed runs; legacy:
    num/channels/height/width (fields 1-4) instead of shape (4-D only)."""
    data = np.asarray(data, dtype="<f4").ravel()
    parts = []
    if legacy:
        parts += [varint_field(i + 1, d) for i, d in enumerate(shape)]
    if packed:
        parts += [length_field(5, part.tobytes()) for part in np.array_split(data, chunks)]
    else:
        parts += [key(5, 5) + struct.pack("<f", v) for v in data]
    if not legacy:
        parts.append(length_field(7, length_field(1, b"".join(varint(d) for d in shape))))
    return b"".join(parts)


def layer(name, type_, bottoms=(), tops=(), blobs=(), extra=b""):
    """LayerParameter: name 1, type 2, bottom 3, top 4, blobs 7, then `extra`
    (e.g. a param message) as later fields."""
    out = string_field(1, name) + string_field(2, type_)
    out += b"".join(string_field(3, b) for b in bottoms) + b"".join(string_field(4, t) for t in tops)
    out += b"".join(length_field(7, b) for b in blobs)
    return out + extra


def net(name, layers, extra=b""):
    """NetParameter: name 1, then every layer as field 100."""
    return string_field(1, name) + extra + b"".join(length_field(100, lay) for lay in layers)
