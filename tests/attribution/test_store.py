"""The stored attribution format (crelens.attribution.store): unreadable and inconsistent files name the file."""

import numpy as np
import pytest

from crelens.attribution.store import read_attributions, write_attributions
from crelens.errors import InputError


def test_unreadable_or_inconsistent_files_name_the_file(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(InputError, match="bad.npz"):
        read_attributions(bad)
    arrays = {
        "seq_id": np.array(["a"]),
        "sequence": np.array(["ACGT"]),
        "output": np.array(["K562"]),
        "relevance": np.zeros((2, 1, 4), np.float32),
        "prediction": np.zeros((1, 1), np.float32),
        "label_id": np.array([-1]),
    }
    write_attributions(tmp_path / "shape.npz", arrays, {})
    with pytest.raises(InputError, match="do not match"):
        read_attributions(tmp_path / "shape.npz")
