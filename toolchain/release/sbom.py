"""A CycloneDX 1.6 SBOM of what a release ships: the Rust crates compiled into the module, and the packages.

The crates are the wasm32 dependency graph as the gating check resolves it (`cargo metadata
--filter-platform wasm32-unknown-unknown`, features replayed as resolver 2 does for the build):
proc-macros and build scripts run on the host and are not in the module, so they are not listed.
Hashes are Cargo.lock's checksums (sha256 of the .crate file); licenses are the crates' SPDX
expressions. The document is deterministic: its timestamp is SOURCE_DATE_EPOCH and its serial
number is derived from its content.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from toolchain import __version__
from toolchain.analysis import cargo_graph
from toolchain.tools.patched_crates import PreparedCrate

SPEC_VERSION = "1.6"
_SERIAL_NAMESPACE = uuid.UUID("6ba7b811-9dad-11d1-80b4-00c04fd430c8")  # uuid.NAMESPACE_URL


@dataclass(frozen=True)
class Shipped:
    """A file the release publishes (the npm tarball, the wheel)."""

    name: str
    version: str
    purl: str
    sha256: str
    description: str


def cargo_purl(name: str, version: str) -> str:
    return f"pkg:cargo/{name}@{version}"


def license_entry(expression: str | None) -> list[dict]:
    if not expression:
        return []
    # Old crates write "MIT/Apache-2.0"; SPDX says "MIT OR Apache-2.0".
    return [{"expression": " OR ".join(part.strip() for part in expression.split("/"))}]


def crate_components(
    resolution: cargo_graph.Resolution,
    raw_packages: dict[str, dict],
    checksums: dict[tuple[str, str], str],
    patched: dict[str, str],
    checkout: Path | None,
    prepared: dict[str, PreparedCrate] | None = None,
) -> tuple[list[dict], dict[str, str]]:
    """One component per crate in the module (the root excluded); returns them and package id -> bom-ref.

    patched: [patch.crates-io] crate name -> where its replacement lives; prepared: the patched
    crates made from a crates.io .crate and a patch (crates/patches/patches.toml), by name."""
    graph = resolution.graph
    refs: dict[str, str] = {}
    components = []
    for pid in sorted(resolution.wasm_packages(), key=lambda p: (graph.packages[p].name, graph.packages[p].version)):
        package, raw = graph.packages[pid], raw_packages[pid]
        purl = cargo_purl(package.name, package.version)
        refs[pid] = purl
        if pid == graph.root:
            continue
        component: dict[str, Any] = {
            "type": "library",
            "bom-ref": purl,
            "name": package.name,
            "version": package.version,
        }
        if raw.get("description"):
            component["description"] = " ".join(raw["description"].split())
        checksum = checksums.get((package.name, package.version))
        if checksum:
            component["hashes"] = [{"alg": "SHA-256", "content": checksum}]
        component["licenses"] = license_entry(raw.get("license"))
        if not component["licenses"]:
            del component["licenses"]
        source = raw.get("source")
        if source is None:
            # A path dependency: not from a registry, so no purl a scanner could look up there.
            where = Path(package.manifest_path).parent
            if checkout and where.is_relative_to(checkout):
                where = where.relative_to(checkout)
            component["properties"] = [{"name": "cargo:source", "value": f"path:{where}"}]
            if package.name in patched:
                source_patch = (prepared or {}).get(package.name)
                if source_patch is not None and source_patch.version != package.version:
                    source_patch = None
                component["pedigree"] = pedigree(
                    package.name, package.version, patched[package.name], source_patch, checkout
                )
        else:
            component["purl"] = purl
            if repository := raw.get("repository"):
                component["externalReferences"] = [{"type": "vcs", "url": repository}]
        components.append(component)
    return components, refs


def pedigree(name: str, version: str, location: str, prepared: PreparedCrate | None, checkout: Path | None) -> dict:
    """Where a [patch.crates-io] crate comes from: crates.io's release (the ancestor, with the sha256 of
    its .crate) and, for a prepared one, the patch applied to it (CycloneDX pedigree.patches, the
    diff's text in the document)."""
    purl = cargo_purl(name, version)
    ancestor: dict = {"type": "library", "name": name, "version": version, "purl": purl}
    if prepared is None:
        return {"ancestors": [ancestor], "notes": f"replaced by [patch.crates-io] with the copy at {location}"}
    ancestor["hashes"] = [{"alg": "SHA-256", "content": prepared.crate_sha256}]
    patch_path = prepared.patch_path
    if checkout and patch_path.is_relative_to(checkout):
        patch_path = patch_path.relative_to(checkout)
    return {
        "ancestors": [ancestor],
        "patches": [
            {
                "type": "unofficial",
                "diff": {
                    "text": {"contentType": "text/x-diff", "content": prepared.patch_path.read_text()},
                    "url": patch_path.as_posix(),
                },
            }
        ],
        "notes": (
            f"crates.io's {name} {version} (.crate sha256 {prepared.crate_sha256}) with the patch "
            f"{patch_path.as_posix()} (sha256 {prepared.patch_sha256}) applied; replaced by "
            f"[patch.crates-io] with the result, prepared at {location}"
        ),
    }


def dependency_edges(resolution: cargo_graph.Resolution, refs: dict[str, str]) -> list[dict]:
    edges = []
    for pid, ref in sorted(refs.items(), key=lambda item: item[1]):
        depends = sorted({refs[d.package] for d in resolution.graph.dependencies.get(pid, []) if d.package in refs})
        edges.append({"ref": ref, "dependsOn": depends})
    return edges


def iso_timestamp(epoch: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def document(
    root: dict, crates: list[dict], edges: list[dict], shipped: list[Shipped], std: dict | None, epoch: int
) -> dict:
    """The SBOM: `root` is the npm package's component; the crates, std and the shipped files are components."""
    components = [
        {
            "type": "library",
            "bom-ref": item.purl,
            "name": item.name,
            "version": item.version,
            "purl": item.purl,
            "description": item.description,
            "hashes": [{"alg": "SHA-256", "content": item.sha256}],
        }
        for item in shipped
    ]
    if std:
        components.append(std)
    components += crates
    bom = {
        "bomFormat": "CycloneDX",
        "specVersion": SPEC_VERSION,
        "version": 1,
        "metadata": {
            "timestamp": iso_timestamp(epoch),
            "tools": {"components": [{"type": "application", "name": "wasm-qe-toolchain", "version": __version__}]},
            "component": root,
        },
        "components": components,
        "dependencies": edges,
    }
    return {"bomFormat": "CycloneDX", "specVersion": SPEC_VERSION, "serialNumber": content_serial(bom), **bom}


def content_serial(bom: dict) -> str:
    """A serial number that is a function of the document (without a serial), not a random one."""
    canonical = json.dumps(bom, sort_keys=True, separators=(",", ":"))
    return f"urn:uuid:{uuid.uuid5(_SERIAL_NAMESPACE, canonical)}"


def std_component(rustc_semver: str, provider: str) -> dict:
    """Rust's std, built from source into the module: one component (its vendored crates are not itemised)."""
    return {
        "type": "library",
        "bom-ref": f"pkg:generic/rust-std@{rustc_semver}",
        "name": "rust-std",
        "version": rustc_semver,
        "purl": f"pkg:generic/rust-std@{rustc_semver}",
        "description": f"the Rust standard library (std, alloc, core, panic_abort), {provider}",
        "licenses": [{"expression": "MIT OR Apache-2.0"}],
    }


def patched_crates(manifest: dict, crate_dir: Path, checkout: Path | None) -> dict[str, str]:
    """[patch.crates-io] entries with a path: crate name -> where the replacement lives."""
    patched = {}
    for name, spec in manifest.get("patch", {}).get("crates-io", {}).items():
        if isinstance(spec, dict) and "path" in spec:
            where = (crate_dir / spec["path"]).resolve()
            patched[name] = (
                str(where.relative_to(checkout)) if checkout and where.is_relative_to(checkout) else str(where)
            )
    return patched
