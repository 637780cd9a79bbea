"""The shop's HTML pages: plain server-rendered forms and links, no scripts, the same bytes for the same state.

Every page has ``<base href="/s/<session>/">`` so links are relative and the session id never shows
in the page's text or accessibility tree. Controls carry self-describing accessible names
(``Add Velora Shirt to cart``, ``Remove Velora Shirt, size M``) so an agent can tell them apart.
"""

from __future__ import annotations

from html import escape
from urllib.parse import quote

from turngym.envs.gui.webapp.state import MAX_QUANTITY, RETURN_REASONS, SHIPPING, CartLine, Product, ShopState, money

SORTS = {"featured": "Featured", "price_asc": "Price: low to high", "price_desc": "Price: high to low", "name": "Name"}
_STYLE = "body{font-family:sans-serif;margin:1em}nav a{margin-right:.8em}.error{color:#b00}li{margin:.2em 0}"


def slug(category: str) -> str:
    return category.lower().replace(" ", "-")


def line_label(state: ShopState, line: CartLine) -> str:
    return f"{state.world.product(line.product_id).name}, size {line.size}"


def layout(state: ShopState, base: str, title: str, body: str, *, error: str = "") -> str:
    world = state.world
    items = sum(line.quantity for line in state.cart)
    categories = "".join(f'<a href="category/{slug(c)}">{escape(c)}</a>' for c in world.categories)
    alert = f'<p class="error" role="alert">{escape(error)}</p>' if error else ""
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><base href="{escape(base)}">'
        f"<title>{escape(title)} - {escape(world.shop_name)}</title><style>{_STYLE}</style></head><body>"
        f'<nav aria-label="Main"><a href="./">Home</a><a href="cart">Cart</a><span>{items} item(s) in cart</span> '
        f'<a href="account">Account</a><a href="inbox">Inbox</a><a href="support">Support</a></nav>'
        f'<nav aria-label="Categories">{categories}</nav>'
        f"<main><h1>{escape(title)}</h1>{alert}{body}</main></body></html>"
    )


def _select(name: str, label: str, options: list[str], selected: str, field_id: str | None = None) -> str:
    field_id = field_id or name
    opts = "".join(f'<option value="{escape(o)}"{" selected" if o == selected else ""}>{escape(o)}</option>' for o in options)
    return f'<label for="{field_id}">{escape(label)}</label> <select id="{field_id}" name="{name}">{opts}</select>'


def _text(name: str, label: str, value: str = "", kind: str = "text") -> str:
    return f'<label for="{name}">{escape(label)}</label> <input type="{kind}" id="{name}" name="{name}" value="{escape(value)}">'


def _product_list(products: list[Product]) -> str:
    if not products:
        return "<p>No products match.</p>"
    rows = "".join(
        f'<li><a href="product/{p.id}">{escape(p.name)}</a> - {money(p.price)} - {escape(p.colour)}</li>' for p in products
    )
    return f"<p>{len(products)} product(s)</p><ul>{rows}</ul>"


def home(state: ShopState, base: str) -> str:
    body = (
        '<form method="get" action="search" role="search">'
        + _text("q", "Search products")
        + ' <button type="submit">Search</button></form><h2>Shop by category</h2><ul>'
        + "".join(f'<li><a href="category/{slug(c)}">{escape(c)}</a></li>' for c in state.world.categories)
        + "</ul>"
    )
    return layout(state, base, f"Welcome to {state.world.shop_name}", body)


def search(state: ShopState, base: str, query: str) -> str:
    words = query.lower().split()
    found = [p for p in state.world.products if all(w in f"{p.name} {p.category} {p.colour}".lower() for w in words)]
    body = (
        '<form method="get" action="search" role="search">'
        + _text("q", "Search products", query)
        + ' <button type="submit">Search</button></form>'
        + _product_list(found if words else [])
    )
    return layout(state, base, f"Search results for '{query}'", body)


