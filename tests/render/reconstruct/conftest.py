"""Reconstruction tests train with torch: one thread is steadier than two on a 2-core machine."""

import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """One torch thread (steadier than two on the shared 2-core machine), restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
