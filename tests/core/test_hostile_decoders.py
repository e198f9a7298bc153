"""Issue 26, "memory over 2 GB": every decoder bounded before it allocates. The frame size is read
from the whole file for every format OpenCV decodes (a GIF's logical screen, a JPEG's SOF after
128 KB of comments, a TIFF's IFD past 64 KB, PNM); a file whose size cannot be read is never
decoded; NaN pixels are refused, not silently zeroed."""

from __future__ import annotations

import struct

import cv2
import numpy as np
import pytest

from inspector_app.cli import main
from inspector_app.core.data import ImageError, read_image
from inspector_app.core.imageinfo import header_size


def gif_bomb() -> bytes:
    """43 bytes: a 30000×30000 logical screen holding one 1×1 frame."""
    return (b"GIF89a" + struct.pack("<HH", 30000, 30000) + b"\x80\x00\x00" + b"\x00\x00\x00\xff\xff\xff"
            + b"\x2c" + struct.pack("<HHHH", 0, 0, 1, 1) + b"\x00" + b"\x02\x02\x44\x01\x00" + b"\x3b")


def jpeg_bomb() -> bytes:
    """A 16×16 JPEG whose SOF says 20000×20000, after 128 KB of comment segments."""
    ok, buf = cv2.imencode(".jpg", np.zeros((16, 16, 3), np.uint8))
    j = bytearray(buf.tobytes())
    k = j.find(b"\xff\xc0")
    j[k + 5:k + 9] = struct.pack(">HH", 20000, 20000)
    com = b"".join(b"\xff\xfe" + struct.pack(">H", 65535) + b"x" * 65533 for _ in range(2))
    return bytes(j[:2]) + com + bytes(j[2:])


def tiff_bomb() -> bytes:
    """An uncompressed 8-bit 20000×20000 TIFF header whose first IFD lies at byte 70000."""
    w = h = 20000
    entries = [(256, 4, w), (257, 4, h), (258, 3, 8), (259, 3, 1), (262, 3, 1), (273, 4, 8), (277, 3, 1),
               (278, 4, h), (279, 4, w * h)]
    ifd = struct.pack("<H", len(entries)) + b"".join(
        struct.pack("<HHII", t, ty, 1, v) if ty == 4 else struct.pack("<HHIHH", t, ty, 1, v, 0)
        for t, ty, v in entries) + b"\x00" * 4
    return b"II*\x00" + struct.pack("<I", 70000) + b"\x00" * (70000 - 8) + ifd


BOMBS = {
    "screen.gif": (gif_bomb, (30000, 30000)),
    "gif_named.png": (gif_bomb, (30000, 30000)),
    "comments.jpg": (jpeg_bomb, (20000, 20000)),
    "far_ifd.tif": (tiff_bomb, (20000, 20000)),
    "big.pgm": (lambda: b"P5\n# a comment\n30000 30000\n255\n" + b"\x00" * 64, (30000, 30000)),
}


@pytest.fixture
def no_decoding(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("decoded before the size was checked")

    monkeypatch.setattr(cv2, "imdecode", refuse)


@pytest.mark.parametrize("name", sorted(BOMBS))
def test_bombs_are_refused_from_the_real_frame_size(tmp_path, name, no_decoding):
    make, size = BOMBS[name]
    p = tmp_path / name
    p.write_bytes(make())
    assert header_size(p.read_bytes()) == size
    with pytest.raises(ImageError, match=f"{size[0]}×{size[1]} = .* MP, over the 40 MP limit"):
        read_image(p)


def test_a_file_whose_size_cannot_be_read_is_never_decoded(tmp_path, no_decoding, capsys):
    p = tmp_path / "mystery.png"
    p.write_bytes(b"\x00\x01 not a format anyone sizes" * 10)
    with pytest.raises(ImageError, match="not a readable image"):
        read_image(p)


def test_sizes_of_the_other_formats_opencv_decodes(tmp_path):
    img = np.zeros((10, 13, 3), np.uint8)
    for ext in (".gif", ".ppm", ".pgm", ".pbm", ".pam", ".ras", ".hdr", ".pfm"):
        a = img.astype(np.float32) if ext in (".hdr", ".pfm") else img
        a = a[:, :, 0] if ext in (".pgm", ".pbm") else a
        ok, buf = cv2.imencode(ext, a)
        assert ok, ext
        assert header_size(buf.tobytes()) == (13, 10), ext


def test_nan_pixels_are_refused(tmp_path, tiny_model_file, capsys):
    a = np.full((8, 8), 0.5, np.float32)
    a[2, 3] = np.nan
    p = tmp_path / "nan.tif"
    assert cv2.imwrite(str(p), a)
    with pytest.raises(ImageError, match="NaN"):
        read_image(p)
    rc = main(["project", "--model", str(tiny_model_file), str(p), "--out", str(tmp_path / "o"), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and "NaN" in err and err.count("\n") == 1 and "Traceback" not in err, err


def test_reading_converts_channels_before_floats(tmp_path):
    """Colour order and scaling unchanged by the cheaper path (RGBA, 16-bit, grey)."""
    rng = np.random.default_rng(0)
    bgra = rng.integers(0, 256, (9, 7, 4), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "a.png"), bgra)
    got = read_image(tmp_path / "a.png")
    assert got.dtype == np.float32 and got.shape == (9, 7, 3)
    np.testing.assert_array_equal(got, bgra[:, :, 2::-1].astype(np.float32) / 255.0)
    u16 = rng.integers(0, 65536, (5, 6, 3), dtype=np.uint16)
    cv2.imwrite(str(tmp_path / "b.png"), u16)
    np.testing.assert_array_equal(read_image(tmp_path / "b.png"), u16[:, :, ::-1].astype(np.float32) / 65535.0)


def test_out_of_memory_is_one_line(tmp_path, tiny_model_file, monkeypatch, capsys):
    """verdict._as_map's MemoryError under a 2.5 GB cap was a traceback."""
    from inspector_app.core import data

    def oom(*a, **k):
        raise MemoryError()

    monkeypatch.setattr(data, "read_image", oom)
    monkeypatch.setattr(data, "read_image_as", oom)  # what project reads with (the model's channels)
    p = tmp_path / "a.png"
    p.write_bytes(b"x")
    rc = main(["project", "--model", str(tiny_model_file), str(p), "--out", str(tmp_path / "o"), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and "out of memory" in err and err.count("\n") == 1, err


def test_bigtiff_and_os2_bitmap_sizes():
    """A BigTIFF's first IFD (64-bit offsets) and an OS/2 bitmap's 16-bit sides: read, not refused."""
    entries = [(256, 16, 70000), (257, 3, 300)]
    ifd = struct.pack("<Q", len(entries)) + b"".join(
        struct.pack("<HHQ", t, ty, 1) + (struct.pack("<Q", v) if ty == 16 else struct.pack("<H", v) + b"\0" * 6)
        for t, ty, v in entries) + b"\0" * 8
    assert header_size(b"II+\x00" + struct.pack("<HHQ", 8, 0, 16) + ifd) == (70000, 300)
    bmp = b"BM" + b"\0" * 12 + struct.pack("<I", 12) + struct.pack("<HH", 640, 480) + b"\0" * 10
    assert header_size(bmp) == (640, 480)
