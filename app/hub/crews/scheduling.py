"""SchedulingCrew: services, free slots, booking and cancelling."""

from __future__ import annotations

from app.hub.crews.factory import CrewSpec, quiet
from app.hub.tools import ToolBox, describe


def _prefetch(box: ToolBox, text: str) -> str:
    def lookup() -> str:
        parts = ["Services:\n" + box.list_services(), "Next free slots:\n" + box.free_slots()]
        own = box.own_bookings()
        if own:
            parts.append("This customer's bookings:\n" + "\n".join(describe(b, box.language) for b in own))
        return "\n\n".join(parts)

    return quiet(box, lookup)


SPEC = CrewSpec(
    name="scheduling",
    role="Scheduling Specialist",
    goal="Book, move or cancel the customer's appointments in free slots only",
    backstory=(
        "You run the studio's agenda. You book only after the customer chose a service and a time "
        "that free_slots offered, and you confirm what was booked."
    ),
    tool_names=("list_services", "free_slots", "book_slot", "cancel_booking"),
    prefetch=_prefetch,
)
