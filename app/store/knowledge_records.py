"""The knowledge as typed records (SPEC §8.1): what the rest of the appliance reads.

Frozen dataclasses for the business, its products, FAQ entries, services and availability,
each able to describe itself in the customer's language, plus `format_money`. Parsing the
files into these lives in `app.store.knowledge_files`; storing and searching them in
`app.store.knowledge` (which re-exports every name here).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from app.texts import texts_for
from app.timespec import WEEKDAYS


def format_money(price: Decimal, currency: str) -> str:
    """BRL the Brazilian way (R$ 1.234,50); anything else as `USD 12.50`."""
    if currency.upper() == "BRL":
        text = f"{price:,.2f}".replace(",", "_").replace(".", ",").replace("_", ".")
        return f"R$ {text}"
    return f"{currency.upper()} {price:.2f}"


@dataclass(frozen=True)
class Product:
    sku: str
    name: str
    description: str
    price: Decimal
    currency: str
    stock: int | None  # None: the catalog does not track this product's stock (an empty cell)
    category: str

    @property
    def in_stock(self) -> bool:
        return self.stock is None or self.stock > 0

    def describe(self, language: str = "pt-BR") -> str:
        price = format_money(self.price, self.currency)
        if self.stock is None:
            return f"{self.name} — {price}"
        texts = texts_for(language)
        stock = texts.say("in_stock", stock=self.stock) if self.in_stock else texts["out_of_stock"]
        return f"{self.name} — {price} ({stock})"


@dataclass(frozen=True)
class FaqEntry:
    question: str
    answer: str
    score: float = 0.0  # higher is better; 1.0 = every query word found in the question

    def describe(self, language: str = "pt-BR") -> str:
        return f"{self.question}\n{self.answer}"


@dataclass(frozen=True)
class Service:
    id: str
    name: str
    duration_min: int
    price: Decimal
    currency: str = "BRL"  # services.yaml may set `currency` (top level or per service)

    def describe(self, language: str = "pt-BR") -> str:
        return f"{self.name} — {format_money(self.price, self.currency)} ({self.duration_min} min)"


@dataclass(frozen=True)
class Availability:
    weekly: dict[str, tuple[str, ...]]  # weekday (mon..sun) → ("HH:MM-HH:MM", ...)
    slot_minutes: int
    capacity: int
    days_ahead: int


@dataclass(frozen=True)
class BusinessInfo:
    name: str
    description: str
    language: str
    timezone: str
    hours: dict[str, tuple[str, ...]]
    handoff_message: str
    greeting: str
    address: str | None = None
    phone: str | None = None
    website: str | None = None
    policies: str | None = None

    def describe_hours(self, language: str = "pt-BR") -> str:
        texts = texts_for(language)
        parts = []
        for day, label in zip(WEEKDAYS, texts.weekdays_short, strict=True):
            spans = self.hours.get(day)
            parts.append(f"{label} {', '.join(spans)}" if spans else f"{label} {texts['closed']}")
        return "; ".join(parts)

    def describe(self, language: str = "pt-BR") -> str:
        texts = texts_for(language)
        lines = [
            f"{self.name}: {self.description}",
            texts["hours_label"] + self.describe_hours(language),
        ]
        for key, value in (
            ("address_label", self.address),
            ("phone_label", self.phone),
            ("website_label", self.website),
            ("policies_label", self.policies),
        ):
            if value:
                lines.append(f"{texts[key]}: {value}")
        return "\n".join(lines)


@dataclass(frozen=True)
class Knowledge:
    business: BusinessInfo
    products: tuple[Product, ...]
    faq: tuple[FaqEntry, ...]
    services: tuple[Service, ...]
    availability: Availability
