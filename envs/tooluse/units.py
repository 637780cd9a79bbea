"""Unit conversion with exact factors: length, mass, temperature, time and volume, and the
``convert_units`` tool."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from turngym.tools.core import tool


@dataclass(frozen=True)
class Unit:
    """A unit: its symbol, dimension, English names and its value in the dimension's base unit.

    A value ``v`` in this unit is ``v * factor + offset`` base units (the offset is for temperatures).
    """

    symbol: str
    dimension: str
    singular: str
    plural: str
    factor: Fraction
    offset: Fraction = Fraction(0)
    aliases: tuple[str, ...] = ()


def _u(symbol: str, dimension: str, singular: str, plural: str, factor: str, offset: str = "0", *aliases: str) -> Unit:
    return Unit(symbol, dimension, singular, plural, Fraction(factor), Fraction(offset), aliases)


UNITS: tuple[Unit, ...] = (
    # length, base: metre
    _u("m", "length", "metre", "metres", "1", "0", "meter", "meters"),
    _u("km", "length", "kilometre", "kilometres", "1000", "0", "kilometer", "kilometers"),
    _u("cm", "length", "centimetre", "centimetres", "1/100", "0", "centimeter", "centimeters"),
    _u("mm", "length", "millimetre", "millimetres", "1/1000", "0", "millimeter", "millimeters"),
    _u("mi", "length", "mile", "miles", "1609.344"),
    _u("yd", "length", "yard", "yards", "0.9144"),
    _u("ft", "length", "foot", "feet", "0.3048"),
    _u("in", "length", "inch", "inches", "0.0254"),
    # mass, base: kilogram
    _u("kg", "mass", "kilogram", "kilograms", "1", "0", "kilo", "kilos"),
    _u("g", "mass", "gram", "grams", "1/1000"),
    _u("mg", "mass", "milligram", "milligrams", "1/1000000"),
    _u("t", "mass", "tonne", "tonnes", "1000", "0", "metric ton", "metric tons"),
    _u("lb", "mass", "pound", "pounds", "0.45359237", "0", "lbs"),
    _u("oz", "mass", "ounce", "ounces", "0.028349523125"),
    # temperature, base: kelvin
    _u("C", "temperature", "degree Celsius", "degrees Celsius", "1", "273.15", "celsius", "°C", "degC"),
    _u("F", "temperature", "degree Fahrenheit", "degrees Fahrenheit", "5/9", "45967/180", "fahrenheit", "°F", "degF"),
    _u("K", "temperature", "kelvin", "kelvins", "1"),
    # time, base: second
    _u("s", "time", "second", "seconds", "1", "0", "sec", "secs"),
    _u("min", "time", "minute", "minutes", "60", "0", "mins"),
    _u("h", "time", "hour", "hours", "3600", "0", "hr", "hrs"),
    _u("day", "time", "day", "days", "86400", "0", "d"),
    _u("week", "time", "week", "weeks", "604800", "0", "wk"),
    # volume, base: litre
    _u("L", "volume", "litre", "litres", "1", "0", "l", "liter", "liters"),
    _u("mL", "volume", "millilitre", "millilitres", "1/1000", "0", "milliliter", "milliliters"),
    _u("m3", "volume", "cubic metre", "cubic metres", "1000", "0", "cubic meter", "cubic meters", "m^3"),
    _u("gal", "volume", "US gallon", "US gallons", "3.785411784", "0", "gallon", "gallons"),
    _u("qt", "volume", "US quart", "US quarts", "0.946352946", "0", "quart", "quarts"),
    _u("pt", "volume", "US pint", "US pints", "0.473176473", "0", "pint", "pints"),
    _u("cup", "volume", "US cup", "US cups", "0.2365882365", "0", "cups"),
    _u("fl_oz", "volume", "US fluid ounce", "US fluid ounces", "0.0295735295625", "0", "fl oz", "fluid ounce", "fluid ounces"),
)
BY_SYMBOL = {u.symbol: u for u in UNITS}
_BY_NAME: dict[str, Unit] = {}
for _unit in UNITS:
    for _name in (_unit.symbol, _unit.singular, _unit.plural, *_unit.aliases):
        _BY_NAME.setdefault(" ".join(_name.lower().split()), _unit)
OUTPUT_DECIMALS = 6


def find_unit(name: str) -> Unit:
    """The unit called ``name`` (a symbol such as ``"km"`` or a name such as ``"kilometres"``, any case)."""
    unit = _BY_NAME.get(" ".join(name.lower().split()))
    if unit is None:
        known = ", ".join(u.symbol for u in UNITS)
        raise ValueError(f"unknown unit {name!r}; expected one of {known} (or their English names)")
    return unit


def canonical_unit(name: str) -> str:
    """The unit's symbol, or the text itself casefolded when it names no unit (for comparisons)."""
    try:
        return find_unit(name).symbol
    except ValueError:
        return " ".join(name.lower().split())


def convert(value: Fraction | float | int, from_unit: str, to_unit: str) -> Fraction:
    """``value`` in ``from_unit`` expressed in ``to_unit``, exactly."""
    source, target = find_unit(from_unit), find_unit(to_unit)
    if source.dimension != target.dimension:
        raise ValueError(
            f"cannot convert {source.dimension} ({source.symbol}) to {target.dimension} ({target.symbol}); "
            f"expected two units of the same kind"
        )
    exact = Fraction(repr(value)) if isinstance(value, float) else Fraction(value)  # 0.1 is one tenth
    base = exact * source.factor + source.offset
    return (base - target.offset) / target.factor


def format_number(value: Fraction | float | int, decimals: int = OUTPUT_DECIMALS) -> str:
    """A number as tools print it: an integer without a point, else rounded to ``decimals`` places
    without trailing zeros ("60.3504", "21", "-3.5")."""
    rounded = round(Fraction(value), decimals)
    if rounded.denominator == 1:
        return str(rounded.numerator)
    text = f"{float(rounded):.{decimals}f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


@tool
def convert_units(value: float, from_unit: str, to_unit: str) -> str:
    """Convert a quantity between units of length, mass, temperature, time or volume.

    Returns the converted number, rounded to 6 decimals.

    Args:
        value: The number to convert, e.g. 37.5.
        from_unit: Its unit: m, km, cm, mm, mi, yd, ft, in; kg, g, mg, t, lb, oz; C, F, K; s, min, h, day, week;
            L, mL, m3, gal, qt, pt, cup, fl_oz (English names work too).
        to_unit: The unit to convert to (same kind as from_unit).
    """
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"expected a finite number, got {value}")
    if abs(value) > 1e15:
        raise ValueError(f"expected a number of at most 1e15 in size, got {value}")
    return format_number(convert(value, from_unit, to_unit))
