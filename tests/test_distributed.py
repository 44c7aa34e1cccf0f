"""The same sweep as one program over two processes (jax.distributed, gloo CPU collectives, a
coordinator on 127.0.0.1, 4 fake CPU devices each) gives the numbers of one process."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = """
import json, sys
import jax
n_proc, pid, port = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
if n_proc > 1:
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(f"127.0.0.1:{port}", n_proc, pid)
import numpy as np
sys.path.insert(0, "tests")
from test_sweep import _setup
from jaxdl import sweep
trainer, data = _setup()
hp = {"lam": np.array([0.0, 0.01, 0.1, 0.3, 1.0], np.float32), "eta": np.full(5, 0.05, np.float32)}
r = sweep.run(trainer, hp, sweep.seeds_keys([0, 1, 2, 3, 4]), data, 2)
print(json.dumps({"processes": jax.process_count(), "devices": jax.device_count(),
                  "val_cost": r.history["val_cost"].tolist(),
                  "val_accuracy": r.history["val_accuracy"].tolist()}))
"""


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(n_proc, port):
    env = {**os.environ, "JAX_PLATFORMS": "cpu",
           "XLA_FLAGS": "--xla_force_host_platform_device_count=4"}
    procs = [subprocess.Popen([sys.executable, "-c", SCRIPT, str(n_proc), str(i), str(port)],
                              cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for i in range(n_proc)]
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-3000:]
        outs.append(json.loads(out.strip().splitlines()[-1]))
    return outs


def test_two_processes_equal_one():
    single = _launch(1, _free_port())[0]
    pair = _launch(2, _free_port())
    assert single["devices"] == 4
    for out in pair:
        assert out["processes"] == 2 and out["devices"] == 8
        np.testing.assert_allclose(out["val_cost"], single["val_cost"], rtol=1e-5)
        np.testing.assert_allclose(out["val_accuracy"], single["val_accuracy"])
