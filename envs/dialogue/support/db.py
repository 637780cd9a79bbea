"""The Support database: customers and their orders (items with prices and statuses), generated from a seed.

A database is plain JSON data, ``{"customers": {id: {...}}, "orders": {id: {...}}}``, with an
order's items keyed by item id, so that copying is ``deepcopy`` and ``db_hash`` (SHA-256 of the
sorted JSON) does not depend on the order in which anything was inserted. Money is in cents.
The write functions here are the only ones that change a database: the tools and the gold replay
both go through them.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np

Database = dict[str, dict[str, dict[str, Any]]]

STATUSES = ("pending", "processing", "shipped", "delivered", "cancelled")
FIRST = ("Ava", "Ben", "Chloe", "Dan", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kara", "Liam", "Mira", "Noah")
LAST = ("Adler", "Brooks", "Chen", "Diaz", "Evans", "Fischer", "Garcia", "Hughes", "Ito", "Jensen", "Kowalski", "Lopez")
STREETS = ("Maple Avenue", "Oak Street", "Pine Road", "Cedar Lane", "Birch Way", "Elm Court", "Willow Drive", "Harbor Road")
CITIES = ("Fairview", "Riverton", "Lakeside", "Hillcrest", "Brookfield", "Greenville", "Westport", "Ashford")
PRODUCTS = (
    ("P101", "wireless mouse", 2499),
    ("P102", "mechanical keyboard", 8900),
    ("P103", "desk lamp", 3450),
    ("P104", "water bottle", 1899),
    ("P105", "yoga mat", 2975),
    ("P106", "coffee grinder", 6420),
    ("P107", "hiking backpack", 11250),
    ("P108", "bluetooth speaker", 4599),
    ("P109", "running shoes", 9480),
    ("P110", "phone case", 1550),
    ("P111", "electric kettle", 3999),
    ("P112", "notebook set", 1225),
)


def money(cents: int) -> str:
    """``2499`` -> ``"$24.99"``."""
    return f"${cents // 100}.{cents % 100:02d}"


def db_hash(db: Database) -> str:
    """SHA-256 of the database's canonical JSON (keys sorted): equal data, equal hash."""
    return hashlib.sha256(json.dumps(db, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def make_address(rng: np.random.Generator) -> str:
    return f"{int(rng.integers(1, 400))} {STREETS[rng.integers(len(STREETS))]}, {CITIES[rng.integers(len(CITIES))]}"


def make_db(rng: np.random.Generator, n_customers: int = 6) -> Database:
    """``n_customers`` customers with 1-4 orders each (1-3 distinct products per order)."""
    db: Database = {"customers": {}, "orders": {}}
    for c in range(n_customers):
        first, last = FIRST[rng.integers(len(FIRST))], LAST[rng.integers(len(LAST))]
        customer_id = f"C{c + 1:03d}"
        db["customers"][customer_id] = {
            "name": f"{first} {last}",
            "email": f"{first.lower()}.{last.lower()}{int(rng.integers(10, 100))}@example.com",
            "zip_code": f"{int(rng.integers(10000, 100000))}",
            "address": make_address(rng),
        }
        for _ in range(int(rng.integers(1, 5))):
            order_id = _new_order_id(rng, db)
            status = STATUSES[rng.integers(len(STATUSES))]
            picks = rng.choice(len(PRODUCTS), size=int(rng.integers(1, 4)), replace=False)
            items = {PRODUCTS[i][0]: {"name": PRODUCTS[i][1], "price": PRODUCTS[i][2], "status": "ordered"} for i in picks}
            db["orders"][order_id] = {
                "customer_id": customer_id,
                "status": status,
                "address": db["customers"][customer_id]["address"],
                "items": items,
                "delivered_days_ago": int(rng.integers(1, 61)) if status == "delivered" else None,
            }
    return db


def _new_order_id(rng: np.random.Generator, db: Database) -> str:
    while True:
        order_id = f"W{int(rng.integers(1_000_000, 10_000_000))}"
        if order_id not in db["orders"]:
            return order_id


def order_total(order: dict[str, Any]) -> int:
    """The cents still charged: the prices of items not refunded."""
    return sum(item["price"] for item in order["items"].values() if item["status"] != "refunded")


def order_view(order_id: str, order: dict[str, Any]) -> dict[str, Any]:
    """An order as the tools show it (money formatted)."""
    items = [
        {"item_id": i, "name": it["name"], "price": money(it["price"]), "status": it["status"]}
        for i, it in order["items"].items()
    ]
    return {
        "order_id": order_id,
        "status": order["status"],
        "address": order["address"],
        "items": items,
        "total": money(order_total(order)),
        "delivered_days_ago": order["delivered_days_ago"],
    }


# ---- writes: the only functions that change a database ----------------------------------------
class WriteError(ValueError):
    """A write the data does not allow (an unknown item, an order already cancelled)."""


def cancel_order(db: Database, order_id: str) -> int:
    """Cancel the order; returns the cents refunded."""
    order = db["orders"][order_id]
    if order["status"] == "cancelled":
        raise WriteError(f"order {order_id} is already cancelled")
    order["status"] = "cancelled"
    return order_total(order)


def change_address(db: Database, order_id: str, address: str) -> None:
    if not address.strip():
        raise WriteError("the new address is empty")
    if db["orders"][order_id]["status"] == "cancelled":
        raise WriteError(f"order {order_id} is cancelled")
    db["orders"][order_id]["address"] = address.strip()


def refund_item(db: Database, order_id: str, item_id: str) -> int:
    """Mark one item refunded; returns its price in cents."""
    order = db["orders"][order_id]
    item = order["items"].get(item_id)
    if item is None:
        raise WriteError(f"order {order_id} has no item {item_id!r}; its items are {sorted(order['items'])}")
    if item["status"] == "refunded" or order["status"] == "cancelled":
        raise WriteError(f"item {item_id} of order {order_id} is already refunded or its order cancelled")
    item["status"] = "refunded"
    return item["price"]


WRITES = {"cancel_order": cancel_order, "change_address": change_address, "refund_item": refund_item}


def replay(db: Database, actions: list[dict[str, Any]]) -> Database:
    """The database after the write ``actions`` (``{"name", "arguments"}``; other tools change nothing)."""
    for action in actions:
        write = WRITES.get(action["name"])
        if write is not None:
            write(db, **action["arguments"])
    return db
