"""Seeded shops and goals: ``make_world(rng, split)`` and ``make_goal(rng, world, kind)``.

The same generator state gives the same shop and goal. ``split="test"`` draws product brands,
customer names, streets and shop names from pools disjoint from ``"train"``'s, so a held-out
shop shares no invented name with a training one.

Goal kinds: ``buy`` (a product named by category, colour and a price bound), ``cheapest`` (the
cheapest product of a colour in a category), and three that need a detail carried from one page
to another: ``coupon`` (a code from an inbox email), ``reference`` (name, address and customer
reference from the account page), ``return`` (the order number shown after buying, typed into
the support page's return form).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from turngym.envs.gui.webapp.state import RETURN_REASONS, SHIPPING, Customer, Email, Product, World, money

SPLITS = ("train", "test")
KINDS = ("buy", "cheapest", "coupon", "reference", "return")
CATEGORIES = {  # name -> (singular noun, sizes)
    "Shirts": ("shirt", ("S", "M", "L", "XL")),
    "Shoes": ("pair of shoes", ("39", "40", "41", "42", "43", "44")),
    "Backpacks": ("backpack", ("15 L", "20 L", "30 L")),
    "Mugs": ("mug", ("250 ml", "350 ml", "500 ml")),
    "Lamps": ("lamp", ("Small", "Medium", "Large")),
    "Scarves": ("scarf", ("150 cm", "180 cm", "210 cm")),
}
COLOURS = ("red", "blue", "green", "black", "white", "yellow", "grey")
_ADJECTIVES = ("Soft", "Sturdy", "Light", "Classic", "Handmade", "Everyday", "Bright", "Compact")
_POOLS = {
    "train": {
        "first": ("Vel", "Mar", "Tor", "Zan", "Kel", "Dru", "Pim", "Sor", "Lun", "Ravo"),
        "last": ("ora", "ex", "ina", "ko", "ith", "ano", "elle", "us"),
        "given": ("Ada", "Noor", "Tomas", "Ines", "Kofi", "Mira", "Leon", "Yuki", "Sana", "Pavel"),
        "family": ("Lovelace", "Okafor", "Brandt", "Moreau", "Haddad", "Lindqvist", "Ferraro", "Kato"),
        "street": ("Elm Street", "Harbour Road", "Mill Lane", "Cedar Avenue", "Quarry Close", "Station Road"),
        "town": ("Ashford", "Brookvale", "Carnmoor", "Dunwick"),
        "shop": ("Maple & Co", "The Corner Store", "Bluebird Goods"),
    },
    "test": {
        "first": ("Qui", "Bro", "Fen", "Gal", "Hux", "Jor", "Nim", "Wex", "Yar", "Cobi"),
        "last": ("ada", "ent", "olo", "ri", "ask", "une", "orra", "il"),
        "given": ("Aiko", "Bram", "Celia", "Dario", "Emeka", "Farah", "Goran", "Hana", "Ivo", "Jada"),
        "family": ("Quist", "Rahman", "Silva", "Tanaka", "Udall", "Varga", "Weller", "Zhou"),
        "street": ("Birch Row", "Canal Walk", "Ferry Street", "Orchard Way", "Pine Crescent", "Wharf Lane"),
        "town": ("Eastbury", "Fallowmere", "Glenholt", "Hollin"),
        "shop": ("Northwind Supply", "The Little Market", "Copper Kettle Goods"),
    },
}
_SENDERS = ("Maple Rewards", "Spring Sale Team", "Loyalty Club", "Weekend Deals", "Newsletter")


@dataclass(frozen=True)
class Goal:
    """What the episode asks for; ``check_goal`` scores a session's state against it."""

    kind: str
    instruction: str
    product_id: str
    size: str
    quantity: int
    name: str
    address: str
    shipping: str
    gift_wrap: bool
    coupon: str = ""
    reference: str = ""
    return_reason: str = ""
    coupon_sender: str = ""


def make_world(rng: np.random.Generator, split: str = "train", products_per_category: int = 7) -> World:
    """A shop: every category of ``CATEGORIES`` with ``products_per_category`` products, distinct names and prices."""
    if split not in SPLITS:
        raise ValueError(f"split: expected 'train' or 'test', got {split!r}")
    if not isinstance(products_per_category, int) or not 2 <= products_per_category <= 20:
        raise ValueError(f"products_per_category: expected an int in 2..20, got {products_per_category!r}")
    pool = _POOLS[split]
    brands = [f + s for f in pool["first"] for s in pool["last"]]
    n = products_per_category * len(CATEGORIES)
    names = [brands[i] for i in rng.choice(len(brands), size=n, replace=False)]
    prices = rng.choice(np.arange(400, 12000, 25), size=n, replace=False).tolist()
    products = []
    for c, (category, (noun, sizes)) in enumerate(CATEGORIES.items()):
        for k in range(products_per_category):
            i = c * products_per_category + k
            colour = COLOURS[int(rng.integers(len(COLOURS)))]
            title = noun.split()[-1].capitalize() if noun != "pair of shoes" else "Shoes"
            adjective = _ADJECTIVES[int(rng.integers(len(_ADJECTIVES)))]
            products.append(
                Product(
                    id=f"p{i + 1:03d}",
                    name=f"{names[i]} {title}",
                    category=category,
                    colour=colour,
                    price=int(prices[i]),
                    sizes=sizes,
                    description=f"{adjective} {colour} {noun} by {names[i]}.",
                )
            )
    customer = Customer(
        name=f"{_pick(rng, pool['given'])} {_pick(rng, pool['family'])}",
        address=f"{int(rng.integers(2, 99))} {_pick(rng, pool['street'])}, {_pick(rng, pool['town'])}",
        reference=f"CR-{int(rng.integers(10000, 100000))}",
    )
    senders = [str(s) for s in rng.permutation(_SENDERS)[:3]]
    coupons = {}
    inbox = []
    for sender in senders:
        code = _code(rng)
        percent = int(rng.choice([5, 10, 15, 20]))
        coupons[code] = percent
        inbox.append(Email(sender, f"{percent}% off your next order", f"Use the coupon code {code} at checkout.", coupon=code))
    inbox.insert(int(rng.integers(len(inbox) + 1)), Email("Shop team", "Welcome", "Thanks for creating an account."))
    numbers = rng.choice(np.arange(100000, 1000000), size=5, replace=False)
    return World(
        split=split,
        shop_name=_pick(rng, pool["shop"]),
        products=tuple(products),
        customer=customer,
        inbox=tuple(inbox),
        coupons=coupons,
        order_numbers=tuple(f"ORD-{int(x)}" for x in numbers),
    )


