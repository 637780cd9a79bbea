"""Computations that need a loop (the ``python`` tool), each with its exact value and reference code.

Each takes an integer ``n`` from the chain and gives an integer; ``low``/``high`` bound the ``n``
that keeps the reference code well under a second.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


def fibonacci_mod(n: int, m: int = 1000) -> int:
    a, b = 0, 1
    for _ in range(n):
        a, b = b, (a + b) % m
    return a


def primes_below(n: int) -> int:
    if n < 3:
        return 0
    sieve = bytearray([1]) * n
    sieve[0:2] = b"\x00\x00"
    for i in range(2, int(n**0.5) + 1):
        if sieve[i]:
            sieve[i * i :: i] = bytearray(len(range(i * i, n, i)))
    return sum(sieve)


def digit_sum_of_power_of_two(n: int) -> int:
    return sum(int(d) for d in str(2**n))


def divisor_count(n: int) -> int:
    return sum(2 if i * i != n else 1 for i in range(1, int(n**0.5) + 1) if n % i == 0)


def collatz_steps(n: int) -> int:
    steps = 0
    while n != 1:
        n = n // 2 if n % 2 == 0 else 3 * n + 1
        steps += 1
    return steps


@dataclass(frozen=True)
class Computation:
    """What to compute from ``n``: the phrase for the prompt, the function, the reference code."""

    name: str
    phrase: str  # "{n}" stands for "that number"
    fn: Callable[[int], int]
    code: str  # a program printing the result; "{n}" is filled in
    low: int
    high: int


COMPUTATIONS: tuple[Computation, ...] = (
    Computation(
        "fibonacci_mod",
        "the {n}-th Fibonacci number (F(1) = F(2) = 1) modulo 1000",
        fibonacci_mod,
        "a, b = 0, 1\nfor _ in range({n}):\n    a, b = b, (a + b) % 1000\nprint(a)",
        1,
        100_000,
    ),
    Computation(
        "primes_below",
        "how many prime numbers are smaller than {n}",
        primes_below,
        "n = {n}\nsieve = [True] * n\nfor i in range(2, int(n ** 0.5) + 1):\n    if sieve[i]:\n"
        "        sieve[i * i :: i] = [False] * len(range(i * i, n, i))\nprint(sum(sieve[2:]))",
        3,
        1_000_000,
    ),
    Computation(
        "digit_sum",
        "the sum of the decimal digits of 2 to the power of {n}",
        digit_sum_of_power_of_two,
        "print(sum(int(d) for d in str(2 ** {n})))",
        1,
        10_000,
    ),
    Computation(
        "divisors",
        "how many positive divisors {n} has",
        divisor_count,
        "n = {n}\nprint(sum(1 if d * d == n else 2 for d in range(1, int(n ** 0.5) + 1) if n % d == 0))",
        1,
        10_000_000,
    ),
    Computation(
        "collatz",
        "how many steps the Collatz sequence (halve even numbers, take 3x+1 of odd ones) needs to go from {n} down to 1",
        collatz_steps,
        "n, steps = {n}, 0\nwhile n != 1:\n    n = n // 2 if n % 2 == 0 else 3 * n + 1\n    steps += 1\nprint(steps)",
        1,
        10_000_000,
    ),
)
BY_NAME = {c.name: c for c in COMPUTATIONS}
