"""The pipeline board's shape: its stages grouped in phases (one screen, not 18 columns side by side),
and, when no team can be assigned, the reason in words."""
from __future__ import annotations

from typing import Iterable, Optional

from app.services import installations as svc
from app.services.installations_scheduling import can_take

PHASES = [
    ("Lead and documents", [svc.LEAD_LOGGED, svc.INTRO_CALL_DONE, svc.DOCUMENTS_COMPLETE]),
    ("Survey", [svc.SURVEY_SCHEDULED, svc.SURVEY_ASSIGNED, svc.SURVEY_DONE]),
    ("Site and materials", [svc.SITE_NOT_READY, svc.SITE_READY, svc.MATERIALS_CHECKED, svc.LOCAL_PROCUREMENT,
                            svc.MATERIALS_ALLOCATED]),
    ("Installation", [svc.INSTALLATION_SCHEDULED, svc.INSTALLATION_ASSIGNED, svc.INSTALLED]),
    ("Closure and payment", [svc.CLOSURE_CALL_DONE, svc.CLOSURE_PACK_SUBMITTED, svc.PAYABLE]),
    ("On hold", [svc.ON_HOLD]),
]


def phases(stages: Iterable[str]) -> list[tuple[str, list[str]]]:
    """The board's phases, each with the shown stages it holds (a stage not listed gets its own phase)."""
    shown = list(stages)
    grouped = [(name, [s for s in members if s in shown]) for name, members in PHASES]
    listed = {s for _, members in PHASES for s in members}
    grouped += [(s, [s]) for s in shown if s not in listed]
    return [(name, members) for name, members in grouped if members]


def no_team_reason(teams: list, kind: str, district: Optional[str], day, slot: str, booked: set) -> str:
    """Why the assign list is empty: nobody does this kind of visit here, or everyone who does is booked."""
    if not district:
        return "No team free: the job has no district yet"
    skilled = [t for t in teams if can_take(t, kind, district)]
    if not skilled:
        return f"No team free: no active team does {kind}s in {district} (add the district to a team's service areas)"
    taken = [t.name for t in skilled if (t.id, day, slot) in booked]
    return (f"No team free: {', '.join(taken)} {'is' if len(taken) == 1 else 'are'} booked on {day} ({slot}); "
            "reschedule or pick another day")
