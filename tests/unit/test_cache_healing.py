"""Caches that heal: each cache is damaged on purpose, and the next run notices, says so in one
line, and repairs itself instead of reusing bad bytes or failing every later build.

No real tool is built: stages are small `produce` functions, and cargo, npm and node are shell
scripts that write stand-in executables answering --version like the real ones.
"""

from __future__ import annotations

import json
import os
import stat
import zipfile
from pathlib import Path

import pytest

from toolchain.analysis import cargo_lock, wasm_module
from toolchain.core import cache
from toolchain.core.errors import MissingTool, StageFailed
from toolchain.pipeline import build
from toolchain.release import toolchain_wheels
from toolchain.tools import browser, rust, wasm_bindgen, wasm_opt

CONTENT = bytes(range(256)) * 8  # 2 kB, every byte value


def _producer(out: Path, calls: list, content: bytes = CONTENT):
    def produce():
        calls.append(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(content)

    return produce


@pytest.fixture
def store(tmp_path):
    """A store with one entry (key "k1", one output o.wasm) saved by a first checkout."""
    store = tmp_path / "store"
    first = tmp_path / "clone1" / "o.wasm"
    assert build.run_cached(first.with_suffix(".record.json"), "k1", [first], _producer(first, []), store) is False
    return store


def _run_in_fresh_clone(tmp_path: Path, store: Path, name: str, calls: list) -> tuple[bool, Path]:
    """run_cached in a checkout with no record of its own (a fresh clone): the store decides."""
    out = tmp_path / name / "o.wasm"
    reused = build.run_cached(out.with_suffix(".record.json"), "k1", [out], _producer(out, calls), store)
    return reused, out


def _assert_healed(tmp_path, store, capsys, expected_problem: str):
    calls = []
    reused, out = _run_in_fresh_clone(tmp_path, store, "clone2", calls)
    assert reused is False and calls == [out], "a damaged entry must not be restored: the stage runs"
    assert out.read_bytes() == CONTENT
    err = capsys.readouterr().err
    warnings = [line for line in err.splitlines() if "damaged" in line]
    assert len(warnings) == 1 and expected_problem in warnings[0] and "evicted" in warnings[0], err
    assert sorted(p.name for p in out.parent.iterdir()) == ["o.record.json", "o.wasm"]  # no temporary copies left
    # The stage's fresh output replaced the entry: the next clone restores good bytes, silently.
    again = []
    reused, out3 = _run_in_fresh_clone(tmp_path, store, "clone3", again)
    assert reused is True and again == [] and out3.read_bytes() == CONTENT
    assert "damaged" not in capsys.readouterr().err


def test_a_truncated_store_entry_is_evicted_and_rebuilt(tmp_path, store, capsys):
    entry_file = store / "k1" / "o.wasm"
    entry_file.write_bytes(CONTENT[: len(CONTENT) // 2])
    _assert_healed(tmp_path, store, capsys, f"o.wasm is {len(CONTENT) // 2} bytes, {len(CONTENT)} when it was saved")


def test_a_flipped_byte_in_a_store_entry_is_evicted_and_rebuilt(tmp_path, store, capsys):
    entry_file = store / "k1" / "o.wasm"
    data = bytearray(entry_file.read_bytes())
    data[1000] ^= 0x01
    entry_file.write_bytes(bytes(data))
    _assert_healed(tmp_path, store, capsys, "other bytes than when it was saved")


def test_a_store_entry_without_complete_marker_is_evicted_and_rebuilt(tmp_path, store, capsys):
    (store / "k1" / build.STORE_MANIFEST).unlink()
    _assert_healed(tmp_path, store, capsys, "never finished")


def test_a_store_entry_missing_an_output_is_evicted_and_rebuilt(tmp_path, store, capsys):
    (store / "k1" / "o.wasm").unlink()
    _assert_healed(tmp_path, store, capsys, "o.wasm is missing")


def test_a_store_entry_from_before_checksums_is_evicted_and_rebuilt(tmp_path, store, capsys):
    (store / "k1" / build.STORE_MANIFEST).write_text("")  # what older toolchains wrote: an empty marker
    _assert_healed(tmp_path, store, capsys, "records no checksums")


def test_an_intact_entry_is_restored_without_a_word(tmp_path, store, capsys):
    calls = []
    reused, out = _run_in_fresh_clone(tmp_path, store, "clone2", calls)
    assert reused is True and calls == [] and out.read_bytes() == CONTENT
    assert "damaged" not in capsys.readouterr().err


def test_a_checkout_with_a_lost_or_unreadable_record_restores_verified_outputs(tmp_path, store):
    out = tmp_path / "clone1" / "o.wasm"
    record = out.with_suffix(".record.json")
    out.write_bytes(b"half a modu")  # the output damaged too; the record must not vouch for it
    record.unlink()
    assert build.run_cached(record, "k1", [out], _producer(out, []), store) is True
    assert out.read_bytes() == CONTENT
    record.write_text("{ not json")
    out.write_bytes(b"damaged again")
    assert build.run_cached(record, "k1", [out], _producer(out, []), store) is True
    assert out.read_bytes() == CONTENT
    assert json.loads(record.read_text())["outputs"]["o.wasm"] == cache.file_sha256(out)


def test_a_checkout_record_that_disagrees_with_its_output_is_not_trusted(tmp_path, capsys):
    out, calls = tmp_path / "o.wasm", []
    record = out.with_suffix(".record.json")
    build.run_cached(record, "k1", [out], _producer(out, calls))
    out.write_bytes(CONTENT[:100])
    assert build.run_cached(record, "k1", [out], _producer(out, calls)) is False
    assert len(calls) == 2 and out.read_bytes() == CONTENT
    assert "differ from their record" in capsys.readouterr().err


def test_one_bad_file_of_several_restores_none(tmp_path, capsys):
    store, calls = tmp_path / "store", []
    first = [tmp_path / "c1" / "a.js", tmp_path / "c1" / "b.wasm"]

    def produce_both(outputs):
        def produce():
            calls.append(1)
            for output in outputs:
                output.parent.mkdir(parents=True, exist_ok=True)
                output.write_bytes(output.name.encode() * 10)

        return produce

    build.run_cached(tmp_path / "c1" / "r.json", "k", first, produce_both(first), store)
    (store / "k" / "b.wasm").write_bytes(b"x")
    second = [tmp_path / "c2" / "a.js", tmp_path / "c2" / "b.wasm"]
    assert build.run_cached(tmp_path / "c2" / "r.json", "k", second, produce_both(second), store) is False
    assert len(calls) == 2 and all(p.read_bytes() == p.name.encode() * 10 for p in second)
    assert "b.wasm is 1 bytes" in capsys.readouterr().err


# ---------------------------------------------------------------- tools in the tool cache

FAKE_CARGO = r"""#!/bin/sh
# Stands in for `cargo install NAME --version =V --root DIR ...`: writes executables that answer
# --version as the real ones do, and logs the call.
echo "$*" >> "$FAKE_TOOL_CALLS"
name=$2; version=; root=
while [ $# -gt 0 ]; do
  case "$1" in --version) version=${2#=}; shift ;; --root) root=$2; shift ;; esac
  shift
done
case "$name" in
  wasm-bindgen-cli) executables="wasm-bindgen wasm-bindgen-test-runner"; label=wasm-bindgen ;;
  *) executables=$name; label=$name ;;
esac
mkdir -p "$root/bin"
for exe in $executables; do
  printf '#!/bin/sh\necho "%s %s"\n' "$label" "$version" > "$root/bin/$exe"
  chmod +x "$root/bin/$exe"
done
"""

FAKE_NPM = r"""#!/bin/sh
# Stands in for `npm install ... --prefix DIR binaryen@V`: a wasm-opt script node can run.
echo "npm $*" >> "$FAKE_TOOL_CALLS"
while [ $# -gt 0 ]; do
  case "$1" in --prefix) prefix=$2; shift ;; binaryen@*) version=${1#binaryen@} ;; esac
  shift
done
mkdir -p "$prefix/node_modules/binaryen/bin"
printf 'echo "wasm-opt version %s (version_%s)"\n' "${version%%.*}" "${version%%.*}" > "$prefix/node_modules/binaryen/bin/wasm-opt"
"""

FAKE_NODE = '#!/bin/sh\nexec sh "$@"\n'


def _script(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)
    return path


@pytest.fixture
def tools(tmp_path, monkeypatch):
    """An empty tool cache, and fake cargo/npm/node first on PATH; returns the log of their calls."""
    monkeypatch.setenv("WASM_TOOLCHAIN_CACHE", str(tmp_path / "cache"))
    bin_dir = tmp_path / "fake-bin"
    _script(bin_dir / "cargo", FAKE_CARGO)
    _script(bin_dir / "npm", FAKE_NPM)
    _script(bin_dir / "node", FAKE_NODE)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    calls = tmp_path / "calls.log"
    calls.write_text("")
    monkeypatch.setenv("FAKE_TOOL_CALLS", str(calls))
    # Only the tool cache counts: no wasm-bindgen wheel of this environment, nothing on PATH.
    monkeypatch.setattr(wasm_bindgen, "installed_wheel", lambda version: None)
    return lambda: calls.read_text().splitlines()


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:5])


def _flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-3] ^= 0x20
    path.write_bytes(bytes(data))
    path.chmod(0o755)


