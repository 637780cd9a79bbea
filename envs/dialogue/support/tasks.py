"""Support tasks: a generated database, a customer with a goal and private facts, and how to grade.

Kinds (``KINDS``): ``cancel`` (a pending order), ``cancel_refused`` (an order past pending: the
right outcome is a refusal that names its status), ``address`` (a pending or processing order to a
new address), ``refund`` (an item delivered within the refund window), ``refund_transfer`` (an
item delivered too long ago: the right outcome is ``transfer_to_human``).

``facts``: ``kind``, ``db`` (the initial database), ``profile`` (the user's ``UserProfile``),
``gold_actions`` (the writes a correct agent makes, replayed for the DB check),
``communicate`` (strings some agent message must contain), ``required_actions`` (tool calls that
must have run, checked by name and the given arguments).
"""

from __future__ import annotations

import copy
import hashlib
from typing import Any

import numpy as np

from turngym.envs.core import Task
from turngym.envs.dialogue.support.db import Database, db_hash, make_address, make_db, money, order_total, replay
from turngym.envs.dialogue.support.policy import REFUND_WINDOW_DAYS
from turngym.envs.dialogue.user import UserProfile

KINDS = ("cancel", "cancel_refused", "address", "refund", "refund_transfer")
SPLITS = ("train", "test")
TEST_FRACTION = 0.2
MAX_DRAWS = 200
ALIASES = {
    "email": ("email",),
    "zip_code": ("zip",),
    "order_id": ("order id",),
    "new_address": ("new address",),
    "item": ("which item",),
}
OPENINGS = {
    "cancel": ("Hi, I'd like to cancel an order.", "Hello, I want to cancel one of my orders, please."),
    "address": ("Hi, I need to change the shipping address of an order.", "Hello, can you change the address on my order?"),
    "refund": ("Hi, I'd like to return an item and get a refund.", "Hello, I want to return something I bought."),
}
DONE_WHEN = {
    "cancel": ("has been cancelled",),
    "cancel_refused": ("cannot be cancelled",),
    "address": ("has been updated",),
    "refund": ("has been refunded",),
    "refund_transfer": (),  # ends when the agent transfers the user
}


def task_split(task_id: str) -> str:
    """``"test"`` for a ``TEST_FRACTION`` share of task ids (by a hash), else ``"train"``."""
    h = int.from_bytes(hashlib.blake2b(task_id.encode(), digest_size=8).digest(), "big")
    return "test" if h / 2**64 < TEST_FRACTION else "train"


def check_kinds(kinds: tuple[str, ...]) -> tuple[str, ...]:
    """``kinds`` as a tuple, if it is a non-empty subset of ``KINDS``."""
    if isinstance(kinds, str) or not kinds or set(kinds) - set(KINDS):
        raise ValueError(f"kinds: expected a non-empty subset of {KINDS}, got {kinds!r}")
    return tuple(kinds)


def make_task(
    rng: np.random.Generator, *, split: str | None = None, kinds: tuple[str, ...] = KINDS, n_customers: int = 6
) -> Task:
    """A task of one of ``kinds`` drawn with ``rng`` (from ``split`` when given)."""
    if split is not None and split not in SPLITS:
        raise ValueError(f"split: expected 'train', 'test' or None, got {split!r}")
    check_kinds(kinds)
    for _ in range(MAX_DRAWS):
        task = _draw(rng, kinds, n_customers)
        if split is None or task_split(task.id) == split:
            return task
    raise RuntimeError(f"no {split} task in {MAX_DRAWS} draws")


def _draw(rng: np.random.Generator, kinds: tuple[str, ...], n_customers: int) -> Task:
    db = make_db(rng, n_customers)
    kind = kinds[rng.integers(len(kinds))]
    customer_id = sorted(db["customers"])[rng.integers(len(db["customers"]))]
    order_id = sorted(o for o, order in db["orders"].items() if order["customer_id"] == customer_id)[0]
    order = db["orders"][order_id]
    status = {
        "cancel": "pending",
        "cancel_refused": ("processing", "shipped", "delivered")[rng.integers(3)],
        "address": ("pending", "processing")[rng.integers(2)],
    }.get(kind, "delivered")
    order["status"] = status
    order["delivered_days_ago"] = None
    if status == "delivered":
        late = kind == "refund_transfer"
        order["delivered_days_ago"] = int(
            rng.integers(REFUND_WINDOW_DAYS + 1, 91) if late else rng.integers(1, REFUND_WINDOW_DAYS + 1)
        )
    customer = db["customers"][customer_id]
    facts = {"email": customer["email"], "zip_code": customer["zip_code"], "order_id": order_id}
    gold: list[dict[str, Any]] = []
    required: list[dict[str, Any]] = []
    communicate: tuple[str, ...] = ()
    if kind == "cancel":
        gold = [{"name": "cancel_order", "arguments": {"order_id": order_id}}]
        communicate = (money(order_total(order)),)
        goal = f"cancel your order {order_id} and learn how much is refunded"
    elif kind == "cancel_refused":
        communicate = (status,)
        goal = f"cancel your order {order_id} (you do not know its status)"
    elif kind == "address":
        new_address = make_address(rng)
        while new_address == order["address"]:
            new_address = make_address(rng)
        facts["new_address"] = new_address
        gold = [{"name": "change_address", "arguments": {"order_id": order_id, "address": new_address}}]
        goal = f"have your order {order_id} shipped to {new_address}"
    else:
        item_id = sorted(order["items"])[rng.integers(len(order["items"]))]
        item = order["items"][item_id]
        facts["item"] = item["name"]
        goal = f"return the {item['name']} of your order {order_id} for a refund"
        if kind == "refund":
            gold = [{"name": "refund_item", "arguments": {"order_id": order_id, "item_id": item_id}}]
            communicate = (money(item["price"]),)
            goal += " and learn the amount refunded"
        else:
            required = [{"name": "transfer_to_human", "arguments": {}}]
    family = "cancel" if kind.startswith("cancel") else "refund" if kind.startswith("refund") else "address"
    opening = OPENINGS[family][rng.integers(len(OPENINGS[family]))]
    profile = UserProfile(
        scenario=f"You are {customer['name']}. You want to {goal}. Say yes when the agent asks whether to proceed.",
        opening=opening,
        facts=facts,
        aliases={name: ALIASES[name] for name in facts},
        done_when=DONE_WHEN[kind],
    )
    task_id = f"support-{kind}-{order_id}-{db_hash(db)[:10]}"
    return Task(
        id=task_id,
        prompt=opening,
        facts={
            "kind": kind,
            "db": db,
            "profile": profile,
            "gold_actions": gold,
            "communicate": communicate,
            "required_actions": required,
        },
    )


def gold_db(task: Task) -> Database:
    """A fresh copy of the task's database with its gold actions replayed."""
    return replay(copy.deepcopy(task.facts["db"]), task.facts["gold_actions"])
