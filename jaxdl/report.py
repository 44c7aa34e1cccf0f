"""The reproduction report's rows: each reference number beside the measured one and a verdict.

A verdict is "yes" / "NO" (the bound met or not), "-" (informational), "not judged: quick
settings" (a study run at shortened settings, where the sheets' numbers are not expected) or
"not run: <reason>". A value measured at several seeds (`Seeds`) is shown as mean +- std (n), its
verdict judges the mean and says so ("yes (judged on the mean of 5 seeds)"), and where the
reference is one number (`Ref.ref_value`) the row places it in our seeds' distribution: its
z-score (ref - mean) / std and whether it lies within mean +- 2 std ("consistent").
experiments/reproduce.py holds the references; this module only judges.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Callable, NamedTuple


class Seeds(list):
    """One measure's values at each seed of one run (a plain list holds the values of several
    runs): the reference is placed in their distribution and the verdict names their number."""


class Ref(NamedTuple):
    """One reference number of one study and how to measure and judge ours."""
    study: str
    what: str
    reference: str  # the number(s) the sheet or seed report gives
    band: str  # the public band or the acceptance bound, as text
    measure: Callable[[dict], list[float] | float | None]  # results.json -> value(s) in %/units
    check: Callable[[float], bool] | None  # applied to the (mean) value; None: informational
    unit: str = "%"
    ref_value: float | None = None  # the reference as one number (in `unit`), where it is one


def seed_stats(v: list[float] | float | None) -> tuple[float, float, int] | None:
    """(mean, sample std, n) of a measure taken at several seeds (`Seeds`, n > 1); else None."""
    if not isinstance(v, Seeds) or len(v) < 2:
        return None
    return statistics.fmean(v), statistics.stdev(v), len(v)


def place_reference(ref_value: float | None, stats: tuple[float, float, int] | None
                    ) -> tuple[str, str]:
    """(z, consistent) texts: the reference's z-score (ref - mean) / std in our seeds'
    distribution, and "yes"/"no" for ref within mean +- 2 std; blank where there is no reference
    number or a single seed (z also blank for std 0)."""
    if ref_value is None or stats is None:
        return "", ""
    mean, std, _ = stats
    z = f"{(ref_value - mean) / std:+.2f}" if std > 0 else ""
    return z, "yes" if abs(ref_value - mean) <= 2 * std else "no"


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
        shown, met, z, consistent = "", "", "", ""
        if path.exists():
            measured = ref.measure(json.loads(path.read_text()))
            formatted = format_value(measured, ref.unit)
            if formatted is None:
                shown, met = "not measured", ("not run in the quick profile's settings" if
                                              shortened[ref.study]
                                              else "not run: absent from results.json")
            else:
                value, shown = formatted
                met = ("-" if ref.check is None else "not judged: quick settings"
                       if shortened[ref.study] else "yes" if ref.check(value) else "NO")
                stats = seed_stats(measured)
                if stats and met in ("yes", "NO"):
                    met += f" (judged on the mean of {stats[2]} seeds)"
                if not shortened[ref.study]:  # shortened runs are not meant to meet a reference
                    z, consistent = place_reference(ref.ref_value, stats)
        else:
            met = f"not run: {st.get('reason') or st['status']}"
        rows.append({"study": ref.study, "what": ref.what, "reference": ref.reference,
                     "band": ref.band, "ours": shown, "z": z, "consistent": consistent,
                     "met": met})
    return rows
