from __future__ import annotations

import pytest

from tests.deploy.helpers import DEPLOY, OVERLAYS, Obj, kustomize


@pytest.fixture(scope="session")
def rendered() -> dict[str, list[Obj]]:
    """``kubectl kustomize`` of every overlay, once per test session."""
    return {overlay: kustomize(DEPLOY / "k8s" / "overlays" / overlay) for overlay in OVERLAYS}
