"""The README's "Write your own layer" snippet runs as written and proves its layer right."""

import re
import subprocess
import sys

from conftest import ROOT


def _snippet() -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Write your own layer", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_write_your_own_layer_snippet():
    code = _snippet()
    assert len(code.strip().splitlines()) < 20  # the README promises under 20 lines
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         timeout=300, env={"JAX_PLATFORMS": "cpu", "PATH": ""})
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.strip().splitlines()
    cost = float(re.search(r"cost after 50 steps: ([0-9.]+)", out.stdout).group(1))
    assert cost < 0.9 * 1.0986  # it learned: below 90 % of the cost of a uniform guess, ln 3
    header = lines[lines.index(next(l for l in lines if l.startswith("param"))):]
    columns = header[0].split()[1:]
    rows = {r.split()[0]: dict(zip(columns, map(float, r.split()[1:]))) for r in header[1:]}
    assert set(rows) == {"W1", "b1", "W2", "b2"}
    for name, row in rows.items():
        assert row["manual_vs_autodiff"] <= 1e-9, (name, row)
        assert row["manual_vs_centred"] <= 1e-6, (name, row)
        assert row["manual_vs_forward"] <= 1e-3, (name, row)
