#!/usr/bin/env python3
"""Writes public/python-logo.png: a 64x64 picture in the spirit of the Python logo (a blue and a
yellow rounded block, each with an eye, interlocking), drawn pixel by pixel and encoded as a PNG
with zlib. Only the standard library is used, so the file can be regenerated anywhere:

    python3 sample-apps/static/tools/make_logo.py
"""
import os
import struct
import zlib

SIZE = 64
BLUE = (55, 118, 171, 255)
YELLOW = (255, 211, 67, 255)
WHITE = (255, 255, 255, 255)
CLEAR = (0, 0, 0, 0)


def inside_rounded(x, y, left, top, right, bottom, radius):
    """True when (x, y) lies in the rectangle with rounded corners."""
    if not (left <= x <= right and top <= y <= bottom):
        return False
    cx = min(max(x, left + radius), right - radius)
    cy = min(max(y, top + radius), bottom - radius)
    return (x - cx) ** 2 + (y - cy) ** 2 <= radius ** 2


def pixel(x, y):
    if (x - 20) ** 2 + (y - 12) ** 2 <= 9:
        return WHITE
    if (x - 43) ** 2 + (y - 51) ** 2 <= 9:
        return WHITE
    if inside_rounded(x, y, 6, 4, 40, 34, 8) or inside_rounded(x, y, 6, 20, 30, 44, 8):
        return BLUE
    if inside_rounded(x, y, 23, 29, 57, 59, 8) or inside_rounded(x, y, 33, 19, 57, 43, 8):
        return YELLOW
    return CLEAR


def chunk(kind, data):
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def png():
    rows = b"".join(
        b"\x00" + b"".join(bytes(pixel(x, y)) for x in range(SIZE)) for y in range(SIZE)
    )
    header = struct.pack(">IIBBBBB", SIZE, SIZE, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows, 9))
        + chunk(b"IEND", b"")
    )


if __name__ == "__main__":
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "public", "python-logo.png")
    with open(out, "wb") as f:
        f.write(png())
