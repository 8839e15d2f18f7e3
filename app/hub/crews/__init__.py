"""The specialised crews, by intent. "other" is answered by support."""

from __future__ import annotations

from app.hub.crews import sales, scheduling, support
from app.hub.crews.factory import CrewInput, CrewSpec, run_crew

CREWS: dict[str, CrewSpec] = {
    "sales": sales.SPEC,
    "support": support.SPEC,
    "scheduling": scheduling.SPEC,
    "other": support.SPEC,
}

__all__ = ["CREWS", "CrewInput", "CrewSpec", "run_crew"]
