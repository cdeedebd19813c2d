import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHIPPED_MODEL = ROOT / "models" / "claim-classifier"


@pytest.fixture(scope="session")
def model_dir() -> Path:
    """The shipped classifier bundle (CLAIM_EDGE_TEST_MODEL may point at another one)."""
    return Path(os.environ.get("CLAIM_EDGE_TEST_MODEL", SHIPPED_MODEL))


@pytest.fixture
def profile_path(tmp_path, model_dir) -> Path:
    """The kiosk profile with the store in a temp folder and the model under test."""
    src = (ROOT / "firmware_config" / "kiosk-x86.toml").read_text()
    src = src.replace('path = "~/.claim-edge/store.db"', f'path = "{tmp_path / "store" / "store.db"}"')
    src = src.replace('classifier = "claim-classifier"', f'classifier = "{model_dir}"')
    p = tmp_path / "test-profile.toml"
    p.write_text(src)
    return p


def run_cli(*args: str, timeout: float = 300, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edge.cli", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT, **kw)


@pytest.fixture
def cli():
    return run_cli