VERSION = "0.2.130"


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda root: _truncate(root / "bin" / "wasm-bindgen"), id="truncated"),
        pytest.param(
            lambda root: _flip(root / "bin" / "wasm-bindgen-test-runner"), id="flipped-byte-in-the-test-runner"
        ),
        pytest.param(lambda root: (root / "bin" / "wasm-bindgen").chmod(0o644), id="not-executable"),
        pytest.param(lambda root: (root / "bin" / "wasm-bindgen").unlink(), id="missing"),
    ],
)
def test_a_damaged_wasm_bindgen_in_the_tool_cache_is_reinstalled(tools, capsys, damage):
    first = wasm_bindgen.ensure(VERSION)
    assert first.provider == wasm_bindgen.CACHE_PROVIDER and len(tools()) == 1
    damage(wasm_bindgen.cached_install_dir(VERSION))
    assert wasm_bindgen.damaged_install(VERSION)
    again = wasm_bindgen.ensure(VERSION)
    assert again.version == VERSION and len(tools()) == 2
    assert "is damaged" in capsys.readouterr().err and wasm_bindgen.damaged_install(VERSION) is None
    assert wasm_bindgen.ensure(VERSION) and len(tools()) == 2  # intact now: no third install


def test_a_damaged_wasm_bindgen_without_install_says_what_is_wrong(tools):
    wasm_bindgen.ensure(VERSION)
    _truncate(wasm_bindgen.cached_install_dir(VERSION) / "bin" / "wasm-bindgen")
    with pytest.raises(MissingTool) as error:
        wasm_bindgen.ensure(VERSION, install_missing=False)
    assert "is damaged: bin/wasm-bindgen is 5 bytes" in str(error.value) and "doctor -- --install" in error.value.fix


