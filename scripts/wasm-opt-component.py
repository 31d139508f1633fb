#!/usr/bin/env python3
"""Runs binaryen's `wasm-opt -O3` on the connector component's core module.

usage: wasm-opt-component.py WASM_OPT INPUT OUTPUT

INPUT is cargo's output (target/.../deps/), OUTPUT the component the harness and tests load;
reading the untouched input every time keeps the result the same however often this runs.

A component embeds its core modules as sections (id 1) of the component binary; nothing else in
the component refers to a module by byte offset, so the optimised module replaces the original
in the same section. Only the first module is optimised: it is the connector (over 95% of the
file); the other two are wit-component's few-hundred-byte adapter shims. wasm-opt keeps every
export and import name, which is all the component's instances refer to.
"""

import os
import subprocess
import sys
import tempfile

# The features rustc's wasm32-wasip2 target enables; wasm-opt must accept and keep exactly these.
FEATURES = [
    "--enable-bulk-memory",
    "--enable-mutable-globals",
    "--enable-sign-ext",
    "--enable-nontrapping-float-to-int",
    "--enable-multivalue",
    "--enable-reference-types",
]


def uleb(data, pos):
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, pos


def to_uleb(value):
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def first_module(component):
    """(start of the section, start of the module, end of the module) of the first core module."""
    if component[4:8] != b"\x0d\x00\x01\x00":
        sys.exit("not a component (wrong layer/version in the header)")
    pos = 8
    while pos < len(component):
        section = pos
        size, start = uleb(component, pos + 1)
        if component[pos] == 1:
            return section, start, start + size
        pos = start + size
    sys.exit("the component embeds no core module")


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    wasm_opt, source, path = sys.argv[1], sys.argv[2], sys.argv[3]
    with open(source, "rb") as f:
        component = f.read()
    section, start, end = first_module(component)
    with tempfile.TemporaryDirectory() as tmp:
        before, after = os.path.join(tmp, "in.wasm"), os.path.join(tmp, "out.wasm")
        with open(before, "wb") as f:
            f.write(component[start:end])
        subprocess.run([wasm_opt, "-O3", *FEATURES, before, "-o", after], check=True)
        with open(after, "rb") as f:
            module = f.read()
    result = component[:section] + b"\x01" + to_uleb(len(module)) + module + component[end:]
    # A new file, not a write through cargo's hard link into target/.../deps/.
    with open(path + ".tmp", "wb") as f:
        f.write(result)
    os.replace(path + ".tmp", path)
    print(f"wasm-opt -O3: {len(component)} -> {len(result)} bytes")


if __name__ == "__main__":
    main()
