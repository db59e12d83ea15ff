import os
from pathlib import Path

import pytest
import torch

# The machine running the tests is small and shared: one intra-op thread avoids
# oversubscription (and makes CPU results deterministic).
torch.set_num_threads(1)

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """Directory with the canonical MNIST/Fashion-MNIST files, or skip."""
    env = os.environ.get("BITROBUST_DATA")
    for candidate in (Path(env) if env else None, SHARED_DATA):
        if candidate is not None and (candidate / "mnist").is_dir():
            return candidate
    pytest.skip("MNIST data not available (set BITROBUST_DATA)")
