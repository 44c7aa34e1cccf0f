"""The reproduction report's rows: each reference number beside the measured one and a verdict.

A verdict is "yes" / "NO" (the bound met or not), "-" (informational), "not judged: quick
settings" (a study run at shortened settings, where the sheets' numbers are not expected) or
"not run: <reason>". experiments/reproduce.py holds the references; this module only judges.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Callable, NamedTuple


class Ref(NamedTuple):
    """One reference number of one study and how to measure and judge ours."""
    study: str
    what: str
    reference: str  # the number(s) the sheet or seed report gives
    band: str  # the public band or the acceptance bound, as text
    measure: Callable[[dict], list[float] | float | None]  # results.json -> value(s) in %/units
    check: Callable[[float], bool] | None  # applied to the (mean) value; None: informational
    unit: str = "%"


def format_value(v: list[float] | float | None, unit: str) -> tuple[float, str] | None:
    """(value, text): a list gives its mean (and +- std with its size), None stays None."""
    if v is None:
        return None
    if isinstance(v, list):
        mean = statistics.fmean(v)
        if len(v) == 1:
            return mean, f"{mean:.4g}{unit and ' ' + unit}"
        return mean, f"{mean:.4g} +- {statistics.stdev(v):.2g}{unit and ' ' + unit} (n={len(v)})"
    return v, (f"{v:.2f} {unit}" if unit else f"{v:.4g}")


def build_rows(workdir: Path, refs: list[Ref], status: dict, shortened: dict[str, bool]
               ) -> list[dict]:
    """One row per reference, from <workdir>/<study>/results.json. A bound is judged only where
    shortened[study] is false: shortened runs are not expected to reach the sheets' numbers.
    status[study] (its "reason" or "status") says why a study without results.json did not run."""
    rows = []
    for ref in refs:
        st = status.get(ref.study, {"status": "not run", "reason": "not selected (--only)"})
        path = Path(workdir) / ref.study / "results.json"
        shown, met = "", ""
        if path.exists():
            formatted = format_value(ref.measure(json.loads(path.read_text())), ref.unit)
            if formatted is None:
                shown, met = "not measured", ("not run in the quick profile's settings" if
                                              shortened[ref.study]
                                              else "not run: absent from results.json")
            else:
                value, shown = formatted
                met = ("-" if ref.check is None else "not judged: quick settings"
                       if shortened[ref.study] else "yes" if ref.check(value) else "NO")
        else:
            met = f"not run: {st.get('reason') or st['status']}"
        rows.append({"study": ref.study, "what": ref.what, "reference": ref.reference,
                     "band": ref.band, "ours": shown, "met": met})
    return rows
