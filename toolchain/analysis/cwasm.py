"""Reading a wasmtime precompiled artifact (.cwasm): an ELF64 file whose `.wasmtime.engine` section
records the wasmtime version and the target triple it was compiled for, followed by the compiler
and tunable flags that deserialization checks.

Used to prove what an artifact is without loading it (a foreign-architecture artifact cannot be
loaded here), and to refuse a cache entry or bundle file that is not what its record says.
Loading a .cwasm is loading native code: only artifacts this toolchain wrote, with checksums that
match, are ever handed to wasmtime.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

ELF_MAGIC = b"\x7fELF"
# ELF e_machine values wasmtime writes: x86_64, aarch64, and Pulley (it reuses RISC-V's, with
# flags); s390x and riscv64 for completeness.
MACHINES = {62: "x86_64", 183: "aarch64", 243: "riscv64-or-pulley", 22: "s390x"}
ENGINE_SECTION = ".wasmtime.engine"


class NotAnArtifact(ValueError):
    """The bytes are not a wasmtime artifact (not ELF64, or no engine section)."""


@dataclass(frozen=True)
class ArtifactHeader:
    elf_machine: int
    machine: str  # from e_machine
    version: str  # the wasmtime version the engine section records (its major version)
    triple: str  # the target triple: x86_64-unknown-linux-gnu, aarch64-unknown-linux-gnu, pulley64

    @property
    def architecture(self) -> str:
        """What the code runs on: x86_64, aarch64, or pulley64 (the portable interpreter)."""
        return self.triple.split("-")[0]


def _sections(data: bytes) -> dict[str, tuple[int, int]]:
    shoff = struct.unpack_from("<Q", data, 0x28)[0]
    entsize, count, names_index = struct.unpack_from("<HHH", data, 0x3A)
    headers = []
    for index in range(count):
        base = shoff + index * entsize
        name, _type, _flags, _addr, offset, size = struct.unpack_from("<IIQQQQ", data, base)
        headers.append((name, offset, size))
    _, names_offset, names_size = headers[names_index]
    names = data[names_offset : names_offset + names_size]
    found = {}
    for name, offset, size in headers:
        end = names.find(b"\0", name)
        found[names[name:end].decode("ascii", errors="replace")] = (offset, size)
    return found


def read_header(data: bytes) -> ArtifactHeader:
    if data[:4] != ELF_MAGIC or len(data) < 64:
        raise NotAnArtifact("no ELF header: not a wasmtime artifact")
    if data[4] != 2 or data[5] != 1:
        raise NotAnArtifact("not a little-endian ELF64 file: not a wasmtime artifact")
    machine = struct.unpack_from("<H", data, 18)[0]
    try:
        sections = _sections(data)
    except struct.error as exc:
        raise NotAnArtifact(f"the ELF section table is cut off ({exc})") from exc
    if ENGINE_SECTION not in sections:
        raise NotAnArtifact(f"no {ENGINE_SECTION} section: an ELF file, but not a wasmtime artifact")
    offset, size = sections[ENGINE_SECTION]
    engine = data[offset : offset + size]
    try:
        pos = 1  # byte 0: the version strategy
        length = engine[pos]
        version = engine[pos + 1 : pos + 1 + length].decode("ascii")
        pos += 1 + length
        length = engine[pos]
        triple = engine[pos + 1 : pos + 1 + length].decode("ascii")
    except (IndexError, UnicodeDecodeError) as exc:
        raise NotAnArtifact(f"the {ENGINE_SECTION} section is not readable ({exc})") from exc
    return ArtifactHeader(machine, MACHINES.get(machine, f"e_machine {machine}"), version, triple)
