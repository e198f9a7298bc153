"""Image files as untrusted input: decompression bombs refused from the header, pipes never
read, EXIF orientation applied, one line per bad file on the command line."""

from __future__ import annotations

import os
import struct
import zlib

import cv2
import numpy as np
import pytest

from inspector_app.cli import main
from inspector_app.core.data import ImageError, read_image
from inspector_app.core.imageinfo import header_size
from inspector_app.core.mask import MaskFileError, load_mask_png


def _chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)


def bomb_png(path, side=10000):
    """A valid 8-bit grey PNG of side × side black pixels that takes a few kilobytes."""
    raw = zlib.compress(b"\x00" * (side + 1) * side, 9)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0))
                     + _chunk(b"IDAT", raw) + _chunk(b"IEND", b""))
    return path


@pytest.mark.parametrize("ext", [".png", ".jpg", ".bmp", ".tif", ".webp"])
def test_header_size_of_every_format(tmp_path, ext):
    p = tmp_path / f"x{ext}"
    cv2.imwrite(str(p), np.zeros((30, 50, 3), np.uint8))
    assert header_size(p.read_bytes()) == (50, 30)
    assert header_size(b"\x89PNG\r\n\x1a\n garbage") is None


def test_a_decompression_bomb_is_refused_before_decoding(tmp_path, monkeypatch):
    p = bomb_png(tmp_path / "bomb.png")
    assert p.stat().st_size < 200_000

    def no_decode(*a, **k):  # the header alone must decide
        raise AssertionError("decoded")

    monkeypatch.setattr(cv2, "imdecode", no_decode)
    with pytest.raises(ImageError, match=r"bomb.png: is 10000×10000 = 100 MP, over the 40 MP limit"):
        read_image(p)
    with pytest.raises(MaskFileError, match="100 MP"):
        load_mask_png(p)


def test_the_pixel_cap_is_configurable(tmp_path, monkeypatch):
    p = tmp_path / "small.png"
    cv2.imwrite(str(p), np.zeros((40, 40), np.uint8))
    monkeypatch.setenv("INSPECTOR_MAX_PIXELS", "1000")
    with pytest.raises(ImageError, match="over the 0.001 MP limit"):
        read_image(p)
    monkeypatch.setenv("INSPECTOR_MAX_PIXELS", "2000")
    assert read_image(p).shape == (40, 40)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_is_not_read(tmp_path):
    f = tmp_path / "pipe.png"
    os.mkfifo(f)
    with pytest.raises(ImageError, match="not a regular file"):
        read_image(f)  # would block forever if opened


def test_exif_orientation_is_applied(tmp_path):
    from PIL import Image

    a = np.zeros((20, 40, 3), np.uint8)
    a[:, :10] = 255  # a white band on the left
    im = Image.fromarray(a)
    exif = im.getexif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    im.save(tmp_path / "photo.jpg", exif=exif, quality=95)
    img = read_image(tmp_path / "photo.jpg", 1)
    assert img.shape == (40, 20)
    assert img[:10].mean() > 0.9 and img[-10:].mean() < 0.1  # the band is on top after rotation


def test_a_corrupt_image_is_one_line(tmp_path, tiny_model_file, capfd):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x20\x00\x00\x00\x20\x08\x00\x00\x00\x00xx")
    rc = main(["project", "--model", str(tiny_model_file), str(bad), "--out", str(tmp_path / "o")])
    err = capfd.readouterr().err  # capfd: OpenCV writes to the file descriptor, not sys.stderr
    assert rc == 2
    assert err.strip().splitlines() == [f"inspector-app: error: {bad}: is not a readable image "
                                        "(truncated: the PNG file ends inside its IHDR chunk)"]
