"""The scripted Support agent: the policy followed step by step, from the conversation alone.

``next_move(dialogue, calls)`` reads the customer's messages (intent by keyword; email, zip code,
order id, new address and item by pattern) and the tool calls made so far, and returns the next
move: a tool call ``("call", name, arguments)`` or a message ``("say", text)``. It is a pure
function of the history, so it serves as SupportEnv's oracle and as the other side of
SupportUserEnv. ``extract`` and the patterns also check a user policy for invented facts.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from turngym.envs.dialogue.support.policy import ADDRESS_CHANGE_STATUSES, REFUND_WINDOW_DAYS
from turngym.envs.messages import Message

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
ZIP = re.compile(r"\b(\d{5})\b")  # house numbers are shorter; order ids are W + 7 digits
ORDER_ID = re.compile(r"\bW\d{7}\b", re.IGNORECASE)
NEW_ADDRESS = re.compile(r"new address is ([^.\n]+)", re.IGNORECASE)
PROCEED = "Shall I proceed?"
Move = tuple[str, str, dict[str, Any]] | tuple[str, str]


def extract(texts: Sequence[str]) -> dict[str, str]:
    """The facts stated in ``texts`` (the last statement of each wins)."""
    found: dict[str, str] = {}
    for text in texts:
        for name, pattern, group in (
            ("email", EMAIL, 0),
            ("zip_code", ZIP, 1),
            ("order_id", ORDER_ID, 0),
            ("new_address", NEW_ADDRESS, 1),
        ):
            for match in pattern.finditer(text):
                found[name] = match.group(group).strip()
    if "email" in found:
        found["email"] = found["email"].lower()
    if "order_id" in found:
        found["order_id"] = found["order_id"].upper()
    return found


def intent(texts: Sequence[str]) -> str | None:
    """What the customer wants: the first keyword of their first message that has one."""
    for text in texts:
        low = text.lower()
        hits = [
            (low.find(w), kind)
            for w, kind in (("cancel", "cancel"), ("address", "address"), ("return", "refund"), ("refund", "refund"))
            if w in low
        ]
        if hits:
            return min(hits)[1]
    return None


def _last_ok(calls: Sequence[Mapping[str, Any]], name: str, **arguments: str) -> Mapping[str, Any] | None:
    for call in reversed(calls):
        if call["name"] == name and call["ok"] and all(call["arguments"].get(k) == v for k, v in arguments.items()):
            return call
    return None


def _tried(calls: Sequence[Mapping[str, Any]], name: str, arguments: Mapping[str, Any]) -> bool:
    return any(call["name"] == name and call["arguments"] == dict(arguments) for call in calls)


def _confirmed(dialogue: Sequence[Message]) -> bool:
    """The agent's last message asked to proceed and the customer's answer says yes."""
    if len(dialogue) < 2 or dialogue[-1]["role"] != "user" or dialogue[-2]["role"] != "assistant":
        return False
    return PROCEED in dialogue[-2]["content"] and "yes" in dialogue[-1]["content"].lower()


def next_move(dialogue: Sequence[Message], calls: Sequence[Mapping[str, Any]]) -> Move:
    """The scripted agent's next move (see the module docstring)."""
    texts = [m["content"] for m in dialogue if m["role"] == "user"]
    want = intent(texts)
    if want is None:
        return ("say", "How can I help you today? I can cancel an order, change its shipping address or refund an item.")
    facts = extract(texts)
    found = _last_ok(calls, "find_customer_by_email")
    if found is None:
        if "email" in facts and "zip_code" in facts:
            arguments = {"email": facts["email"], "zip_code": facts["zip_code"]}
            if not _tried(calls, "find_customer_by_email", arguments):
                return ("call", "find_customer_by_email", arguments)
            return ("say", "I could not verify your identity. Please check your email and zip code.")
        return ("say", "I can help with that. First I need to verify your identity: what are your email and zip code?")
    customer = json.loads(found["output"])
    order_id = facts.get("order_id")
    if order_id is None:
        return ("say", f"Thank you, {customer['name']}. Which order is it? Please tell me the order id.")
    looked_up = _last_ok(calls, "get_order", order_id=order_id)
    if looked_up is None:
        if _tried(calls, "get_order", {"order_id": order_id}):
            return ("say", f"I could not find order {order_id} on your account. Please check the order id.")
        return ("call", "get_order", {"order_id": order_id})
    order = json.loads(looked_up["output"])
    return {"cancel": _cancel, "address": _address, "refund": _refund}[want](order, dialogue, texts, facts, calls)


def _cancel(order: dict, dialogue: Sequence[Message], texts: Sequence[str], facts: dict, calls: Sequence) -> Move:
    order_id, total = order["order_id"], order["total"]
    if _last_ok(calls, "cancel_order", order_id=order_id):
        return ("say", f"Order {order_id} has been cancelled, and {total} will be refunded to your original payment method.")
    if order["status"] != "pending":
        return ("say", f"Order {order_id} has status {order['status']}, so it cannot be cancelled: only pending orders can be.")
    if _confirmed(dialogue):
        return ("call", "cancel_order", {"order_id": order_id})
    items = ", ".join(item["name"] for item in order["items"])
    return ("say", f"Order {order_id} ({items}) is pending. Cancelling it refunds {total}. {PROCEED}")


def _address(order: dict, dialogue: Sequence[Message], texts: Sequence[str], facts: dict, calls: Sequence) -> Move:
    order_id, new = order["order_id"], facts.get("new_address")
    if new is not None and _last_ok(calls, "change_address", order_id=order_id, address=new):
        return ("say", f"The shipping address of order {order_id} has been updated to {new}.")
    if order["status"] not in ADDRESS_CHANGE_STATUSES:
        return ("say", f"Order {order_id} has status {order['status']}, so its address cannot be changed.")
    if new is None:
        return ("say", f"What is the new address for order {order_id}?")
    if _confirmed(dialogue):
        return ("call", "change_address", {"order_id": order_id, "address": new})
    return ("say", f"I will change the shipping address of order {order_id} to {new}. {PROCEED}")


def _refund(order: dict, dialogue: Sequence[Message], texts: Sequence[str], facts: dict, calls: Sequence) -> Move:
    order_id = order["order_id"]
    said = " ".join(texts).lower()
    item = next((item for item in order["items"] if item["name"] in said), None)
    if item is None:
        names = ", ".join(item["name"] for item in order["items"])
        return ("say", f"Which item of order {order_id} would you like to return? It has: {names}.")
    if _last_ok(calls, "refund_item", order_id=order_id, item_id=item["item_id"]):
        return (
            "say",
            f"The {item['name']} of order {order_id} has been refunded: {item['price']} goes back to your card.",
        )
    days = order["delivered_days_ago"]
    if _last_ok(calls, "transfer_to_human"):
        return (
            "say",
            f"Order {order_id} was delivered {days} days ago, outside our {REFUND_WINDOW_DAYS}-day refund window, "
            "so I am transferring you to a human agent.",
        )
    if order["status"] != "delivered" or item["status"] == "refunded":
        return ("say", f"Order {order_id} has status {order['status']}, so I cannot refund its {item['name']}.")
    if days > REFUND_WINDOW_DAYS:
        summary = f"Refund request for the {item['name']} of order {order_id}, delivered {days} days ago."
        return ("call", "transfer_to_human", {"summary": summary})
    if _confirmed(dialogue):
        return ("call", "refund_item", {"order_id": order_id, "item_id": item["item_id"]})
    return ("say", f"I will refund the {item['name']} of order {order_id} ({item['price']}). {PROCEED}")
