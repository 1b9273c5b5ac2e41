"""Argument checks shared by the builders; every error quotes the bad value.

Example:
    >>> from kerascls.models._checks import make_divisible
    >>> make_divisible(72 * 0.25)
    24
"""

from __future__ import annotations

import numbers
from typing import Any

from kerascls.errors import ModelError
from kerascls.models.build_spec import BuildSpec

# Below this many pixels on the short side, ImageNet-style stems (stride 4 before the first
# stage, total stride 32) leave a 1x1 final map; builders with `small_input=None` then use
# a stride-1 stem instead. 64 px still gives a 2x2 map with the standard stem.
SMALL_INPUT_BELOW = 64


def is_int(value: Any) -> bool:
    """True for Python and NumPy integers, False for bools (True is not a layer count)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_real(value: Any) -> bool:
    """True for Python and NumPy integers and floats, False for bools."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_fraction(model: str, label: str, value: Any, *, allow_zero: bool = True) -> float:
    """Return `value` as a float in (0, 1] ([0, 1] when `allow_zero`), or raise ModelError."""
    ok = is_real(value)
    low_ok = ok and (value >= 0 if allow_zero else value > 0)
    if not (ok and low_ok and value <= 1):
        interval = "[0, 1] (0 = off)" if allow_zero else "(0, 1]"
        raise ModelError(f"{label} of model {model!r} must be in {interval}, got {value!r}")
    return float(value)


def check_dropout(model: str, value: Any) -> float:
    """Return a dropout rate in [0, 1), or raise ModelError."""
    ok = is_real(value) and 0 <= value < 1
    if not ok:
        raise ModelError(f"dropout of model {model!r} must be in [0, 1), got {value!r}")
    return float(value)


def check_choice(model: str, label: str, value: Any, choices: Any) -> Any:
    """Return `value` if it is one of `choices`, or raise ModelError listing them."""
    if value not in choices:
        valid = ", ".join(map(repr, choices))
        raise ModelError(f"{label} of model {model!r} must be one of {valid}, got {value!r}")
    return value


def check_min_size(spec: BuildSpec, min_size: int, why: str) -> None:
    """Raise ModelError when the input is smaller than `min_size` on either side."""
    if min(spec.height, spec.width) < min_size:
        raise ModelError(
            f"input_shape {spec.input_shape!r} is too small for {spec.name!r}: it needs at "
            f"least {min_size}x{min_size} ({why})"
        )


def resolve_small_input(spec: BuildSpec, small_input: Any) -> bool:
    """Resolve `small_input=None` (auto) to True when min(H, W) < SMALL_INPUT_BELOW."""
    if small_input is None:
        return min(spec.height, spec.width) < SMALL_INPUT_BELOW
    if not isinstance(small_input, bool):
        raise ModelError(
            f"small_input of model {spec.name!r} must be True, False or None (auto), "
            f"got {small_input!r}"
        )
    return small_input


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round a channel count to a multiple of `divisor`, never more than 10% below it.

    This is the rounding of the MobileNet papers and reference code, so that width
    multipliers give the published channel counts.
    """
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded
