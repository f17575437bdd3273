#!/usr/bin/env python3
"""tests/cortex_m/bytes_to_c.py — a file as a C header holding its bytes as a const array, so
that firmware can carry it in flash (the Cortex-M harness compiles in an encoder file of
`simclr export` this way and reads it with simclr_encoder_load_bytes).

    python3 tests/cortex_m/bytes_to_c.py FILE NAME > NAME.h

writes `static const unsigned char NAME[]` (the bytes) and `static const size_t NAME_size`.
"""
import sys


def main():
    if len(sys.argv) != 3 or not sys.argv[2].isidentifier():
        sys.exit("usage: bytes_to_c.py FILE NAME (NAME a C identifier)")
    path, name = sys.argv[1], sys.argv[2]
    with open(path, "rb") as f:
        data = f.read()
    out = sys.stdout
    out.write("/* %s: the %d bytes of %s, made by tests/cortex_m/bytes_to_c.py */\n"
              % (name, len(data), path.split("/")[-1]))
    out.write("#include <stddef.h>\n")
    out.write("static const unsigned char %s[%d] = {\n" % (name, max(len(data), 1)))
    for start in range(0, len(data), 16):
        out.write("    " + ",".join("%d" % b for b in data[start:start + 16]) + ",\n")
    out.write("};\n")
    out.write("static const size_t %s_size = %d;\n" % (name, len(data)))


if __name__ == "__main__":
    main()
