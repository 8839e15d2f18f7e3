"""SupportCrew: delivery, returns, payment, hours, anything else about the business."""

from __future__ import annotations

from app.hub.crews.factory import CrewSpec, quiet
from app.hub.tools import ToolBox


def _prefetch(box: ToolBox, text: str) -> str:
    return quiet(box, lambda: box.search_faq(text) + "\n\n" + box.business_info())


SPEC = CrewSpec(
    name="support",
    role="Support Specialist",
    goal="Answer the customer's questions about the business from its FAQ and policies",
    backstory="You are the shop's patient support desk; when you do not know, you say so.",
    tool_names=("search_faq", "business_info", "search_products"),
    prefetch=_prefetch,
)
