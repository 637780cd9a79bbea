"""The Support agent's tools: reads (find_customer_by_email, list_orders, get_order) and writes
(cancel_order, change_address, refund_item, transfer_to_human).

Each tool takes the episode's database (``db``) and ``session`` (``{"customer_id": the verified
customer or None, "transferred": bool}``) as hidden arguments. The tools enforce identity (every
order tool needs a verified customer, and only that customer's orders) and data integrity; the
rest of the policy is the agent's to follow, and a violation shows in the DB check.
"""

from __future__ import annotations

import json
from typing import Any

from turngym.envs.dialogue.support import db as support_db
from turngym.envs.dialogue.support.db import Database, money, order_view
from turngym.tools.core import Hidden, ToolError, tool


def _own_order(db: Database, session: dict[str, Any], order_id: str) -> dict[str, Any]:
    customer = session["customer_id"]
    if customer is None:
        raise ToolError("identity not verified: call find_customer_by_email with the customer's email and zip code first")
    order = db["orders"].get(order_id.strip().upper())
    if order is None or order["customer_id"] != customer:
        raise ToolError(f"no order {order_id!r} on the verified customer's account")
    return order


@tool
def find_customer_by_email(email: str, zip_code: str, db: Hidden[Database], session: Hidden[dict]) -> str:
    """Verify the customer's identity by email and zip code; returns their profile and order ids.

    Args:
        email: The customer's email address.
        zip_code: The customer's zip code (5 digits).
    """
    for customer_id, customer in sorted(db["customers"].items()):
        if customer["email"] == email.strip().lower() and customer["zip_code"] == zip_code.strip():
            session["customer_id"] = customer_id
            orders = sorted(o for o, order in db["orders"].items() if order["customer_id"] == customer_id)
            return json.dumps(
                {"customer_id": customer_id, "name": customer["name"], "address": customer["address"], "orders": orders}
            )
    raise ToolError("no customer with this email and zip code")


@tool
def list_orders(db: Hidden[Database], session: Hidden[dict]) -> str:
    """List the verified customer's orders with their status and total."""
    if session["customer_id"] is None:
        raise ToolError("identity not verified: call find_customer_by_email with the customer's email and zip code first")
    orders = sorted((o, order) for o, order in db["orders"].items() if order["customer_id"] == session["customer_id"])
    return json.dumps([{"order_id": o, "status": order["status"], "total": order_view(o, order)["total"]} for o, order in orders])


@tool
def get_order(order_id: str, db: Hidden[Database], session: Hidden[dict]) -> str:
    """Show one of the verified customer's orders: status, address, items (ids, prices) and total.

    Args:
        order_id: The order id, e.g. "W1234567".
    """
    order = _own_order(db, session, order_id)
    return json.dumps(order_view(order_id.strip().upper(), order))


def _write(name: str, db: Database, *args: str) -> Any:
    try:
        return support_db.WRITES[name](db, *args)
    except support_db.WriteError as exc:
        raise ToolError(str(exc)) from None


@tool
def cancel_order(order_id: str, db: Hidden[Database], session: Hidden[dict]) -> str:
    """Cancel an order; its total is refunded to the original payment method.

    Args:
        order_id: The order id, e.g. "W1234567".
    """
    _own_order(db, session, order_id)
    refunded = _write("cancel_order", db, order_id.strip().upper())
    return f"order {order_id.strip().upper()} cancelled; {money(refunded)} refunded"


@tool
def change_address(order_id: str, address: str, db: Hidden[Database], session: Hidden[dict]) -> str:
    """Change the shipping address of an order.

    Args:
        order_id: The order id, e.g. "W1234567".
        address: The new address, e.g. "12 Oak Street, Fairview".
    """
    _own_order(db, session, order_id)
    _write("change_address", db, order_id.strip().upper(), address)
    return f"order {order_id.strip().upper()} now ships to {address.strip()}"


@tool
def refund_item(order_id: str, item_id: str, db: Hidden[Database], session: Hidden[dict]) -> str:
    """Refund one item of an order to the original payment method.

    Args:
        order_id: The order id, e.g. "W1234567".
        item_id: The item's id in the order, e.g. "P104".
    """
    _own_order(db, session, order_id)
    refunded = _write("refund_item", db, order_id.strip().upper(), item_id.strip().upper())
    return f"item {item_id.strip().upper()} of order {order_id.strip().upper()} refunded; {money(refunded)}"


@tool
def transfer_to_human(summary: str, session: Hidden[dict]) -> str:
    """Transfer the customer to a human agent (only where the policy says so).

    Args:
        summary: A short summary of the customer's request.
    """
    session["transferred"] = True
    return "transfer successful"


SUPPORT_TOOLS = (find_customer_by_email, list_orders, get_order, cancel_order, change_address, refund_item, transfer_to_human)
