"""Where provisioned tools and stage records live, and how cache keys are made.

Tools are cached outside the checkout (shared by every clone on the machine): set
WASM_TOOLCHAIN_CACHE to move it, e.g. onto a CI cache volume.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import secrets
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from toolchain.core import console


def cache_root() -> Path:
    configured = os.environ.get("WASM_TOOLCHAIN_CACHE")
    if configured:
        return Path(configured).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "wasm-qe-toolchain"


def tools_dir() -> Path:
    return cache_root() / "tools"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cache_key(**parts: Any) -> str:
    """A stable key over named parts (input hashes, tool versions, arguments)."""
    canonical = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _create_unique(parent: Path, prefix: str, make) -> Path:
    """make(candidate) on a fresh random name in parent (retried on a clash); the name used."""
    for _ in range(100):
        candidate = parent / f"{prefix}{secrets.token_hex(6)}"
        try:
            make(candidate)
            return candidate
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name {prefix}* in {parent}")


def write_json_atomic(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Not mkstemp: its 0600 would make every JSON file written this way private (the size
    # baseline, bench results, manifests); a plain create gets the umask's mode, as open() does.
    fds: list[int] = []
    tmp = _create_unique(
        path.parent,
        f".{path.name}.",
        lambda name: fds.append(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)),
    )
    try:
        with os.fdopen(fds[0], "w") as handle:
            json.dump(data, handle, indent=2, sort_keys=False)
            handle.write("\n")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def read_json(path: Path) -> Any | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


# Modes of what the toolchain publishes (the engine package, a release, the toolchain wheels),
# whatever the umask: a web server or an uploader running as another user must read them, and
# wasm-pack and npm produce the same. A stricter umask still protects them through the
# directories they are published into (artifacts/, the release root), which keep its modes.
PUBLISHED_DIR_MODE = 0o755
PUBLISHED_FILE_MODE = 0o644
PUBLISHED_EXECUTABLE_MODE = 0o755


def make_public(directory: Path) -> None:
    """Sets the published modes on a tree: directories 0755, files 0644 (0755 when executable)."""
    for root, _dirs, files in os.walk(directory):
        os.chmod(root, PUBLISHED_DIR_MODE)
        for name in files:
            path = Path(root) / name
            mode = path.lstat().st_mode
            if stat.S_ISREG(mode):  # a symlink keeps pointing; its target gets its own mode
                os.chmod(path, PUBLISHED_EXECUTABLE_MODE if mode & 0o111 else PUBLISHED_FILE_MODE)


def make_temp_dir(parent: Path, prefix: str) -> Path:
    """A new uniquely named directory, with the mode a plain mkdir gives (0777 less the umask).

    tempfile.mkdtemp makes it 0700, which is right for scratch space but not for a directory
    that is renamed into place and then read by others."""
    return _create_unique(parent, prefix, os.mkdir)


@contextlib.contextmanager
def install_lock(final: Path) -> Iterator[None]:
    """Held while one process installs `final`: a second process that wants the same install
    waits, then finds it done (check again after acquiring) instead of building it a second time
    beside the first (two cargo installs sharing a target directory failed that way)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    with open(final.parent / f".{final.name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def exclusive(lock_path: Path, what: str) -> Iterator[None]:
    """Held for the whole of an operation that rewrites files beside `lock_path`: a second process
    doing the same waits for the first instead of writing the same files at the same time (two
    builds of one crate in one checkout overwrote each other's wasm-opt output, and the later stage
    read a half-written module). Says once who it waits for."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            console.info(f"waiting for {what}, which {holder} is running, to finish ({lock_path})")
            fcntl.flock(handle, fcntl.LOCK_EX)
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def install_once(final: Path, populate, installed, what: str) -> None:
    """Installs `final` with populate() under install_lock, unless installed() says another process
    finished it while this one waited. A damaged directory there is replaced, with a warning."""
    with install_lock(final):
        if installed():
            return
        problem = install_problem(final) if final.exists() else None
        if problem:
            console.warn(f"{what} in {final} is damaged ({problem}): installing it again")
        with console.stage(f"install {what}"):
            install_dir_atomically(final, populate, record=True)


def install_dir_atomically(final: Path, populate, public: bool = False, record: bool = False) -> Path:
    """Runs populate(tmp_dir) and moves the result to final, so a failed install leaves nothing.

    public: the tree gets the published modes (make_public). record: the sha256 and size of
    every file are recorded in it (INSTALL_RECORD), so that a later damage is found
    (install_problem) and the install redone instead of failing every build that uses it."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = make_temp_dir(final.parent, f".{final.name}.partial-")
    try:
        populate(tmp)
        if record:
            write_install_record(tmp)
        if public:
            make_public(tmp)
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final


# ---------------------------------------------------------------- integrity of cached files

INSTALL_RECORD = ".install-record.json"


def file_fingerprint(path: Path) -> dict:
    return {"sha256": file_sha256(path), "size": path.stat().st_size}


def write_install_record(directory: Path) -> None:
    files = {
        str(path.relative_to(directory)): {**file_fingerprint(path), "executable": os.access(path, os.X_OK)}
        for path in sorted(directory.rglob("*"))
        if path.is_file() and not path.is_symlink() and path.name != INSTALL_RECORD
    }
    write_json_atomic(directory / INSTALL_RECORD, {"files": files})


def fingerprint_problem(path: Path, expected: dict, name: str | None = None) -> str | None:
    """What differs between a file and its recorded size and sha256, or None when it matches."""
    name = name or path.name
    if not path.is_file():
        return f"{name} is missing"
    size = path.stat().st_size
    if size != expected.get("size"):
        return f"{name} is {size} bytes, {expected.get('size')} when it was saved"
    if file_sha256(path) != expected.get("sha256"):
        return f"{name} has other bytes than when it was saved (sha256 differs)"
    if expected.get("executable") and not os.access(path, os.X_OK):
        return f"{name} is no longer executable"
    return None


def install_problem(directory: Path) -> str | None:
    """What is wrong with an install in the tool cache: None when every recorded file is intact.

    Installs made before records existed have none and pass here; their tools' --version
    check still catches a binary that does not run."""
    record_path = directory / INSTALL_RECORD
    if not record_path.exists():
        return None
    record = read_json(record_path)
    if not isinstance(record, dict) or not isinstance(record.get("files"), dict):
        return f"its install record {record_path} is unreadable"
    for name, expected in record["files"].items():
        problem = fingerprint_problem(directory / name, expected, name)
        if problem:
            return problem
    return None
