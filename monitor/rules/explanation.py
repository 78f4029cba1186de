"""Explanations as people read them: why each rule scored what it did, and whether the article alerts.

Pure text formatting over a ``Verdict``; ``monitor score --explain`` and
``monitor rules test`` print these lines. Every rule's line shows its score as the
weight times the sum of its hits' points, so the arithmetic can be checked by eye.
"""

from __future__ import annotations

from collections.abc import Sequence

from monitor.models import Hit, RuleMatch, Verdict

__all__ = ["explain", "explain_match", "hit_line"]


def explain(verdict: Verdict, destinations: Sequence[str] = ()) -> list[str]:
    """The whole explanation of ``verdict``: the decision, then every rule, matched or vetoed."""
    alerting = {match.rule for match in verdict.alerting()}
    if verdict.alert:
        owed = verdict.alert_destinations(destinations) if destinations else ()
        where = f" to {', '.join(owed)}" if owed else " (no enabled destination takes it)" if destinations else ""
        decision = f"ALERT{where}"
    else:
        decision = "no alert"
    lines = [f"score {verdict.score:g} (threshold {verdict.threshold:g}): {decision}"]
    for match in verdict.matches:
        lines += explain_match(match, alerts=match.rule in alerting, threshold=verdict.threshold)
    for match in verdict.vetoed:
        lines += explain_match(match, alerts=False, threshold=verdict.threshold)
    return lines


def explain_match(match: RuleMatch, *, alerts: bool, threshold: float) -> list[str]:
    """One rule: its score as weight × Σ points, why it does or does not alert, and each hit."""
    points = " + ".join(f"{hit.points:g}" for hit in match.hits) or "0"
    arithmetic = f"{match.weight:g} × ({points})" if match.weight != 1 else points
    if match.vetoed_by:
        status = "vetoed, no match"
    elif match.gate:
        status = f"no alert: {match.gate}"
    elif match.threshold is not None:
        verb = "reaches" if match.score >= match.threshold else "is below"
        status = f"{'alerts' if alerts else 'no alert'}: {verb} its own threshold {match.threshold:g}"
    elif alerts:
        status = f"alerts: part of the article score, which reaches the threshold {threshold:g}"
    else:
        status = f"no alert: part of the article score, which stays below the threshold {threshold:g}"
    route = f"; to {', '.join(match.destinations)}" if match.destinations and alerts else ""
    lines = [f"  rule {match.rule}: {match.score:g} = {arithmetic} ({status}{route})"]
    lines += [f"    {hit_line(hit)}" for hit in match.hits]
    lines += [f"    vetoed by {hit_line(hit, points=False)}" for hit in match.vetoed_by]
    return lines


def hit_line(hit: Hit, *, points: bool = True) -> str:
    """``'NATO' in title ×1 = 3: **NATO** offers talks…``"""
    what = "proximity " if hit.kind == "near" else ""
    value = f" = {hit.points:g}" if points else ""
    return f"{what}{hit.term!r} in {hit.field} ×{hit.count}{value}: {hit.snippet}"
