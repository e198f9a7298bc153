"""A photograph damaged in transit (a copy cut short, a flipped bit) is one line and exit 2 on the
command line: libpng printed its own "libpng error: PNG input buffer is incomplete" (or "bad
adaptive filter value") on the file descriptor before the command's line, and a PNG whose data was
damaged but still inflated was decoded and scored as if it were the part."""

from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np
import pytest

from inspector_app.cli import main
from inspector_app.core.data import ImageError, read_image
from inspector_app.core.imageinfo import png_damage


def _png(h: int = 60, w: int = 80) -> bytes:
    rng = np.random.default_rng(0)
    ok, buf = cv2.imencode(".png", rng.integers(0, 256, (h, w), dtype=np.uint8))
    assert ok
    return buf.tobytes()


def _idat_flipped(data: bytes) -> bytes:
    b = bytearray(data)
    i = data.find(b"IDAT")
    b[i + 4 + 100] ^= 0x01  # a bit of the compressed pixels; the chunk's CRC no longer matches
    return bytes(b)


def _with_text_chunk(data: bytes, crc_ok: bool) -> bytes:
    body = b"tEXt" + b"Comment\x00a camera's note"
    crc = zlib.crc32(body) ^ (0 if crc_ok else 1)
    chunk = struct.pack(">I", len(body) - 4) + body + struct.pack(">I", crc)
    i = data.find(b"IDAT") - 4
    return data[:i] + chunk + data[i:]


DAMAGED = {
    "cut_in_half.png": (lambda d: d[:len(d) // 2], "truncated"),
    "no_iend.png": (lambda d: d[:-12], "truncated"),
    "flipped_bit.png": (_idat_flipped, "corrupt"),
}


@pytest.mark.parametrize("name", sorted(DAMAGED))
def test_a_damaged_png_is_one_line(tmp_path, tiny_model_file, capfd, name):
    damage, word = DAMAGED[name]
    p = tmp_path / name
    p.write_bytes(damage(_png()))
    rc = main(["project", "--model", str(tiny_model_file), str(p), "--out", str(tmp_path / "o"), "--quiet"])
    err = capfd.readouterr().err  # capfd: libpng writes to the file descriptor, not sys.stderr
    assert rc == 2
    assert err.strip().splitlines() == [f"inspector-app: error: {p}: is not a readable image "
                                        f"({png_damage(p.read_bytes())})"], err
    assert word in err
    assert not (tmp_path / "o" / "summary.csv").exists()


def test_sound_pngs_are_read_as_before(tmp_path):
    """A whole PNG, one with a sound ancillary chunk and one whose ancillary chunk's CRC is wrong
    (libpng drops such a chunk and decodes the image) are read; only the pixels matter."""
    data = _png()
    want = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED).astype(np.float32) / 255.0
    for name, d in (("a.png", data), ("text.png", _with_text_chunk(data, True)),
                    ("text_bad_crc.png", _with_text_chunk(data, False))):
        assert png_damage(d) is None, name
        (tmp_path / name).write_bytes(d)
        np.testing.assert_array_equal(read_image(tmp_path / name), want)


def test_damage_is_named():
    data = _png()
    assert png_damage(data[:len(data) // 2]) == "truncated: the PNG file ends inside its IDAT chunk"
    assert png_damage(data[:-12]) == "truncated: the PNG file ends before its IEND chunk"
    assert png_damage(_idat_flipped(data)) == "corrupt: the PNG file's IDAT chunk fails its checksum"
    assert png_damage(b"not a png") is None  # other formats: not this check's business
    with pytest.raises(ImageError, match="truncated"):
        from inspector_app.core.data import image_from_bytes

        image_from_bytes("sent.png", data[:len(data) // 2])


def test_a_damaged_mask_is_one_line(tmp_path, tiny_model_file, capfd):
    """``project --mask`` (Ω) read through the same check: libpng's line came first there too."""
    part = tmp_path / "part.png"
    part.write_bytes(_png(32, 32))
    ok, buf = cv2.imencode(".png", np.random.default_rng(1).integers(0, 2, (32, 32), dtype=np.uint8) * 255)
    mask = tmp_path / "omega.png"
    mask.write_bytes(buf.tobytes()[:-12])
    rc = main(["project", "--model", str(tiny_model_file), str(part), "--mask", str(mask),
               "--out", str(tmp_path / "o"), "--quiet"])
    err = capfd.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1, err
    assert "truncated: the PNG file ends before its IEND chunk" in err and "libpng" not in err
