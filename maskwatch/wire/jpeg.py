"""What a JPEG says about itself, read from its header without decoding it (a hostile image must
be refused before it costs a gigabyte of memory)."""
from __future__ import annotations

SOI = b"\xff\xd8"
MAX_STEPS = 256
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def is_jpeg(data: bytes) -> bool:
    return data[:2] == SOI


def jpeg_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the first start-of-frame marker, or None when there is none."""
    if not is_jpeg(data):
        return None
    i, n, steps = 2, len(data), 0
    while i + 4 <= n:
        steps += 1
        if data[i] != 0xFF or steps > MAX_STEPS:  # a header is a few dozen segments
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        length = int.from_bytes(data[i + 2:i + 4], "big")
        if marker in _SOF and i + 9 <= n:
            height = int.from_bytes(data[i + 5:i + 7], "big")
            width = int.from_bytes(data[i + 7:i + 9], "big")
            return width, height
        if length < 2:
            return None
        i += 2 + length
    return None
