"""config.schema.json, and validation against it with errors that name the key and say what to write."""

from __future__ import annotations

import json
from functools import cache as memoize
from pathlib import Path

from toolchain.core.errors import ToolchainError

SCHEMA_PATH = Path(__file__).with_name("config.schema.json")


@memoize
def schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text())


def validate(instance: object, definition: str, where: str) -> None:
    """Raises a ToolchainError naming the key (as a TOML-ish path) for the first schema violation."""
    import jsonschema

    validator = jsonschema.Draft202012Validator({"$ref": f"#/$defs/{definition}", **schema()})
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    if not errors:
        return
    error = errors[0]
    key = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path).lstrip(".")
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = sorted(error.schema.get("properties", {}))
        unknown = sorted(set(error.instance) - set(allowed))
        raise ToolchainError(
            f"{where}{' ' + key if key else ''}: unknown key(s) {', '.join(unknown)}",
            f"the known keys are {', '.join(allowed)}",
        )
    message = error.schema.get("x-message")
    problem = f"{message}, not {error.instance!r}" if message else error.message
    if "wasm-opt" in key:
        fix = 'e.g. wasm-opt = ["-Oz"]; the input, -o and the feature flags are added by the toolchain'
    elif "js-files" in key:
        fix = 'e.g. js-files = ["js/helper.js", "js/helper.d.ts"], relative to the crate directory'
    elif message == "must be a list of strings":
        fix = f'write it as {key.split("[")[0]} = ["..."]'
    else:
        fix = f"see {SCHEMA_PATH} ($defs/{definition}) for the format"
    raise ToolchainError(f"{where} {key} {problem}" if key else f"{where}: {problem}", fix)
