"""Selection on validation only (issue 15, point 4): no study's headline picks by test accuracy.

A source scan of experiments/*.py and jaxdl/**/*.py: every selecting call (max, min, sorted,
.sort, argmax / argmin / argsort and their nan- forms, best_run) whose arguments or key refer to a
test_... metric (a "test_..." string, e.g. r["test_accuracy"] in a key lambda) fails, naming
file:line. The scan is shown to bite on a synthetic snippet, and the selection helpers are
checked by behaviour: each picks by validation where test would pick another.
"""

import ast
import json
import re

from conftest import ROOT
from jaxdl import results

SELECTING = {"max", "min", "sorted", "sort", "argmax", "argmin", "argsort", "nanmax", "nanmin",
             "nanargmax", "nanargmin", "best_run"}
TEST_METRIC = re.compile(r"^test_")  # test_accuracy, test_loss, ...; not X_test, Y_test


def _name(func: ast.expr) -> str | None:
    return func.id if isinstance(func, ast.Name) else (
        func.attr if isinstance(func, ast.Attribute) else None)


def selections_by_test(source: str, filename: str) -> list[str]:
    """file:line of every selecting call whose arguments (key included) name a test_ metric."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Call) and _name(node.func) in SELECTING:
            parts = [*node.args, *(k.value for k in node.keywords)]
            if any(isinstance(n, ast.Constant) and isinstance(n.value, str)
                   and TEST_METRIC.match(n.value) for p in parts for n in ast.walk(p)):
                found.append((node.lineno, f"{filename}:{node.lineno}: {ast.unparse(node)[:120]}"))
    return [text for _, text in sorted(found)]


def _sources():
    files = sorted((ROOT / "experiments").glob("*.py")) + sorted((ROOT / "jaxdl").rglob("*.py"))
    assert len(files) > 20 and any(f.name == "a1_bonus.py" for f in files)
    return [(f.relative_to(ROOT).as_posix(), f.read_text()) for f in files]


def test_no_study_or_library_code_selects_by_test_accuracy():
    found = [hit for name, text in _sources() for hit in selections_by_test(text, name)]
    assert found == [], "selection by test accuracy (choose on validation):\n" + "\n".join(found)


def test_the_scan_bites():
    snippet = "\n".join([
        "best = max(runs, key=lambda r: r['metrics']['test_accuracy'])",  # 1
        "top = sorted(rows, key=lambda r: -r['test_accuracy'])[:3]",  # 2
        "i = np.argmax(history['test_accuracy'])",  # 3
        "name = results.best_run(path, 'test_accuracy')",  # 4
        "name = best_run(path, metric='test_loss')",  # 5
        "peak = max(h['test_accuracy'] for h in hist)",  # 6
        "rows.sort(key=lambda r: r['test_accuracy'])",  # 7
        "j = jnp.nanargmin(h[f'test_loss'])",  # 8
        # chosen on validation, or not a selection by a test metric: not flagged
        "best = max(runs, key=lambda r: r['val_accuracy'])",
        "top = sorted(rows, key=lambda r: -r['val_accuracy'])",
        "name = results.best_run(path, 'best_val_accuracy')",
        "y = np.argmax(data['Y_test'], -1)",
        "n = max(1, len(test_rows))",
        "print(summary['best_by_val_test_accuracy'], max(a, b))",
    ])
    hits = selections_by_test(snippet, "snippet.py")
    assert [h.split(":")[1] for h in hits] == [str(i) for i in range(1, 9)], hits
    assert hits[0].startswith("snippet.py:1: max(runs, key=lambda r:")


def test_every_best_run_call_passes_a_validation_metric():
    """best_run's metric, wherever a study calls it, is a constant naming validation data."""
    calls = [(name, node) for name, text in _sources() for node in ast.walk(ast.parse(text))
             if isinstance(node, ast.Call) and _name(node.func) == "best_run"]
    assert calls, "no best_run call found: update this test"
    for name, node in calls:
        metric = node.args[1] if len(node.args) > 1 else next(
            k.value for k in node.keywords if k.arg == "metric")
        assert isinstance(metric, ast.Constant) and "val_" in metric.value, (
            f"{name}:{node.lineno}: {ast.unparse(node)}")


def test_best_run_picks_by_the_metric_given(tmp_path):
    """The run best on validation is not the run best on test: best_run follows the metric."""
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"runs": [
        {"name": "best_on_test", "metrics": {"val_accuracy": 0.40, "test_accuracy": 0.45,
                                             "best_val_accuracy": 0.41}},
        {"name": "best_on_val", "metrics": {"val_accuracy": 0.42, "test_accuracy": 0.39,
                                            "best_val_accuracy": 0.43}}]}))
    assert results.best_run(path, "val_accuracy") == "best_on_val"
    assert results.best_run(path, "best_val_accuracy") == "best_on_val"
    assert results.best_run(path, "test_accuracy") == "best_on_test"  # it does follow the metric


def _function_from(path, name):
    """One plain-Python function of a study script, compiled alone (tests never import the
    experiments: their absl flags would clash)."""
    tree = ast.parse((ROOT / path).read_text())
    fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name)
    namespace = {}
    exec(compile(ast.Module([fn], []), path, "exec"), namespace)
    return namespace[name]


def test_names_convnet_best_evaluation_picks_by_validation():
    best_evaluation = _function_from("experiments/names_convnet.py", "best_evaluation")
    history = [
        {"step": 500, "val_accuracy": 0.40, "val_loss": 1.9, "train_accuracy": 0.60,
         "test_accuracy": 0.50, "confusion": [[1]]},
        {"step": 1000, "val_accuracy": 0.48, "val_loss": 1.5, "train_accuracy": 0.55,
         "test_accuracy": 0.41, "confusion": [[2]]},
        {"step": 1500, "val_accuracy": 0.48, "val_loss": 1.4, "train_accuracy": 0.70,
         "test_accuracy": 0.42, "confusion": [[3]]},
        {"step": 2000, "val_accuracy": 0.45, "val_loss": 1.6, "train_accuracy": 0.80,
         "test_accuracy": 0.44}]  # no confusion: a diverged last entry, never chosen
    best = best_evaluation(history)
    assert best == {"val_accuracy": 0.48, "step": 1000, "val_loss": 1.5, "confusion": [[2]]}
