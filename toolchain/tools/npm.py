"""npm packages pinned by a committed package-lock.json, installed into the tool cache.

The install directory is named after the lock file's hash, so every clone with the same lock
reuses it and a changed lock gets a fresh one.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from toolchain.core import cache, process
from toolchain.core.errors import MissingTool, ToolchainError


def install_locked(project_dir: Path) -> Path:
    """`npm ci` of project_dir's package.json + package-lock.json; returns its node_modules."""
    manifest, lock = project_dir / "package.json", project_dir / "package-lock.json"
    if not lock.is_file():
        raise ToolchainError(
            f"no package-lock.json in {project_dir}",
            f"run `npm install --package-lock-only` in {project_dir} and commit it",
        )
    digest = cache.cache_key(manifest=cache.file_sha256(manifest), lock=cache.file_sha256(lock))[:16]
    prefix = cache.tools_dir() / f"npm-{project_dir.name}-{digest}"
    node_modules = prefix / "node_modules"
    if node_modules.is_dir():
        return node_modules
    npm = shutil.which("npm")
    if not npm:
        raise MissingTool(
            "npm is needed for the browser tests' JavaScript dependencies",
            "install Node.js and npm (Debian: nodejs npm)",
        )

    def populate(directory: Path) -> None:
        shutil.copy(manifest, directory / "package.json")
        shutil.copy(lock, directory / "package-lock.json")
        process.run(
            [npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
            cwd=directory,
            what=f"npm ci for {project_dir}",
            fix="check that the npm registry is reachable",
        )

    cache.install_dir_atomically(prefix, populate)
    return node_modules
