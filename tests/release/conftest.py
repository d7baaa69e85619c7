"""One release of the built engine per test session, into a temporary directory (artifacts/release
is left to `nox -s release`)."""

from __future__ import annotations

import pytest

from tests.conftest import ENGINE_MANIFEST
from toolchain.release import artifacts as release


@pytest.fixture(scope="session")
def engine_release(built_engine, tmp_path_factory) -> release.Release:
    request = release.ReleaseRequest(
        package_dir=built_engine.package_dir,
        manifest_path=ENGINE_MANIFEST,
        release_root=tmp_path_factory.mktemp("release"),
    )
    return release.make_release(request)