def category(state: ShopState, base: str, name: str, colour: str, max_price: str, sort: str) -> tuple[str, str]:
    """The listing page (and the filter error, if any) for ``colour``, ``max_price`` (dollars) and ``sort``."""
    products = [p for p in state.world.products if p.category == name]
    error = ""
    if colour != "Any":
        products = [p for p in products if p.colour == colour]
    if max_price.strip():
        try:
            bound = round(float(max_price.strip().lstrip("$")) * 100)
            products = [p for p in products if p.price <= bound]
        except ValueError:
            error = f"Max price must be a number of dollars such as 25 or 19.99; got {max_price!r}."
    if sort == "price_asc":
        products.sort(key=lambda p: p.price)
    elif sort == "price_desc":
        products.sort(key=lambda p: -p.price)
    elif sort == "name":
        products.sort(key=lambda p: p.name)
    sort_select = (
        '<label for="sort">Sort by</label> <select id="sort" name="sort">'
        + "".join(f'<option value="{k}"{" selected" if k == sort else ""}>{v}</option>' for k, v in SORTS.items())
        + "</select>"
    )
    body = (
        f'<form method="get" action="category/{slug(name)}">'
        + _select("colour", "Colour", ["Any", *state.world.colours], colour)
        + " "
        + _text("max_price", "Max price", max_price)
        + " "
        + sort_select
        + ' <button type="submit">Apply filters</button></form>'
        + _product_list(products)
    )
    return layout(state, base, name, body, error=error), error


def product(state: ShopState, base: str, p: Product, *, error: str = "") -> str:
    body = (
        f"<p>Price: {money(p.price)}</p><p>Colour: {escape(p.colour)}</p><p>{escape(p.description)}</p>"
        f'<form method="post" action="cart/add"><input type="hidden" name="product" value="{p.id}">'
        + _select("size", "Size", list(p.sizes), p.sizes[0])
        + f' <label for="quantity">Quantity</label> <input type="number" id="quantity" name="quantity" value="1" min="1" '
        f'max="{MAX_QUANTITY}"> <button type="submit" aria-label="Add {escape(p.name)} to cart">Add to cart</button></form>'
    )
    return layout(state, base, p.name, body, error=error)


def cart(state: ShopState, base: str, *, error: str = "") -> str:
    if not state.cart:
        return layout(state, base, "Your cart", "<p>Your cart is empty.</p>", error=error)
    rows = []
    for i, line in enumerate(state.cart):
        p = state.world.product(line.product_id)
        label = escape(line_label(state, line))
        rows.append(
            f'<li><a href="product/{p.id}">{escape(p.name)}</a> - size {escape(line.size)} - {money(p.price)} each'
            f'<form method="post" action="cart/update"><input type="hidden" name="line" value="{i}">'
            f'<input type="number" name="quantity" value="{line.quantity}" min="1" max="{MAX_QUANTITY}" '
            f'aria-label="Quantity of {label}"> <button type="submit" aria-label="Update {label}">Update</button></form>'
            f'<form method="post" action="cart/remove"><input type="hidden" name="line" value="{i}">'
            f'<button type="submit" aria-label="Remove {label}">Remove</button></form></li>'
        )
    body = (
        f'<ul>{"".join(rows)}</ul><p>Subtotal: {money(state.cart_total())}</p><p><a href="checkout">Proceed to checkout</a></p>'
    )
    return layout(state, base, "Your cart", body, error=error)


