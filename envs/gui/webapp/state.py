"""The shop's data: a generated ``World`` (catalogue, customer, inbox) and one session's ``ShopState``.

Every change a page makes goes through a ``ShopState`` method; bad form input raises ``FormError``
(shown on the page), an unknown product or order raises ``NotFound`` (a 404 page).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

MAX_QUANTITY = 10
SHIPPING = {"Standard": 499, "Express": 1299, "Pickup": 0}  # method -> price in cents
RETURN_REASONS = ("Wrong size", "Damaged", "Changed my mind", "Arrived late")


class NotFound(Exception):
    """A product, order or page that does not exist (served as a 404 page with this message)."""


class FormError(Exception):
    """Form input the shop refuses (the form is shown again with this message)."""


def money(cents: int) -> str:
    return f"${cents // 100}.{cents % 100:02d}"


@dataclass(frozen=True)
class Product:
    id: str
    name: str
    category: str
    colour: str
    price: int  # cents
    sizes: tuple[str, ...]
    description: str


@dataclass(frozen=True)
class Customer:
    name: str
    address: str
    reference: str


@dataclass(frozen=True)
class Email:
    sender: str
    subject: str
    body: str
    coupon: str = ""  # the code the body gives, if any


@dataclass(frozen=True)
class World:
    """One episode's shop: what is for sale, who the customer is, what the inbox says."""

    split: str
    shop_name: str
    products: tuple[Product, ...]
    customer: Customer
    inbox: tuple[Email, ...]
    coupons: Mapping[str, int]  # code -> percent off
    order_numbers: tuple[str, ...]  # handed out in order as orders are placed

    @property
    def categories(self) -> list[str]:
        return list(dict.fromkeys(p.category for p in self.products))

    @property
    def colours(self) -> list[str]:
        return sorted({p.colour for p in self.products})

    def product(self, product_id: str) -> Product:
        for p in self.products:
            if p.id == product_id:
                return p
        raise NotFound(f"No product with id {product_id!r} in this shop.")


@dataclass(frozen=True)
class CartLine:
    product_id: str
    size: str
    quantity: int


@dataclass(frozen=True)
class Order:
    number: str
    lines: tuple[CartLine, ...]
    name: str
    address: str
    shipping: str
    coupon: str
    reference: str
    gift_wrap: bool
    total: int  # cents


@dataclass(frozen=True)
class ReturnRequest:
    order_number: str
    reason: str
    message: str


@dataclass
class ShopState:
    """One session: the cart, placed orders, return requests and the pages seen (in order)."""

    world: World
    cart: list[CartLine] = field(default_factory=list)
    orders: list[Order] = field(default_factory=list)
    returns: list[ReturnRequest] = field(default_factory=list)
    visited: list[str] = field(default_factory=list)

    def add_to_cart(self, product_id: str, size: str, quantity: str) -> None:
        product = self.world.product(product_id)
        if size not in product.sizes:
            raise FormError(f"Size must be one of {', '.join(product.sizes)}; got {size!r}.")
        qty = _quantity(quantity)
        for i, line in enumerate(self.cart):
            if line.product_id == product_id and line.size == size:
                self.cart[i] = CartLine(product_id, size, min(MAX_QUANTITY, line.quantity + qty))
                return
        self.cart.append(CartLine(product_id, size, qty))

    def update_line(self, line: str, quantity: str) -> None:
        index = self._line(line)
        old = self.cart[index]
        self.cart[index] = CartLine(old.product_id, old.size, _quantity(quantity))

    def remove_line(self, line: str) -> None:
        del self.cart[self._line(line)]

    def cart_total(self) -> int:
        return sum(self.world.product(line.product_id).price * line.quantity for line in self.cart)

    def place_order(self, form: Mapping[str, str]) -> Order:
        """Check the checkout form, turn the cart into an order and empty the cart."""
        if not self.cart:
            raise FormError("Your cart is empty: add a product before checking out.")
        name, address = " ".join(form.get("name", "").split()), " ".join(form.get("address", "").split())
        if not name:
            raise FormError("Please enter your full name.")
        if not address:
            raise FormError("Please enter a delivery address.")
        shipping = form.get("shipping", "")
        if shipping not in SHIPPING:
            raise FormError(f"Shipping must be one of {', '.join(SHIPPING)}; got {shipping!r}.")
        coupon = form.get("coupon", "").strip().upper()
        if coupon and coupon not in self.world.coupons:
            raise FormError(f"The coupon code {coupon} is not valid.")
        if form.get("terms") != "yes":
            raise FormError("Please accept the terms and conditions.")
        if len(self.orders) >= len(self.world.order_numbers):
            raise FormError("This shop takes no more orders today.")
        subtotal = self.cart_total()
        discount = subtotal * self.world.coupons.get(coupon, 0) // 100
        order = Order(
            number=self.world.order_numbers[len(self.orders)],
            lines=tuple(self.cart),
            name=name,
            address=address,
            shipping=shipping,
            coupon=coupon,
            reference=form.get("reference", "").strip(),
            gift_wrap=form.get("gift_wrap") == "yes",
            total=subtotal - discount + SHIPPING[shipping],
        )
        self.orders.append(order)
        self.cart.clear()
        return order

    def order(self, number: str) -> Order:
        for order in self.orders:
            if order.number == number:
                return order
        raise NotFound(f"No order with number {number!r}.")

    def request_return(self, form: Mapping[str, str]) -> ReturnRequest:
        number = form.get("order_number", "").strip().upper()
        if not number:
            raise FormError("Please enter the order number.")
        if not any(o.number == number for o in self.orders):
            raise FormError(f"No order with number {number}: check the number on your order confirmation.")
        reason = form.get("reason", "")
        if reason not in RETURN_REASONS:
            raise FormError(f"Reason must be one of {', '.join(RETURN_REASONS)}; got {reason!r}.")
        request = ReturnRequest(number, reason, form.get("message", "").strip())
        self.returns.append(request)
        return request

    def _line(self, line: str) -> int:
        if not line.isdigit() or int(line) >= len(self.cart):
            raise NotFound(f"No cart line {line!r}: the cart has {len(self.cart)} line(s).")
        return int(line)


def _quantity(text: str) -> int:
    text = text.strip()
    if not text.isdigit() or not 1 <= int(text) <= MAX_QUANTITY:
        raise FormError(f"Quantity must be a whole number from 1 to {MAX_QUANTITY}; got {text!r}.")
    return int(text)
