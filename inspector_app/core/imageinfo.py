"""An image's width and height read from its file header, before decoding anything.

A 97 KB PNG can decode to 10000×10000 pixels, a 43-byte GIF to a 30000×30000 canvas; :func:`header_size`
lets the reader refuse them by their declared size instead of finding out after allocating
gigabytes. It reads the whole file (a JPEG's frame header may follow megabytes of comments, a TIFF's
first directory may lie anywhere), and understands every format this OpenCV decodes: PNG, JPEG,
BMP, WebP, TIFF, GIF (the logical screen, which the decoder allocates), the PNM family (PBM, PGM,
PPM, PAM, PFM), Sun raster, Radiance HDR, AVIF and JPEG 2000. For anything else it returns
``None``, and the reader then refuses the file without decoding it.
"""

from __future__ import annotations

import re
import struct
from typing import Any

def header_size(data: Any) -> tuple[int, int] | None:  # any buffer: bytes, memoryview, a numpy array…
    """``(width, height)`` declared by an image file's bytes (any buffer), or ``None``."""
    data = memoryview(data).cast("B") if not isinstance(data, (bytes, bytearray)) else data
    try:
        head = bytes(data[:16])
        if head[:8] == b"\x89PNG\r\n\x1a\n" and bytes(data[12:16]) == b"IHDR":
            w, h = struct.unpack(">II", data[16:24])
            return int(w), int(h)
        if head[:2] == b"\xff\xd8":
            return _jpeg(data)
        if head[:2] == b"BM" and len(data) >= 26:
            if struct.unpack("<I", data[14:18])[0] == 12:  # OS/2 1.x: 16-bit sides
                w, h = struct.unpack("<HH", data[18:22])
            else:
                w, h = struct.unpack("<ii", data[18:26])
            return abs(int(w)), abs(int(h))
        if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
            return _webp(data)
        if head[:4] in (b"II*\x00", b"MM\x00*"):
            return _tiff(data)
        if head[:4] in (b"II+\x00", b"MM\x00+"):
            return _bigtiff(data)
        if head[:6] in (b"GIF87a", b"GIF89a"):
            return _gif(data)
        if head[:1] == b"P" and head[1:2] in b"1234567Ff":
            return _pnm(bytes(data[:4096]))
        if head[:4] == b"\x59\xa6\x6a\x95":  # Sun raster
            w, h = struct.unpack(">II", data[4:12])
            return int(w), int(h)
        if head[:2] == b"#?":
            return _hdr(bytes(data[:8192]))
        if head[4:8] == b"ftyp":
            return _isobmff(bytes(data[:1 << 16]))
        if head[:4] == b"\xff\x4f\xff\x51":  # JPEG 2000 codestream: SIZ first
            w, h, x0, y0 = struct.unpack(">IIII", data[8:24])
            return int(w - x0), int(h - y0)
        if head[4:8] == b"jP  ":  # JP2 container: the ihdr box
            i = bytes(data[:1 << 16]).find(b"ihdr")
            if i >= 0:
                h, w = struct.unpack(">II", data[i + 4:i + 12])
                return int(w), int(h)
    except (struct.error, IndexError, ValueError, TypeError):
        return None
    return None


def _jpeg(data: bytes | bytearray | memoryview) -> tuple[int, int] | None:
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
        if marker == 0xDA:  # scan data before any frame header: not a JPEG we can size
            return None
        i += 2 + length
    return None


def _webp(data: bytes | bytearray | memoryview) -> tuple[int, int] | None:
    chunk = bytes(data[12:16])
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


_TIFF_SIZES = {3: 2, 4: 4, 16: 8}  # SHORT, LONG, LONG8 (BigTIFF)


def _tiff(data: bytes | bytearray | memoryview) -> tuple[int, int] | None:
    e = "<" if bytes(data[:2]) == b"II" else ">"
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