def test_an_install_from_before_records_is_still_checked_by_running_it(tools, capsys):
    root = wasm_bindgen.cached_install_dir(VERSION)
    _script(root / "bin" / "wasm-bindgen", "\x7fELF truncated")  # no record, and it does not run
    assert wasm_bindgen.damaged_install(VERSION) == "`bin/wasm-bindgen --version` fails"
    assert wasm_bindgen.ensure(VERSION).version == VERSION and len(tools()) == 1
    assert "is damaged" in capsys.readouterr().err


def test_a_damaged_geckodriver_is_built_again(tools, tmp_path, monkeypatch, capsys):
    firefox = _script(tmp_path / "firefox-bin" / "firefox-esr", "#!/bin/sh\necho 'Mozilla Firefox 153.0esr'\n")
    monkeypatch.setattr(browser, "FIREFOX_CANDIDATES", [str(firefox)])
    first = browser.find_firefox(install=True)
    assert first.geckodriver_version == f"geckodriver {browser.GECKODRIVER_VERSION}" and len(tools()) == 1
    _truncate(first.geckodriver)
    with pytest.raises(MissingTool, match="is 5 bytes"):
        browser.find_firefox(install=False)
    again = browser.find_firefox(install=True)
    assert again.geckodriver_version == f"geckodriver {browser.GECKODRIVER_VERSION}" and len(tools()) == 2
    assert "geckodriver in the tool cache is damaged" in capsys.readouterr().err


