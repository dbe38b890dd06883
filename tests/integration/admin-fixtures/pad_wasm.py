#!/usr/bin/env python3
"""pad_wasm.py IN OUT SIZE: writes OUT = the module IN plus one custom section ("pad") so that OUT
is exactly SIZE bytes. The module stays valid and behaves the same (custom sections are ignored)."""
import sys


def leb(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def main() -> None:
    src, dst, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
    data = open(src, "rb").read()
    name = b"pad"
    head = leb(len(name)) + name
    # total = len(data) + 1 (id) + len(leb(content)) + content, content = head + payload
    for leb_len in range(1, 6):
        content = size - len(data) - 1 - leb_len
        if content >= len(head) and len(leb(content)) == leb_len:
            break
    else:
        sys.exit(f"cannot pad {src} ({len(data)} bytes) to {size} bytes")
    payload = bytes(content - len(head))
    out = data + b"\x00" + leb(content) + head + payload
    assert len(out) == size
    open(dst, "wb").write(out)


if __name__ == "__main__":
    main()
