import pytest

from toolchain.core import system
from toolchain.core.errors import MissingTool, WrongVersion
from toolchain.tools import browser, rust, wasm_opt


def test_non_root_gets_the_exact_apt_command(monkeypatch):
    monkeypatch.setattr(system, "missing_packages", lambda packages: ["rustc-web", "lld-22"])
    monkeypatch.setattr(system.os, "geteuid", lambda: 1000)
    with pytest.raises(MissingTool) as error:
        system.ensure_packages(["rustc-web", "cargo-web", "lld-22"], "a Rust that builds wasm32")
    assert "sudo apt-get update && sudo apt-get install -y rustc-web lld-22" in str(error.value)


def test_no_wasm32_rust_explains_both_routes(monkeypatch):
    monkeypatch.setattr(rust, "_candidate_rustcs", list)
    with pytest.raises(MissingTool) as error:
        rust.find_toolchain(install=False)
    message = str(error.value)
    assert "rustc-web" in message and "rustup target add wasm32-unknown-unknown" in message


def test_unknown_wasm_opt_provider_lists_the_known_ones():
    with pytest.raises(MissingTool, match="debian, npm, wheel, path"):
        wasm_opt.ensure("homebrew", install_missing=False)


def test_wasm_opt_of_another_version_than_pinned_is_refused(monkeypatch):
    provider = wasm_opt.PROVIDERS["debian"]
    monkeypatch.setattr(type(provider), "locate", lambda self: wasm_opt.WasmOpt(("/x/wasm-opt",), "99", "debian"))
    with pytest.raises(MissingTool, match="binaryen 99, but the toolchain pins 108"):
        wasm_opt.ensure("debian", install_missing=False)


def test_chromium_and_driver_must_match(monkeypatch, tmp_path):
    paths = {"chromium": tmp_path / "chromium", "chromedriver": tmp_path / "chromedriver"}
    monkeypatch.setattr(
        browser, "_first", lambda names: paths["chromedriver" if "chromedriver" in names else "chromium"]
    )
    versions = {"chromedriver": "ChromeDriver 155.0.1.2", "chromium": "Chromium 156.0.8078.79"}
    monkeypatch.setattr(browser.process, "output", lambda argv: versions[argv[0].name])
    with pytest.raises(WrongVersion, match="different major versions"):
        browser.find()
