"""An image's width and height read from its file header, before decoding anything.

A 97 KB PNG can decode to 10000×10000 pixels; :func:`header_size` lets the reader refuse it by
its declared size instead of finding out after allocating gigabytes. PNG, JPEG, BMP, WebP and
TIFF are understood; for anything else it returns ``None`` (the decoder's own limit then applies).
"""

from __future__ import annotations

import struct


def header_size(data: bytes) -> tuple[int, int] | None:
    """``(width, height)`` declared by the header of an image file's first bytes, or ``None``."""
    try:
        if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
            w, h = struct.unpack(">II", data[16:24])
            return int(w), int(h)
        if data[:2] == b"\xff\xd8":
            return _jpeg(data)
        if data[:2] == b"BM" and len(data) >= 26:
            w, h = struct.unpack("<ii", data[18:26])
            return abs(int(w)), abs(int(h))
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            return _webp(data)
        if data[:4] in (b"II*\x00", b"MM\x00*"):
            return _tiff(data)
    except (struct.error, IndexError, ValueError):
        return None
    return None


def _jpeg(data: bytes) -> tuple[int, int] | None:
    i = 2
    n = len(data)
    while i + 4 <= n:
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        (length,) = struct.unpack(">H", data[i + 2:i + 4])
        # start-of-frame markers (all but DHT C4, JPG C8, DAC CC)
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            h, w = struct.unpack(">HH", data[i + 5:i + 9])
            return int(w), int(h)
        i += 2 + length
    return None


def _webp(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8X":
        w = 1 + int.from_bytes(data[24:27], "little")
        h = 1 + int.from_bytes(data[27:30], "little")
        return w, h
    if chunk == b"VP8 ":
        w, h = struct.unpack("<HH", data[26:30])
        return w & 0x3FFF, h & 0x3FFF
    if chunk == b"VP8L":
        b = int.from_bytes(data[21:25], "little")
        return (b & 0x3FFF) + 1, ((b >> 14) & 0x3FFF) + 1
    return None


def _tiff(data: bytes) -> tuple[int, int] | None:
    e = "<" if data[:2] == b"II" else ">"
    (off,) = struct.unpack(e + "I", data[4:8])
    (count,) = struct.unpack(e + "H", data[off:off + 2])
    w = h = None
    for k in range(count):
        entry = data[off + 2 + 12 * k: off + 14 + 12 * k]
        tag, typ = struct.unpack(e + "HH", entry[:4])
        if typ == 3:  # SHORT
            (value,) = struct.unpack(e + "H", entry[8:10])
        elif typ == 4:  # LONG
            (value,) = struct.unpack(e + "I", entry[8:12])
        else:
            continue
        if tag == 256:
            w = value
        elif tag == 257:
            h = value
    return (int(w), int(h)) if w is not None and h is not None else None