def test_a_damaged_npm_binaryen_is_installed_again(tools, capsys):
    provider = wasm_opt.NpmProvider("npm", "132.0.0", "npm binaryen")
    provider.install()
    assert provider.locate().version == "132" and len(tools()) == 1
    _truncate(provider.script)
    assert provider.locate() is None and "is 5 bytes" in provider.problem()
    provider.install()
    assert provider.locate().version == "132" and len(tools()) == 2
    assert "npm binaryen in the tool cache" in capsys.readouterr().err


def _demo_recipe(directory: Path) -> toolchain_wheels.Recipe:
    directory.mkdir(parents=True)
    (directory / "pyproject.toml").write_text(
        '[build-system]\nbuild-backend = "maturin"\n[project]\nname = "demo-cli"\nversion = "1.0"\n'
        '[tool.wasm-qe-toolchain.source]\ncrate = "demo-cli"\nversion = "1.0.0"\nsha256 = "x"\n'
        'tool-version = "demo 1.0"\nexecutables = ["demo"]\n'
    )
    return toolchain_wheels.load_recipe(directory)


def test_a_damaged_cached_toolchain_wheel_is_built_again(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("WASM_TOOLCHAIN_CACHE", str(tmp_path / "cache"))
    recipe = _demo_recipe(tmp_path / "recipe")
    builds = []

    def fake_pip_wheel(argv, **kwargs):  # what `pip wheel` leaves in --wheel-dir
        builds.append(argv)
        wheel_dir = Path(argv[argv.index("--wheel-dir") + 1])
        with zipfile.ZipFile(wheel_dir / "demo_cli-1.0-py3-none-linux_x86_64.whl", "w") as archive:
            # A fixed timestamp, as pip gives under SOURCE_DATE_EPOCH: the zip's own clock
            # (2-second resolution) made the two builds differ when they straddled a tick.
            entry = zipfile.ZipInfo("demo_cli-1.0.data/scripts/demo", date_time=(1980, 1, 1, 0, 0, 0))
            archive.writestr(entry, "#!/bin/sh\necho demo 1.0\n" * 50)

    monkeypatch.setattr(toolchain_wheels, "crate_archive", lambda *args: tmp_path / "demo.crate")
    monkeypatch.setattr(
        toolchain_wheels, "stage_sources", lambda recipe, archive, stage: stage.mkdir(parents=True) or stage
    )
    monkeypatch.setattr(toolchain_wheels.process, "run", fake_pip_wheel)
    monkeypatch.setattr(toolchain_wheels, "build_host_tools", lambda recipe: {})

    assert toolchain_wheels.uncached([recipe]) == ["demo-cli"]
    built = toolchain_wheels.build_wheel(recipe)
    assert toolchain_wheels.uncached([recipe]) == [] and len(builds) == 1
    _truncate(built.path)
    assert toolchain_wheels.uncached([recipe]) == ["demo-cli"]
    rebuilt = toolchain_wheels.build_wheel(recipe)
    assert rebuilt.sha256 == built.sha256 and not rebuilt.cached and len(builds) == 2
    assert "differs from its recorded sha256" in capsys.readouterr().err
    assert toolchain_wheels.build_wheel(recipe).cached and len(builds) == 2


# ---------------------------------------------------------------- cargo's output

MODULE = b"\0asm\x01\x00\x00\x00" + b"\x00\x05\x04abcd" + b"\x00\x03\x02hi"  # two custom sections


def test_wasm_file_check(tmp_path):
    good = tmp_path / "good.wasm"
    good.write_bytes(MODULE)
    assert wasm_module.whole_module_problem(good) is None
    cut = tmp_path / "cut.wasm"
    cut.write_bytes(MODULE[:-1])
    assert "cut short" in wasm_module.whole_module_problem(cut)
    text = tmp_path / "glue.wasm"
    text.write_text("export default function init() {}")
    assert "not a WebAssembly module" in wasm_module.whole_module_problem(text)
    header_only = tmp_path / "half-header.wasm"
    header_only.write_bytes(MODULE[:9] + b"\x85")
    assert "cut off or malformed" in wasm_module.whole_module_problem(header_only)
    assert "cannot be read" in wasm_module.whole_module_problem(tmp_path / "absent.wasm")


def _fake_cargo_build(tmp_path: Path, output: Path, heals: bool) -> Path:
    """A cargo whose `build` reports `output` as the cdylib; `clean` makes the next build write a
    good module when `heals` (as cargo relinks a cleaned crate)."""
    log, good = tmp_path / "cargo-calls.log", tmp_path / "good.wasm"
    good.write_bytes(MODULE)
    message = json.dumps(
        {
            "reason": "compiler-artifact",
            "target": {"name": "demo", "crate_types": ["cdylib"]},
            "filenames": [str(output)],
        }
    )
    relink = f'[ -f "{tmp_path}/cleaned" ] && cp "{good}" "{output}"' if heals else ":"
    return _script(
        tmp_path / "cargo",
        f"""#!/bin/sh
echo "$1 $*" >> "{log}"
case "$1" in
  build) {relink}; echo '{message}' ;;
  clean) touch "{tmp_path}/cleaned" ;;
esac
""",
    )


def _demo_crate(tmp_path: Path) -> cargo_lock.CrateManifest:
    return cargo_lock.CrateManifest(tmp_path / "Cargo.toml", "demo", "0.1.0", "demo", "", None)


def test_a_damaged_cargo_output_is_cleaned_and_linked_again(tmp_path, capsys):
    output = tmp_path / "target" / "demo.wasm"
    output.parent.mkdir()
    output.write_bytes(MODULE[:12])  # cut short, and cargo thinks it is fresh
    cargo = _fake_cargo_build(tmp_path, output, heals=True)
    toolchain = rust.RustToolchain(Path("/bin/true"), cargo, "rustc 1.96.0", "test", False)
    wasm = build.cargo_build(toolchain, _demo_crate(tmp_path), "release", tmp_path / "target")
    assert wasm == output and output.read_bytes() == MODULE
    calls = [line.split()[0] for line in (tmp_path / "cargo-calls.log").read_text().splitlines()]
    assert calls == ["build", "clean", "build"]
    clean = (tmp_path / "cargo-calls.log").read_text().splitlines()[1]
    assert "--package demo --target wasm32-unknown-unknown --profile release" in clean
    assert f"cargo's output {output} is damaged" in capsys.readouterr().err


def test_a_cargo_output_that_stays_damaged_is_an_error_naming_the_file_and_fix(tmp_path):
    output = tmp_path / "target" / "demo.wasm"
    output.parent.mkdir()
    output.write_text("not wasm")
    cargo = _fake_cargo_build(tmp_path, output, heals=False)
    toolchain = rust.RustToolchain(Path("/bin/true"), cargo, "rustc 1.96.0", "test", False)
    with pytest.raises(StageFailed) as error:
        build.cargo_build(toolchain, _demo_crate(tmp_path), "release", tmp_path / "target")
    assert str(output) in error.value.what and "not a WebAssembly module" in error.value.what
    assert str(tmp_path / "target") in error.value.fix


def test_install_records_cover_every_file_and_the_executable_bit(tmp_path):
    def populate(directory: Path) -> None:
        _script(directory / "bin" / "tool", "#!/bin/sh\necho tool 1\n")
        (directory / "share").mkdir()
        (directory / "share" / "data").write_bytes(b"data")

    root = cache.install_dir_atomically(tmp_path / "tool-1", populate, record=True)
    record = json.loads((root / cache.INSTALL_RECORD).read_text())["files"]
    assert set(record) == {"bin/tool", "share/data"} and record["bin/tool"]["executable"] is True
    assert cache.install_problem(root) is None
    (root / "share" / "data").write_bytes(b"DATA")
    assert cache.install_problem(root) == "share/data has other bytes than when it was saved (sha256 differs)"
    (root / "share" / "data").write_bytes(b"data")
    (root / "bin" / "tool").chmod(stat.S_IRUSR)
    assert cache.install_problem(root) == "bin/tool is no longer executable"
    (root / cache.INSTALL_RECORD).write_text("{")
    assert "unreadable" in cache.install_problem(root)