def _bigtiff(data: bytes | bytearray | memoryview) -> tuple[int, int] | None:
    e = "<" if bytes(data[:2]) == b"II" else ">"
    (off,) = struct.unpack(e + "Q", data[8:16])
    (count,) = struct.unpack(e + "Q", data[off:off + 8])
    w = h = None
    for k in range(min(count, 4096)):
        entry = data[off + 8 + 20 * k: off + 28 + 20 * k]
        tag, typ = struct.unpack(e + "HH", entry[:4])
        size = _TIFF_SIZES.get(typ)
        if size is None:
            continue
        (value,) = struct.unpack(e + {2: "H", 4: "I", 8: "Q"}[size], entry[12:12 + size])
        if tag == 256:
            w = value
        elif tag == 257:
            h = value
    return (int(w), int(h)) if w is not None and h is not None else None


def _gif(data: bytes | bytearray | memoryview) -> tuple[int, int] | None:
    """The logical screen: the canvas the decoder allocates, whatever the frames say."""
    w, h = struct.unpack("<HH", data[6:10])
    return int(w), int(h)


def _pnm(head: bytes) -> tuple[int, int] | None:
    if head[1:2] == b"7":  # PAM: WIDTH / HEIGHT lines
        mw, mh = re.search(rb"WIDTH\s+(\d+)", head), re.search(rb"HEIGHT\s+(\d+)", head)
        return (int(mw.group(1)), int(mh.group(1))) if mw and mh else None
    text = re.sub(rb"#[^\n]*", b" ", head[2:])
    nums = re.findall(rb"\d+", text[:200])
    return (int(nums[0]), int(nums[1])) if len(nums) >= 2 else None


def _hdr(head: bytes) -> tuple[int, int] | None:
    m = re.search(rb"\n([-+])([YX]) (\d+) ([-+])([YX]) (\d+)\n", head)
    if not m:
        return None
    a, b = int(m.group(3)), int(m.group(6))
    return (b, a) if m.group(2) == b"Y" else (a, b)


def _isobmff(head: bytes) -> tuple[int, int] | None:
    """AVIF / HEIF: the largest ``ispe`` (image spatial extents) property."""
    best = None
    for m in re.finditer(rb"ispe", head):
        w, h = struct.unpack(">II", head[m.end() + 4:m.end() + 12])
        if best is None or w * h > best[0] * best[1]:
            best = (int(w), int(h))
    return best


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_damage(data: Any) -> str | None:  # any buffer, as header_size
    """What is wrong with a PNG file's chunks, in words ("truncated: …", "corrupt: …"), or ``None``
    (also for any other format). libpng prints its own line on the process's stderr for a file cut
    short ("PNG input buffer is incomplete") and the decoder reads a damaged file's pixels when
    they still inflate; so the chunks are walked first: every chunk must lie whole in the file up
    to IEND, and a critical chunk (IHDR, PLTE, IDAT, IEND) must match its CRC. An ancillary
    chunk's CRC is not checked: libpng drops such a chunk and decodes the image."""
    import zlib

    data = memoryview(data).cast("B") if not isinstance(data, (bytes, bytearray)) else memoryview(data)
    if bytes(data[:8]) != _PNG_SIGNATURE:
        return None
    i, n = 8, len(data)
    while True:
        if i + 8 > n:
            return "truncated: the PNG file ends before its IEND chunk"
        (length,) = struct.unpack(">I", data[i:i + 4])
        kind = bytes(data[i + 4:i + 8])
        if not kind.isalpha() or not kind.isascii():
            return f"corrupt: the PNG file has a broken chunk at byte {i}"
        name = kind.decode("ascii")
        if i + 12 + length > n:
            return f"truncated: the PNG file ends inside its {name} chunk"
        (crc,) = struct.unpack(">I", data[i + 8 + length:i + 12 + length])
        if name in ("IHDR", "PLTE", "IDAT", "IEND") and zlib.crc32(data[i + 4:i + 8 + length]) != crc:
            return f"corrupt: the PNG file's {name} chunk fails its checksum"
        if name == "IEND":
            return None
        i += 12 + length
