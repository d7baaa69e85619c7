"""What a crate's package ships besides the module and its glue: wasm-bindgen's snippets (the JS
the glue imports), the README and license files, the links and license in package.json; a module
that exports nothing is refused before anything is published. No tool runs: crates are
CrateManifests over temporary directories, modules are assembled byte by byte."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from toolchain.analysis import cargo_lock
from toolchain.core.errors import StageFailed, ToolchainError
from toolchain.pipeline import build


def crate_in(directory: Path, **fields) -> cargo_lock.CrateManifest:
    directory.mkdir(parents=True, exist_ok=True)
    defaults = {"license": None, "workspace_root": directory}
    return cargo_lock.CrateManifest(
        directory / "Cargo.toml", "greeter", "1.4.2", "greeter", "greets", **{**defaults, **fields}
    )


def write(path: Path, text: str = "text\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# ---------------------------------------------------------------- package.json


SNIPPETS = ["snippets/greeter-0123abcd/inline0.js", "snippets/greeter-0123abcd/js/format.js"]


def test_package_json_has_the_crates_links_and_license():
    crate = cargo_lock.CrateManifest(
        Path("/w/greeter/Cargo.toml"),
        "greeter",
        "1.4.2",
        "greeter",
        "greets",
        "MIT OR Apache-2.0",
        repository="https://example.org/w.git",
        homepage="https://example.org/w",
    )
    manifest = build.package_json(crate, "greeter", snippets=SNIPPETS, notices=["README.md", "LICENSE"])
    assert manifest["license"] == "MIT OR Apache-2.0"
    assert manifest["repository"] == {"type": "git", "url": "https://example.org/w.git"}
    assert manifest["homepage"] == "https://example.org/w"
    assert manifest["version"] == "1.4.2"


def test_snippets_and_notices_are_listed_file_by_file_and_snippets_are_not_exported():
    crate = crate_in(Path("/w/greeter"), license="MIT")
    manifest = build.package_json(crate, "greeter", ["plain.js"], SNIPPETS, ["README.md", "LICENSE"])
    assert manifest["files"] == [
        "greeter_bg.wasm",
        "greeter.js",
        "greeter.d.ts",
        "greeter_bg.wasm.d.ts",
        "plain.js",
        *SNIPPETS,
        "LICENSE",
        "README.md",
    ]
    assert not [key for key in manifest["exports"] if "snippets" in key]  # the glue imports them; hashes change
    assert "./plain.js" in manifest["exports"]


@pytest.mark.parametrize(
    ("license", "license_file", "notices", "expected"),
    [
        ("MIT/Apache-2.0", None, [], "MIT OR Apache-2.0"),  # cargo's old syntax, as npm reads SPDX
        ("Apache-2.0 WITH LLVM-exception", None, [], "Apache-2.0 WITH LLVM-exception"),
        (None, "legal/TERMS.txt", ["TERMS.txt"], "SEE LICENSE IN TERMS.txt"),
        (None, None, ["README.md", "COPYING"], "SEE LICENSE IN COPYING"),
        (None, None, ["README.md"], None),
    ],
)
def test_the_license_field(tmp_path, license, license_file, notices, expected):
    crate = crate_in(
        tmp_path / "c", license=license, license_file=(tmp_path / "c" / license_file) if license_file else None
    )
    manifest = build.package_json(crate, "greeter", notices=notices)
    assert manifest.get("license") == expected


def test_no_links_no_fields():
    crate = crate_in(Path("/w/greeter"))
    manifest = build.package_json(crate, "greeter")
    assert not {"repository", "homepage", "license"} & set(manifest)


# ---------------------------------------------------------------- README and license files


def test_the_crates_readme_and_license_files_are_shipped(tmp_path):
    root = tmp_path / "ws"
    crate_dir = root / "greeter"
    write(root / "LICENSE", "the workspace's")
    readme = write(crate_dir / "README.md")
    write(crate_dir / "LICENSE-MIT")
    write(crate_dir / "LICENSE-APACHE")
    write(crate_dir / "licenses.rs")  # not a license file
    (crate_dir / "LICENSES").mkdir()  # a directory (REUSE): not shipped
    crate = crate_in(crate_dir, readme=readme, workspace_root=root)
    assert build.notice_files(crate) == {
        "README.md": readme,
        "LICENSE-APACHE": crate_dir / "LICENSE-APACHE",
        "LICENSE-MIT": crate_dir / "LICENSE-MIT",
    }


def test_a_member_without_license_files_ships_its_workspace_roots(tmp_path):
    root = tmp_path / "ws"
    write(root / "LICENSE")
    write(root / "COPYING.txt")
    crate = crate_in(root / "counter", workspace_root=root)
    assert build.notice_files(crate) == {"COPYING.txt": root / "COPYING.txt", "LICENSE": root / "LICENSE"}


def test_a_readme_named_otherwise_ships_as_readme_and_license_file_wins(tmp_path):
    crate_dir = tmp_path / "greeter"
    intro = write(crate_dir / "docs" / "intro.md")
    terms = write(tmp_path / "legal" / "TERMS.txt")
    write(crate_dir / "LICENSE")  # license-file is what the crate says its license is
    crate = crate_in(crate_dir, readme=intro, license_file=terms)
    assert build.notice_files(crate) == {"README.md": intro, "TERMS.txt": terms}


def test_a_missing_license_file_is_an_error_with_the_fix(tmp_path):
    crate = crate_in(tmp_path / "greeter", license_file=tmp_path / "greeter" / "LICENSE.txt")
    with pytest.raises(ToolchainError, match=r"license-file .*LICENSE\.txt does not exist") as error:
        build.notice_files(crate)
    assert "fix the path" in error.value.fix


def test_nothing_to_ship_is_nothing(tmp_path):
    assert build.notice_files(crate_in(tmp_path / "bare")) == {}


# ---------------------------------------------------------------- the package directory


@pytest.fixture
def strict_umask():
    previous = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(previous)


def test_the_package_keeps_snippet_paths_and_is_readable_by_others(tmp_path, strict_umask):
    sources = {name: write(tmp_path / "src" / name.replace("/", "_"), name) for name in SNIPPETS}
    sources["README.md"] = write(tmp_path / "src" / "README.md")
    executable = write(tmp_path / "src" / "greeter.js")
    executable.chmod(0o700)  # a glue that was executable somewhere ships 0644 all the same
    sources["greeter.js"] = executable
    package = build.publish_package(tmp_path / "out" / "greeter", sources, {"package.json": {"name": "greeter"}})
    modes = {p.relative_to(package).as_posix(): stat.S_IMODE(p.stat().st_mode) for p in [package, *package.rglob("*")]}
    assert modes == {
        ".": 0o755,
        "snippets": 0o755,
        "snippets/greeter-0123abcd": 0o755,
        "snippets/greeter-0123abcd/js": 0o755,
        "snippets/greeter-0123abcd/inline0.js": 0o644,
        "snippets/greeter-0123abcd/js/format.js": 0o644,
        "README.md": 0o644,
        "greeter.js": 0o644,
        "package.json": 0o644,
    }
    assert (package / SNIPPETS[1]).read_text() == SNIPPETS[1]


def test_a_package_file_name_leaving_the_package_is_refused_and_nothing_is_left(tmp_path):
    source = write(tmp_path / "x.js")
    with pytest.raises(ToolchainError, match="leaves the package"):
        build.publish_package(tmp_path / "out" / "greeter", {"../x.js": source}, {})
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == []


# ---------------------------------------------------------------- a module that exports nothing


def _uleb(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _vec(items: list[bytes]) -> bytes:
    return _uleb(len(items)) + b"".join(items)


def _name(text: str) -> bytes:
    return _uleb(len(text)) + text.encode()


def _section(section_id: int, payload: bytes) -> bytes:
    return bytes([section_id]) + _uleb(len(payload)) + payload


def module(path: Path, imports: list[str] = (), functions: list[str] = (), extra_exports: list[str] = ()) -> Path:
    """A wasm-bindgen-shaped module: JS imports from ./x_bg.js, exported functions, memory, a table."""
    body = b"\x02\x00\x0b"  # no locals, end
    data = b"\0asm\x01\0\0\0"
    data += _section(1, _vec([b"\x60\x00\x00"]))  # one type: () -> ()
    data += _section(2, _vec([_name("./x_bg.js") + _name(name) + b"\x00\x00" for name in imports]))
    data += _section(3, _vec([b"\x00"] * (len(functions) + len(extra_exports))))
    data += _section(4, _vec([b"\x6f\x00\x01"]))  # an externref table
    data += _section(5, _vec([b"\x00\x11"]))  # memory, 17 pages
    exports = [_name("memory") + b"\x02\x00", _name("__wbindgen_externrefs") + b"\x01\x00"]
    for offset, name in enumerate([*functions, *extra_exports]):
        exports.append(_name(name) + b"\x00" + _uleb(len(imports) + offset))
    data += _section(7, _vec(exports))
    data += _section(10, _vec([_uleb(len(body)) + body] * (len(functions) + len(extra_exports))))
    path.write_bytes(data)
    return path


INTERNALS = ["__wbindgen_start", "__wbindgen_malloc", "wasm_bindgen_eb7819e450721e2a___convert__closures"]


def test_a_module_with_only_wasm_bindgens_internals_is_of_no_use(tmp_path):
    empty = module(tmp_path / "x_bg.wasm", ["__wbindgen_init_externref_table"], [], INTERNALS)
    problem = build.exports_problem(empty)
    assert problem is not None and "exports no function of the crate" in problem
    assert "memory, __wbindgen_externrefs, __wbindgen_start" in problem


@pytest.mark.parametrize(
    ("imports", "functions"),
    [
        (["__wbindgen_init_externref_table"], ["greet"]),  # an export of the crate
        (["__wbg_log_0123", "__wbindgen_init_externref_table"], []),  # a start function that calls JS
    ],
)
def test_a_module_that_exports_or_calls_something_is_fine(tmp_path, imports, functions):
    assert build.exports_problem(module(tmp_path / "x_bg.wasm", imports, functions, INTERNALS)) is None


def test_the_no_exports_error_names_the_features_and_the_fix(tmp_path, monkeypatch):
    empty = module(tmp_path / "x_bg.wasm", ["__wbindgen_init_externref_table"], [], ["__wbindgen_start"])
    crate = crate_in(tmp_path / "counter")
    monkeypatch.setattr(build, "_crate_features", lambda crate: {"default": ["bindings"], "bindings": []})
    with pytest.raises(StageFailed) as error:
        build.require_exports(empty, crate, [], no_default_features=True)
    assert "exports no function of the crate" in error.value.what and "nothing was published" in error.value.what
    fix = error.value.fix
    assert "behind a cargo feature" in fix and "--features NAME" in fix and "--no-default-features" in fix
    assert "bindings, default (enables bindings)" in fix
    build.require_exports(module(tmp_path / "y_bg.wasm", [], ["count_words"]), crate)  # no error


def test_the_no_exports_error_without_readable_features_still_says_what_to_pass(tmp_path):
    empty = module(tmp_path / "x_bg.wasm", [], [])
    crate = crate_in(tmp_path / "nowhere")  # no Cargo.toml: cargo metadata cannot read it
    with pytest.raises(StageFailed) as error:
        build.require_exports(empty, crate, ["simd"])
    assert "features passed: simd)" in error.value.fix


def test_a_package_json_written_by_the_build_parses(tmp_path):
    crate = crate_in(tmp_path / "greeter", license="MIT")
    document = build.package_json(crate, "greeter", snippets=SNIPPETS)
    package = build.publish_package(tmp_path / "out", {}, {"package.json": document})
    assert json.loads((package / "package.json").read_text())["files"][-1] == SNIPPETS[-1]
