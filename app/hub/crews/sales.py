"""SalesCrew: products, prices, stock."""

from __future__ import annotations

from app.hub.crews.factory import CrewSpec, quiet
from app.hub.tools import ToolBox


def _prefetch(box: ToolBox, text: str) -> str:
    return quiet(box, lambda: box.search_products(text))


SPEC = CrewSpec(
    name="sales",
    role="Sales Specialist",
    goal="Help the customer find and buy the right product, with exact prices and stock",
    backstory="You know the shop's catalog and recommend honestly, never inventing products.",
    tool_names=("search_products", "product_detail", "search_faq"),
    prefetch=_prefetch,
)
