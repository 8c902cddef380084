# Writes PNG fuzz seeds for the image_decode target into DIR: the first vendored
# MNIST test digit as 8-bit gray, 16-bit gray, RGB, RGBA, palette and
# Adam7-interlaced PNG, and a 1x1 image. Standard library only.
#   python3 fuzz/seeds/make_images.py tools/data/vendor/t10k-images-first500-idx3-ubyte DIR
import struct
import sys
import zlib


def chunk(kind, data):
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))


def png(w, h, depth, color, rows, plte=None, interlace=0):
    ihdr = struct.pack(">IIBBBBB", w, h, depth, color, 0, 0, interlace)
    raw = b"".join(b"\x00" + r for r in rows)
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
    if plte:
        out += chunk(b"PLTE", plte)
    return out + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def adam7(w, h, px):
    passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
    rows = []
    for x0, y0, dx, dy in passes:
        for y in range(y0, h, dy):
            rows.append(bytes(px[y * w + x] for x in range(x0, w, dx)))
    return rows


idx, out = sys.argv[1], sys.argv[2]
digit = open(idx, "rb").read()[16 : 16 + 784]
rows = [digit[y * 28 : (y + 1) * 28] for y in range(28)]
files = {
    "digit.png": png(28, 28, 8, 0, rows),
    "digit16.png": png(28, 28, 16, 0, [bytes(b for v in r for b in (v, v)) for r in rows]),
    "digit_rgb.png": png(28, 28, 8, 2, [bytes(b for v in r for b in (v, v, 255 - v)) for r in rows]),
    "digit_rgba.png": png(28, 28, 8, 6, [bytes(b for v in r for b in (v, v, v, 200)) for r in rows]),
    "digit_palette.png": png(
        28, 28, 2, 3, [bytes((r[i] >> 6) << 6 | (r[i + 1] >> 6) << 4 | (r[i + 2] >> 6) << 2 | (r[i + 3] >> 6) for i in range(0, 28, 4)) for r in rows],
        plte=bytes([0, 0, 0, 85, 85, 85, 170, 170, 170, 255, 255, 255]),
    ),
    "digit_adam7.png": png(28, 28, 8, 0, adam7(28, 28, digit), interlace=1),
    "one.png": png(1, 1, 8, 0, [b"\x80"]),
}
for name, data in files.items():
    open(f"{out}/{name}", "wb").write(data)
