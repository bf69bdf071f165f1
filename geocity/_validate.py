"""Checks of numeric parameters, shared by every module.

One message shape for a bad number everywhere: ``"<name> must be a positive
number of km, got -5"``. Each check either raises
:class:`~geocity.errors.ValidationError` or, given a ``problems`` list, appends
its message there and returns NaN, for the functions that gather every
problem of a call into one error.
"""

from __future__ import annotations

import math
import numbers

from .errors import ValidationError


def _number(value) -> float:
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, str)):
        # True is not 1 km; None, lists and arrays are not numbers
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _report(message: str, problems: list[str] | None) -> float:
    if problems is None:
        raise ValidationError(message)
    problems.append(message)
    return math.nan


def _of(unit: str | None) -> str:
    return f" of {unit}" if unit else ""


def positive(name: str, value, *, unit: str | None = None, problems: list[str] | None = None) -> float:
    """``value`` as a finite float > 0.

    Parameters
    ----------
    name
        The parameter's name as the caller knows it (``"eps_km"``).
    value
        A number or a numeric string (from a command line or a YAML file).
    unit
        Said in the message (``"km"``).
    problems
        Collect the message here instead of raising.

    Examples
    --------
    >>> positive("eps_km", "450")
    450.0
    >>> positive("eps_km", -5, unit="km")
    Traceback (most recent call last):
    ...
    geocity.errors.ValidationError: eps_km must be a positive number of km, got -5
    """
    v = _number(value)
    if not (math.isfinite(v) and v > 0):
        return _report(f"{name} must be a positive number{_of(unit)}, got {value!r}", problems)
    return v


def non_negative(name: str, value, *, unit: str | None = None, problems: list[str] | None = None) -> float:
    """``value`` as a finite float >= 0 (see :func:`positive`)."""
    v = _number(value)
    if not (math.isfinite(v) and v >= 0):
        return _report(f"{name} must be a number >= 0{_of(unit)}, got {value!r}", problems)
    return v


def whole(name: str, value, *, minimum: int = 1, problems: list[str] | None = None) -> int | float:
    """``value`` as an int >= ``minimum`` (``3.0`` passes, ``2.5`` does not)."""
    v = _number(value)
    if not (math.isfinite(v) and v == int(v) and v >= minimum):
        return _report(f"{name} must be a whole number >= {minimum}, got {value!r}", problems)
    return int(v)
