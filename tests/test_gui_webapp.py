"""The generated web shop: generation, sessions over real HTTP, goal checks, error pages, and the oracle in Chromium."""

from __future__ import annotations

import doctest
import importlib
import re
import urllib.error
import urllib.parse
import urllib.request

import numpy as np
import pytest

import turngym
from turngym.envs.gui.webapp import (
    KINDS,
    ShopServerError,
    ShopState,
    check_goal,
    goal_done,
    make_goal,
    make_world,
    shared_shop_server,
)
from turngym.envs.gui.webapp.tasks import CATEGORIES
from turngym.envs.info import StopReason


def shop(seed: int, kind: str = "buy", split: str = "train"):
    rng = np.random.default_rng(seed)
    world = make_world(rng, split)
    return world, make_goal(rng, world, kind)


def http(url: str, form: dict[str, str] | None = None) -> tuple[int, str]:
    data = urllib.parse.urlencode(form).encode() if form is not None else None
    try:
        with urllib.request.urlopen(url, data=data, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.fixture
def session():
    server = shared_shop_server()
    world, goal = shop(3)
    sid = server.open_session(world)
    yield server, sid, world, goal
    server.close_session(sid)


def test_same_seed_same_shop_and_goal_other_seed_differs():
    for kind in KINDS:
        assert shop(5, kind) == shop(5, kind)
    assert shop(5)[0] != shop(6)[0]
    assert shop(5)[1].instruction != shop(6)[1].instruction


def test_test_split_shares_no_invented_name_with_train():
    names = {split: set() for split in ("train", "test")}
    for split in names:
        for seed in range(20):
            world, goal = shop(seed, "buy", split)
            names[split] |= {p.name.split()[0] for p in world.products}
            names[split] |= {world.customer.name, world.shop_name, goal.name}
    assert names["train"] and names["test"] and not names["train"] & names["test"]
    with pytest.raises(ValueError, match="split: expected 'train' or 'test', got 'dev'"):
        make_world(np.random.default_rng(0), "dev")


def test_goal_words_pick_out_exactly_the_goal_product():
    for kind in KINDS:
        for seed in range(30):
            world, goal = shop(seed, kind)
            target = world.product(goal.product_id)
            assert goal.size in target.sizes and 1 <= goal.quantity <= 3
            m = re.search(r"the cheapest (\w+) product in the (\w+) category", goal.instruction)
            if m:
                same = [p for p in world.products if p.colour == m[1] and p.category == m[2]]
                assert target == min(same, key=lambda p: p.price)
                continue
            m = re.search(r"the (\w+) (.+?) that costs (less|more) than \$(\d+)\.(\d\d)", goal.instruction)
            assert m, goal.instruction
            category = next(c for c, (noun, _) in CATEGORIES.items() if noun == m[2])
            bound = int(m[4]) * 100 + int(m[5])
            fits = [
                p
                for p in world.products
                if p.colour == m[1] and p.category == category and (p.price < bound if m[3] == "less" else p.price > bound)
            ]
            assert fits == [target], goal.instruction


def test_sessions_are_isolated_and_reset_clears_them(session):
    server, sid, world, _ = session
    other = server.open_session(world)
    try:
        product = world.products[0]
        status, html = http(
            server.session_url(sid, "cart/add"), {"product": product.id, "size": product.sizes[1], "quantity": "2"}
        )
        assert status == 200 and f"Remove {product.name}, size {product.sizes[1]}" in html  # redirected to the cart
        assert "Your cart is empty" in http(server.session_url(other, "cart"))[1]
        assert [(c.product_id, c.quantity) for c in server.snapshot(sid).cart] == [(product.id, 2)]
        assert server.snapshot(other).cart == []
        http(server.session_url(sid, "inbox"))
        assert server.snapshot(sid).visited == ["cart", "inbox"]
        server.reset_session(sid, world)
        state = server.snapshot(sid)
        assert (state.cart, state.orders, state.returns, state.visited) == ([], [], [], [])
        assert "Your cart is empty" in http(server.session_url(sid, "cart"))[1]
    finally:
        server.close_session(other)
    with pytest.raises(ShopServerError, match="no shop session '9999'"):
        server.snapshot("9999")


def test_category_filters_and_sorting(session):
    server, sid, world, _ = session
    shirts = [p for p in world.products if p.category == "Shirts"]
    colour = shirts[0].colour
    bound = sorted(p.price for p in shirts if p.colour == colour)[-1]
    query = urllib.parse.urlencode({"colour": colour, "max_price": f"{bound / 100:.2f}", "sort": "price_desc"})
    status, html = http(server.session_url(sid, f"category/shirts?{query}"))
    listed = re.findall(r'<a href="product/p\d+">([^<]+)</a>', html)
    expected = [p.name for p in sorted(shirts, key=lambda p: -p.price) if p.colour == colour and p.price <= bound]
    assert status == 200 and listed == expected
    status, html = http(server.session_url(sid, "category/shirts?max_price=cheap"))
    assert status == 400 and "Max price must be a number of dollars" in html


def test_error_pages_say_what_was_wrong(session):
    server, sid, world, _ = session
    status, html = http(server.session_url(sid, "product/p999"))
    assert status == 404 and "No product with id &#x27;p999&#x27; in this shop." in html and "Back to the shop" in html
    status, html = http(f"{server.url}/s/nope/cart")
    assert status == 404 and "No shop session &#x27;nope&#x27;" in html
    assert http(server.session_url(sid, "category/boats"))[0] == 404
    assert http(server.session_url(sid, "order/ORD-1"))[0] == 404
    product = world.products[0]
    status, html = http(server.session_url(sid, "cart/add"), {"product": product.id, "size": product.sizes[0], "quantity": "0"})
    assert status == 400 and "Quantity must be a whole number from 1 to 10; got &#x27;0&#x27;." in html
    status, html = http(server.session_url(sid, "checkout"), {"name": "A", "address": "B", "shipping": "Standard"})
    assert status == 400 and "Your cart is empty" in html
    http(server.session_url(sid, "cart/add"), {"product": product.id, "size": product.sizes[0], "quantity": "1"})
    form = {"name": "Ada", "address": "1 Elm Street", "shipping": "Standard", "coupon": "FREE"}
    status, html = http(server.session_url(sid, "checkout"), form)
    assert status == 400 and "The coupon code FREE is not valid." in html and 'value="Ada"' in html  # the form keeps its input
    status, html = http(server.session_url(sid, "checkout"), {**form, "coupon": ""})
    assert status == 400 and "Please accept the terms and conditions." in html
    status, html = http(server.session_url(sid, "support"), {"order_number": "ORD-1", "reason": "Damaged"})
    assert status == 400 and "No order with number ORD-1" in html
    assert server.snapshot(sid).orders == []


def place(state: ShopState, goal, **changes) -> None:
    """Put ``goal``'s order (with ``changes``) into ``state`` through the shop's own methods."""
    product = state.world.product(goal.product_id)
    size = changes.pop("size", goal.size)
    state.add_to_cart(product.id, size, str(changes.pop("quantity", goal.quantity)))
    form = {
        "name": goal.name,
        "address": goal.address,
        "shipping": goal.shipping,
        "coupon": goal.coupon,
        "reference": goal.reference,
        "terms": "yes",
        "gift_wrap": "yes" if goal.gift_wrap else "",
    }
    state.place_order({**form, **changes})


def test_goal_check_on_hand_made_states():
    world, goal = shop(11, "buy")
    state = ShopState(world)
    assert check_goal(goal, state).score == 0.0 and not goal_done(goal, state)
    place(state, goal)
    result = check_goal(goal, state)
    assert result.success and result.score == 1.0 and goal_done(goal, state)
    other_size = next(s for s in world.product(goal.product_id).sizes if s != goal.size)
    for change, part in [
        ({"size": other_size}, "size"),
        ({"quantity": goal.quantity + 1}, "quantity"),
        ({"shipping": "X"}, None),
    ]:
        state = ShopState(world)
        if part is None:  # an unknown shipping method is refused by the form, so no order at all
            with pytest.raises(Exception, match="Shipping must be one of"):
                place(state, goal, **change)
            assert check_goal(goal, state).score == 0.0
            continue
        place(state, goal, **change)
        result = check_goal(goal, state)
        assert not result.success and result.parts[part] == 0.0 and 0 < result.score < 1
    state = ShopState(world)
    place(state, goal, address="somewhere else")
    assert check_goal(goal, state).parts["shipping"] == 0.0
    place(state, goal)  # a second order
    assert check_goal(goal, state).parts["one_order"] == 0.0


def test_goal_check_carried_details():
    world, goal = shop(2, "coupon")
    state = ShopState(world)
    place(state, goal)
    assert check_goal(goal, state).success
    wrong = next(code for code in world.coupons if code != goal.coupon)
    state = ShopState(world)
    place(state, goal, coupon=wrong)
    assert check_goal(goal, state).parts["coupon"] == 0.0
    world, goal = shop(2, "return")
    state = ShopState(world)
    place(state, goal)
    assert not goal_done(goal, state) and check_goal(goal, state).parts["return"] == 0.0
    state.request_return({"order_number": state.orders[0].number, "reason": goal.return_reason})
    assert goal_done(goal, state) and check_goal(goal, state).success
    state.returns.clear()
    other = next(r for r in ("Wrong size", "Damaged") if r != goal.return_reason)
    state.request_return({"order_number": state.orders[0].number, "reason": other})
    assert not check_goal(goal, state).success
    world, goal = shop(2, "reference")
    assert (goal.name, goal.address, goal.reference) == (world.customer.name, world.customer.address, world.customer.reference)
    state = ShopState(world)
    place(state, goal, reference="CR-00000")
    assert check_goal(goal, state).parts == {
        **dict.fromkeys(["one_order", "product", "size", "quantity", "shipping"], 1.0),
        "reference": 0.0,
    }


# --- in Chromium, through ShopEnv (turngym/WebShop-v0) -----------------------------------------------------------


@pytest.fixture(scope="module")
def shop_env():
    env = turngym.make("turngym/WebShop-v0")
    yield env
    env.close()


def play_episode(env, seed: int, kind: str, choose, prepare=None) -> tuple[float, dict, dict]:
    """Play one episode with ``choose(env, rng) -> action``; ``prepare(env)`` runs after the reset."""
    env.reset(seed=seed, options={"kind": kind})
    if prepare is not None:
        prepare(env)
    rng = np.random.default_rng(seed)
    terminated = truncated = False
    while not (terminated or truncated):
        _, reward, terminated, truncated, info = env.step(choose(env, rng))
    return reward, info, env.last_context.extras["gui"].get("status", {})


def oracle(env, rng) -> str:
    return env.oracle_action()


@pytest.mark.browser
@pytest.mark.parametrize(
    "seeds", [pytest.param(range(2), id="2-seeds"), pytest.param(range(2, 22), id="20-seeds", marks=pytest.mark.slow)]
)
def test_oracle_reaches_reward_1_on_every_goal_kind(shop_env, seeds):
    failed = []
    for kind in KINDS:
        for seed in seeds:
            shop_env.split = "test" if seed % 2 else "train"
            reward, info, status = play_episode(shop_env, seed, kind, oracle)
            if (reward, info["stop_reason"], info["invalid_actions"]) != (1.0, StopReason.ANSWERED, 0):
                failed.append((kind, seed, reward, info["stop_reason"], status.get("parts")))
    shop_env.split = "train"
    assert failed == []


@pytest.mark.browser
def test_oracle_repairs_a_cart_that_holds_other_things(shop_env):
    def fill_cart(env):
        goal, world = env.goal, env.shop_state().world
        other = next(p for p in world.products if p.id != goal.product_id)
        server, session = env.session.tab.state["shop"]
        for product, size, quantity in [(other.id, other.sizes[0], 1), (goal.product_id, goal.size, goal.quantity + 2)]:
            http(server.session_url(session, "cart/add"), {"product": product, "size": size, "quantity": str(quantity)})
        assert len(env.shop_state().cart) == 2

    reward, info, status = play_episode(shop_env, 4, "buy", oracle, fill_cart)
    assert reward == 1.0 and info["invalid_actions"] == 0, status


@pytest.mark.browser
def test_a_wrong_order_ends_the_episode_with_partial_credit_when_asked():
    env = turngym.make("turngym/WebShop-v0", kinds="buy", reward="partial")

    def wrong_name(env, rng):
        """The oracle's actions, but the checkout form's name is changed just before the order is placed."""
        action = env.oracle_action()
        elements = env.state.data["view"]["elements"]
        place = next((e for e in elements if e["name"] == "Place order"), None)
        name = next((e for e in elements if e["name"] == "Full name" and e["tag"] == "input"), None)
        if place is not None and action == f'<action>click(bid="{place["bid"]}")</action>' and name["value"] != "Somebody Else":
            return f'<action>fill("{name["bid"]}", "Somebody Else")</action>'
        if name is not None and name["value"] == "Somebody Else":
            return f'<action>click("{place["bid"]}")</action>'
        return action

    try:
        reward, info, status = play_episode(env, 5, "buy", wrong_name)
        assert info["stop_reason"] == StopReason.ANSWERED and env.shop_state().orders[0].name == "Somebody Else"
        assert status["parts"]["shipping"] == 0.0 and status["parts"]["product"] == status["parts"]["quantity"] == 1.0
        assert reward == pytest.approx(sum(status["parts"].values()) / len(status["parts"])) and 0 < reward < 1
    finally:
        env.close()


@pytest.mark.browser
def test_reset_empties_the_session_and_same_seed_same_first_page(shop_env):
    obs, _ = shop_env.reset(seed=8, options={"kind": "cheapest"})
    for _ in range(4):
        shop_env.step(shop_env.oracle_action())
    assert "product" in shop_env.shop_state().visited and shop_env.shop_state().cart
    again, _ = shop_env.reset(seed=8, options={"kind": "cheapest"})
    state = shop_env.shop_state()
    assert again == obs and state.cart == [] and state.orders == [] and state.visited == ["home"]


@pytest.mark.browser
def test_env_card_example_runs():
    result = doctest.testmod(importlib.import_module("turngym.envs.gui.webapp.env"), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def random_action(env, rng) -> str:
    """Click, fill or select on a random control of the page; typed text and options from a few plausible words."""
    controls = [e for e in env.state.data["view"]["elements"] if e["tag"] in ("a", "button", "input", "select", "textarea")]
    element = controls[int(rng.integers(len(controls)))]
    words = ["1", "2", "Ada", "12 Elm Street", "SAVE-AAAAA", "M", "Express", "Damaged"]
    word = words[int(rng.integers(len(words)))]
    if element["tag"] == "select":
        return f'<action>select_option("{element["bid"]}", "{word}")</action>'
    if element["tag"] in ("input", "textarea") and element["role"] != "checkbox":
        return f'<action>fill("{element["bid"]}", "{word}")</action>'
    return f'<action>click("{element["bid"]}")</action>'


@pytest.mark.browser
@pytest.mark.slow
def test_random_actions_do_not_reach_reward_1(shop_env):
    rewards = [play_episode(shop_env, seed, kind, random_action)[0] for kind in KINDS for seed in range(4)]
    assert len(rewards) == 20 and max(rewards) == 0.0


@pytest.mark.browser
def test_fork_replays_into_its_own_session(shop_env):
    shop_env.reset(seed=1, options={"kind": "coupon"})
    for _ in range(4):
        shop_env.step(shop_env.oracle_action())
    fork = shop_env.fork()
    try:
        assert fork.session.tab.state["shop"][1] != shop_env.session.tab.state["shop"][1]
        assert fork.shop_state().cart == shop_env.shop_state().cart and fork.state.data["view"] == shop_env.state.data["view"]
        terminated = truncated = False
        while not (terminated or truncated):
            _, reward, terminated, truncated, _ = fork.step(fork.oracle_action())
        assert reward == 1.0 and len(fork.shop_state().orders) == 1 and shop_env.shop_state().orders == []
    finally:
        fork.close()