def make_goal(rng: np.random.Generator, world: World, kind: str) -> Goal:
    """A goal of ``kind`` (one of ``KINDS``) that exactly one order (and return request) in ``world`` satisfies."""
    if kind not in KINDS:
        raise ValueError(f"kind: expected one of {', '.join(KINDS)}, got {kind!r}")
    style = "cheapest" if kind == "cheapest" else "bound" if kind == "buy" else _pick(rng, ("bound", "cheapest"))
    product, description = _describe_product(rng, world, style)
    size = _pick(rng, product.sizes)
    quantity = int(rng.integers(1, 4))
    shipping = _pick(rng, tuple(SHIPPING))
    gift_wrap = bool(rng.random() < 0.3)
    what = f"Buy {quantity} of {description}, in size {size}."
    how = f" Choose {shipping} shipping" + (" and gift wrap." if gift_wrap else " and no gift wrap.")
    pool = _POOLS[world.split]
    if kind == "reference":
        name, address, reference = world.customer.name, world.customer.address, world.customer.reference
        ship = (
            " Ship it to the name and address on your Account page, and enter your customer reference from that page at checkout."
        )
    else:
        name = f"{_pick(rng, pool['given'])} {_pick(rng, pool['family'])}"
        address = f"{int(rng.integers(2, 99))} {_pick(rng, pool['street'])}, {_pick(rng, pool['town'])}"
        reference = ""
        ship = f" Ship it to {name}, {address}."
    extra, coupon, sender, reason = "", "", "", ""
    if kind == "coupon":
        offers = [m for m in world.inbox if m.coupon]
        mail = offers[int(rng.integers(len(offers)))]
        sender, coupon = mail.sender, mail.coupon
        extra = f" Use the coupon code from the email sent by {sender} (see your Inbox)."
    elif kind == "return":
        reason = _pick(rng, RETURN_REASONS)
        extra = (
            f" Once the order is placed, request a return of it on the Support page with the reason '{reason}',"
            " quoting its order number."
        )
    return Goal(
        kind=kind,
        instruction=what + ship + how + extra,
        product_id=product.id,
        size=size,
        quantity=quantity,
        name=name,
        address=address,
        shipping=shipping,
        gift_wrap=gift_wrap,
        coupon=coupon,
        reference=reference,
        return_reason=reason,
        coupon_sender=sender,
    )


def _describe_product(rng: np.random.Generator, world: World, style: str) -> tuple[Product, str]:
    """A product and words that pick it out alone: the cheapest of a colour, or a colour and a price bound."""
    category = _pick(rng, tuple(world.categories))
    noun = CATEGORIES[category][0] if category in CATEGORIES else category.lower()
    in_category = [p for p in world.products if p.category == category]
    colour = _pick(rng, tuple(sorted({p.colour for p in in_category})))
    same = sorted((p for p in in_category if p.colour == colour), key=lambda p: p.price)
    if style == "cheapest":
        return same[0], f"the cheapest {colour} product in the {category} category"
    if len(same) == 1 or rng.random() < 0.5:  # the cheapest of its colour, under a bound below the next one
        target, upper = same[0], same[1].price if len(same) > 1 else same[0].price + 2000
        bound = _round_between(target.price, upper)
        return target, f"the {colour} {noun} that costs less than {money(bound)}"
    target, lower = same[-1], same[-2].price  # the dearest of its colour, over a bound above the next one
    bound = _round_between(lower, target.price)
    return target, f"the {colour} {noun} that costs more than {money(bound)}"


def _round_between(low: int, high: int) -> int:
    """The roundest price strictly between ``low`` and ``high`` cents (a multiple of $5 when one fits)."""
    for step in (500, 100, 25, 1):
        candidate = (low // step + 1) * step
        if candidate < high:
            return candidate
    raise ValueError(f"no price strictly between {low} and {high} cents")


def _pick(rng: np.random.Generator, options: tuple[str, ...]) -> str:
    return options[int(rng.integers(len(options)))]


def _code(rng: np.random.Generator) -> str:
    letters = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "SAVE-" + "".join(letters[int(i)] for i in rng.integers(len(letters), size=5))
