"""DataProxy functions as crewai tools: the crews' only way to business data.

Tools are built per turn (`build_tools`) because two of them are bound to the conversation:
`book_slot` books for this conversation and no other, and every tool notes what it did in the
turn's `steps`. The booking tools write nothing: they add to the turn's `BookingPlan`, which
the decision carries and the worker commits with the turn. The tool bodies are plain functions
over DataProxy, so what a model can reach is exactly what the offline responder can reach.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import nullcontext
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from loguru import logger
from pydantic import BaseModel, Field

from app.hub.dataproxy import BookingPlan, SlotUnavailable
from app.hub.llm import TurnBudget, WriteRefused
from app.texts import texts_for


class SearchArgs(BaseModel):
    query: str = Field(description="What the customer is looking for, in their words")


class SkuArgs(BaseModel):
    sku: str = Field(description="The product SKU, e.g. BP-001")


class NoArgs(BaseModel):
    pass


class FreeSlotsArgs(BaseModel):
    service_id: str | None = Field(default=None, description="Service id from list_services; omit for any")
    after: str | None = Field(default=None, description="ISO date or datetime; only slots after it")


class BookArgs(BaseModel):
    service_id: str = Field(description="Service id from list_services")
    start: str = Field(description="Slot start as ISO datetime, exactly as free_slots listed it")
    customer_name: str | None = Field(default=None, description="The customer's name, if known")


class CancelArgs(BaseModel):
    booking_id: int = Field(description="The booking number")


def describe(item: Any, language: str) -> str:
    try:
        return str(item.describe(language))
    except TypeError:  # a describe() without a language parameter
        return str(item.describe())


def _lines(items: Iterable[Any], language: str, empty: str) -> str:
    text = "\n".join(describe(i, language) for i in items)
    return text or empty


def _parse_time(value: str, timezone: str) -> datetime:
    """A naive time from a model means business-local time, as free_slots showed it."""
    moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo(timezone))


class ToolBox:
    """The tool functions for one turn, independent of crewai (unit-testable, reusable)."""

    def __init__(self, dataproxy: Any, *, conversation_key: str, language: str, timezone: str,
                 customer_name: str | None = None, steps: list[str] | None = None,
                 budget: TurnBudget | None = None):
        self.dp = dataproxy
        self.plan = BookingPlan(dataproxy, conversation_key)  # what this turn books, committed with it
        self.budget = budget  # guards the tools that write (TurnBudget.writing)
        self.conversation_key = conversation_key
        self.language = language
        self.timezone = timezone
        self.customer_name = customer_name
        self.steps = steps if steps is not None else []
        self._texts = texts_for(language)

    def search_products(self, query: str) -> str:
        self.steps.append("tool search_products")
        found = self.dp.search_products(query, limit=5)
        return _lines(found, self.language, self._texts["tool_no_product"])

    def product_detail(self, sku: str) -> str:
        self.steps.append("tool product_detail")
        product = self.dp.product_detail(sku.strip().upper())
        return describe(product, self.language) if product else self._texts.say(
            "tool_product_not_found", sku=sku)

    def search_faq(self, query: str) -> str:
        self.steps.append("tool search_faq")
        found = self.dp.search_faq(query, limit=3)
        return _lines(found, self.language, self._texts["tool_no_faq"])

    def business_info(self) -> str:
        self.steps.append("tool business_info")
        return describe(self.dp.business_info(), self.language)

    def list_services(self) -> str:
        self.steps.append("tool list_services")
        return _lines(self.dp.list_services(), self.language, self._texts["tool_no_services"])

    def free_slots(self, service_id: str | None = None, after: str | None = None) -> str:
        self.steps.append("tool free_slots")
        after_dt = _parse_time(after, self.timezone) if after else None
        slots = self.plan.free_slots(service_id or None, limit=6, after=after_dt)
        # The ids and ISO start are what book_slot needs; the human text is what the customer sees.
        lines = [f"{describe(s, self.language)} (service_id={s.service_id}, start={s.start.isoformat()})"
                 for s in slots]
        return "\n".join(lines) or self._texts["tool_no_free_slot"]

    def _writing(self, what: str):
        return self.budget.writing(what) if self.budget is not None else nullcontext()

    def _refused(self, exc: WriteRefused) -> str:
        self.steps.append(str(exc))
        logger.bind(component="hub", conversation=self.conversation_key).warning("{}", exc)
        return self._texts["tool_refused"]

    def book_slot(self, service_id: str, start: str, customer_name: str | None = None) -> str:
        self.steps.append("tool book_slot")
        try:
            with self._writing("book_slot"):
                booking = self.plan.book(service_id, _parse_time(start, self.timezone),
                                         customer_name=customer_name or self.customer_name)
        except WriteRefused as exc:
            return self._refused(exc)
        except SlotUnavailable:
            others = self.plan.free_slots(service_id, limit=4)
            intro = self._texts["tool_slot_gone"]
            return intro + _lines(others, self.language, "-")
        except (ValueError, KeyError) as exc:
            return self._texts.say("tool_cannot_book", error=exc)
        return describe(booking, self.language)

    def own_bookings(self) -> list[Any]:
        """This conversation's bookings, with what this turn already booked or cancelled."""
        return self.plan.bookings()

    def cancel_booking(self, booking_id: int) -> str:
        self.steps.append("tool cancel_booking")
        # Only this conversation's bookings may be cancelled: a model must not cancel someone else's.
        try:
            with self._writing("cancel_booking"):
                cancelled = self.plan.cancel(booking_id)
        except WriteRefused as exc:
            return self._refused(exc)
        if not cancelled:
            return self._texts.say("tool_booking_not_found", booking_id=booking_id)
        return self._texts.say("tool_booking_cancelled", booking_id=booking_id)


_SPECS: dict[str, tuple[str, type[BaseModel]]] = {
    "search_products": ("Search the product catalog by name or need; returns SKU, price and stock.",
                        SearchArgs),
    "product_detail": ("Full details of one product by SKU.", SkuArgs),
    "search_faq": ("Search the business FAQ (delivery, returns, payment, policies).", SearchArgs),
    "business_info": ("The business's name, address, opening hours and policies.", NoArgs),
    "list_services": ("The bookable services with id, duration and price.", NoArgs),
    "free_slots": ("The next free appointment slots, optionally for one service and after a date.",
                   FreeSlotsArgs),
    "book_slot": ("Book a free slot for this customer. Only after the customer chose service and time.",
                  BookArgs),
    "cancel_booking": ("Cancel one of this customer's bookings by its number.", CancelArgs),
}


_tool_class: type | None = None


def _data_tool_class() -> type:
    """One BaseTool subclass (defined after crewai is imported) that forwards to a ToolBox method."""
    global _tool_class
    if _tool_class is None:
        from crewai.tools import BaseTool
        from pydantic import PrivateAttr

        class DataTool(BaseTool):
            _function: Callable[..., str] = PrivateAttr()

            def _run(self, **kwargs: Any) -> str:
                try:
                    return self._function(**kwargs)
                except Exception as exc:  # noqa: BLE001 - a tool error is text the model can act on
                    return f"Error: {exc}"

        _tool_class = DataTool
    return _tool_class


def build_tools(box: ToolBox, names: Iterable[str]) -> list[Any]:
    """crewai tools for `names`, each calling the matching ToolBox method."""
    tool_class = _data_tool_class()
    tools = []
    for name in names:
        description, schema = _SPECS[name]
        tool = tool_class(name=name, description=description, args_schema=schema)
        tool._function = getattr(box, name)
        tools.append(tool)
    return tools
