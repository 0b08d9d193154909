"""crelens.transformers_registration: `import crelens` stays light, and importing transformers
afterwards (or before) registers Caduceus with the Auto classes. Each case runs in a fresh
interpreter, because the order of imports is the thing under test."""

from __future__ import annotations

import subprocess
import sys

import pytest

from helpers import published_config_json, random_checkpoint_state, write_folder


def run(code: str) -> str:
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout.strip().splitlines()[-1]


def test_import_crelens_imports_neither_transformers_nor_torch():
    assert run("import sys, crelens; print(sorted({'torch', 'transformers'} & set(sys.modules)))") == "[]"


@pytest.fixture
def folder(tmp_path):
    from crelens.encoder.caduceus import CaduceusConfig, CaduceusForMaskedLM

    config = published_config_json(d_model=16, n_layer=2, rcps=True)
    state = random_checkpoint_state(CaduceusForMaskedLM(CaduceusConfig.from_hf_dict(config), init=False))
    return write_folder(tmp_path / "snapshot", config, state)


@pytest.mark.parametrize("order", ["crelens, transformers", "transformers, crelens"])
def test_either_import_order_loads_a_published_snapshot_without_remote_code(folder, order):
    """The published config.json names remote code in auto_map; no trust_remote_code is given."""
    code = f"import {order}; m = transformers.AutoModelForMaskedLM.from_pretrained({str(folder)!r}); print(type(m).__name__)"
    assert run(code) == "CaduceusTransformersForMaskedLM"


def test_without_crelens_transformers_does_not_know_caduceus(folder):
    """The control: the registration above is crelens' doing, not something transformers ships."""
    code = (
        "import transformers\n"
        "try:\n"
        f"    transformers.AutoConfig.from_pretrained({str(folder)!r}, trust_remote_code=False)\n"
        "except ValueError as exc:\n"
        "    print('refused')\n"
    )
    assert run(code) == "refused"