def checkout(state: ShopState, base: str, form: dict[str, str], *, error: str = "") -> str:
    if not state.cart:
        return layout(state, base, "Checkout", '<p>Your cart is empty. <a href="./">Continue shopping</a></p>', error=error)
    items = "".join(f"<li>{escape(line_label(state, line))} x {line.quantity}</li>" for line in state.cart)
    rates = ", ".join(f"{k} {money(v)}" for k, v in SHIPPING.items())
    checkbox = lambda name, label: (  # noqa: E731
        f'<input type="checkbox" id="{name}" name="{name}" value="yes"{" checked" if form.get(name) == "yes" else ""}>'
        f' <label for="{name}">{label}</label>'
    )
    body = (
        f"<ul>{items}</ul><p>Subtotal: {money(state.cart_total())}</p>"
        '<form method="post" action="checkout"><p>'
        + _text("name", "Full name", form.get("name", ""))
        + "</p><p>"
        + _text("address", "Address", form.get("address", ""))
        + "</p><p>"
        + _select("shipping", "Shipping", list(SHIPPING), form.get("shipping", "Standard"))
        + f" ({rates})</p><p>"
        + _text("coupon", "Coupon code", form.get("coupon", ""))
        + "</p><p>"
        + _text("reference", "Customer reference", form.get("reference", ""))
        + "</p><p>"
        + checkbox("gift_wrap", "Gift wrap")
        + "</p><p>"
        + checkbox("terms", "I accept the terms and conditions")
        + '</p><button type="submit">Place order</button></form>'
    )
    return layout(state, base, "Checkout", body, error=error)


def order(state: ShopState, base: str, number: str) -> str:
    o = state.order(number)
    items = "".join(f"<li>{escape(line_label(state, line))} x {line.quantity}</li>" for line in o.lines)
    extras = (f"<p>Coupon: {escape(o.coupon)}</p>" if o.coupon else "") + (
        f"<p>Customer reference: {escape(o.reference)}</p>" if o.reference else ""
    )
    body = (
        f"<p>Thank you, {escape(o.name)}! Your order number is <strong>{escape(o.number)}</strong>.</p><ul>{items}</ul>"
        f"<p>Ship to: {escape(o.address)} ({escape(o.shipping)}{', gift wrapped' if o.gift_wrap else ''})</p>"
        f"{extras}<p>Total: {money(o.total)}</p>"
    )
    return layout(state, base, f"Order {o.number} confirmed", body)


def account(state: ShopState, base: str) -> str:
    c = state.world.customer
    orders = "".join(f'<li><a href="order/{quote(o.number)}">Order {escape(o.number)}</a></li>' for o in state.orders)
    body = (
        f"<p>Name: {escape(c.name)}</p><p>Address: {escape(c.address)}</p><p>Customer reference: {escape(c.reference)}</p>"
        f"<h2>Your orders</h2>" + (f"<ul>{orders}</ul>" if orders else "<p>No orders yet.</p>")
    )
    return layout(state, base, "Your account", body)


def inbox(state: ShopState, base: str) -> str:
    mails = "".join(
        f"<article><h2>{escape(m.subject)}</h2><p>From: {escape(m.sender)}</p><p>{escape(m.body)}</p></article>"
        for m in state.world.inbox
    )
    return layout(state, base, "Inbox", mails or "<p>No messages.</p>")


def support(state: ShopState, base: str, form: dict[str, str], *, error: str = "") -> str:
    done = "".join(f"<li>Return requested for order {escape(r.order_number)}: {escape(r.reason)}</li>" for r in state.returns)
    body = (
        "<h2>Request a return</h2>"
        '<form method="post" action="support"><p>'
        + _text("order_number", "Order number", form.get("order_number", ""))
        + "</p><p>"
        + _select("reason", "Reason", list(RETURN_REASONS), form.get("reason", RETURN_REASONS[0]))
        + '</p><p><label for="message">Message</label> <textarea id="message" name="message">'
        + escape(form.get("message", ""))
        + '</textarea></p><button type="submit">Submit request</button></form>'
        + (f"<h2>Your requests</h2><ul>{done}</ul>" if done else "")
    )
    return layout(state, base, "Customer support", body, error=error)


def not_found(message: str, base: str | None = None) -> str:
    """A 404 page saying what was not found; it links back to the shop when the session is known."""
    head = f'<base href="{escape(base)}">' if base else ""
    back = '<p><a href="./">Back to the shop</a></p>' if base else ""
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">{head}<title>Not found</title></head><body>'
        f'<main><h1>Page not found</h1><p role="alert">{escape(message)}</p>{back}</main></body></html>'
    )
