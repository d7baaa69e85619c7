from toolchain.tools import rust, wasm_opt

# What rustc 1.96 prints for wasm32-unknown-unknown (ENVIRONMENT.md), trimmed.
RUSTC_CFG = """debug_assertions
panic="abort"
target_arch="wasm32"
target_feature="bulk-memory"
target_feature="multivalue"
target_feature="mutable-globals"
target_feature="nontrapping-fptoint"
target_feature="reference-types"
target_feature="sign-ext"
target_os="unknown"
"""


def test_target_features_are_parsed_from_rustc_cfg():
    assert rust.parse_target_features(RUSTC_CFG) == [
        "bulk-memory",
        "multivalue",
        "mutable-globals",
        "nontrapping-fptoint",
        "reference-types",
        "sign-ext",
    ]


def test_flags_cover_every_feature_rustc_enables():
    flags = wasm_opt.feature_flags(rust.parse_target_features(RUSTC_CFG))
    assert flags == [
        "--enable-bulk-memory",
        "--enable-multivalue",
        "--enable-mutable-globals",
        "--enable-nontrapping-float-to-int",
        "--enable-reference-types",
        "--enable-sign-ext",
    ]


def test_features_binaryen_folds_together_give_one_flag():
    assert wasm_opt.feature_flags(["bulk-memory", "bulk-memory-opt"]) == ["--enable-bulk-memory"]


def test_unknown_feature_is_warned_about_not_dropped_silently(capsys):
    flags = wasm_opt.feature_flags(["simd128", "quantum-ops"])
    assert flags == ["--enable-simd"]
    assert "quantum-ops" in capsys.readouterr().err


def test_binaryen_versions_are_parsed():
    assert wasm_opt.parse_version("wasm-opt version 108") == "108"
    assert wasm_opt.parse_version("wasm-opt version 132 (version_132)") == "132"
    assert wasm_opt.parse_version("garbage") is None


def test_functions_are_ordered_by_name_only_when_binaryen_has_the_pass(tmp_path):
    from toolchain.tools import wasm_opt

    def fake(name: str, help_text: str) -> wasm_opt.WasmOpt:
        script = tmp_path / name
        script.write_text(f"#!/bin/sh\necho '{help_text}'\n")
        script.chmod(0o755)
        return wasm_opt.WasmOpt((str(script),), "1", "test")

    new = fake("new", "  --reorder-functions-by-name  sorts functions by name")
    old = fake("old", "  --reorder-functions  sorts functions by access frequency")
    assert wasm_opt.pass_flags(new, ["-Oz"]) == ["-Oz", "--debuginfo", "--reorder-functions-by-name"]
    assert wasm_opt.pass_flags(old, ["-O1", "--merge-similar-functions"]) == [
        "-O1",
        "--merge-similar-functions",
        "--debuginfo",
    ]
