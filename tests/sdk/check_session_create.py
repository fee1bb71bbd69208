"""Checks a Checkout Session create call as chatpay sent it against Stripe's own SDK.

Reads JSON on stdin: {"stripe_version": "...", "form": [[key, value], ...]} (the request's
Stripe-Version header and its form-encoded body, in order). Prints one line per problem and
exits 1 if there is any; prints what it checked and exits 0 otherwise.

Checked against stripe-python (the version `cargo xtask test` installs):
- the Stripe-Version sent is the one the SDK pins (`stripe.api_version`);
- every key names a parameter of `SessionCreateParams`, nested keys following its TypedDicts
  (`line_items[0][price_data][currency]`), list indexes being integers, `metadata[...]` free;
- every value fits its parameter's type: a Literal's values only (the SDK's `|str` fallback
  for values newer than itself is not accepted here), whole numbers for ints, true/false for
  bools.
"""

import json
import sys
import typing

import stripe
from stripe.params.checkout import SessionCreateParams


def resolve(tp, module):
    """A type as written in the SDK (a string, a forward reference, NotRequired[...]) as a
    type object, read in the globals of the SDK module `module` that wrote it."""
    names = vars(sys.modules[module])
    if isinstance(tp, str):
        tp = eval(tp, dict(names), {})  # the SDK's own annotation text, not input
    if isinstance(tp, typing.ForwardRef):
        tp = eval(tp.__forward_arg__, dict(names), {})
    origin = typing.get_origin(tp)
    if origin in (typing.NotRequired, typing.Required):
        return resolve(typing.get_args(tp)[0], module)
    return tp


def literal_values(tp):
    """The Literal values a type allows (through Union), or None when it has no Literal."""
    if typing.get_origin(tp) is typing.Literal:
        return set(typing.get_args(tp))
    if typing.get_origin(tp) is typing.Union:
        found = set()
        for arg in typing.get_args(tp):
            values = literal_values(arg)
            if values:
                found |= values
        return found or None
    return None


def is_typeddict(tp):
    return isinstance(tp, type) and hasattr(tp, "__annotations__") and hasattr(tp, "__total__")


def check_leaf(key, tp, value, problems):
    values = literal_values(tp)
    if values is not None:
        if value not in values:
            problems.append(f"{key}={value!r}: not one of {sorted(values)}")
        return
    scalar = [a for a in (typing.get_args(tp) or (tp,)) if a is not type(None)]
    if int in scalar and bool not in scalar:
        try:
            int(value)
        except ValueError:
            problems.append(f"{key}={value!r}: not a whole number")
    elif bool in scalar and value not in ("true", "false"):
        problems.append(f"{key}={value!r}: not true or false")


def walk(key, segments, tp, value, problems, module=SessionCreateParams.__module__):
    tp = resolve(tp, module)
    origin = typing.get_origin(tp)
    if not segments:
        if is_typeddict(tp) or origin in (list, dict):
            problems.append(f"{key}: a whole object, sent as one value")
        else:
            check_leaf(key, tp, value, problems)
        return
    head, rest = segments[0], segments[1:]
    if origin is typing.Union:
        # The structured option (a TypedDict, list or dict) of a Union such as
        # "Dict[str, str]|UntypedStripeObject[str]" or "List[...]|Literal['']".
        options = [resolve(a, module) for a in typing.get_args(tp)]
        structured = [
            a for a in options if is_typeddict(a) or typing.get_origin(a) in (list, dict)
        ]
        if structured:
            return walk(key, segments, structured[0], value, problems, module)
    if is_typeddict(tp):
        hints = tp.__annotations__
        if head not in hints:
            problems.append(f"{key}: {tp.__name__} has no parameter '{head}'")
            return
        return walk(key, rest, hints[head], value, problems, tp.__module__)
    if origin is list:
        if not head.isdigit():
            problems.append(f"{key}: '{head}' is not a list index")
            return
        return walk(key, rest, typing.get_args(tp)[0], value, problems, module)
    if origin is dict:
        return walk(key, rest, typing.get_args(tp)[1], value, problems, module)
    problems.append(f"{key}: '{head}' goes inside a value that has no parts")


def segments_of(key):
    head, _, tail = key.partition("[")
    parts = [head]
    if tail:
        parts += tail.rstrip("]").split("][")
    return parts


def main():
    call = json.load(sys.stdin)
    problems = []
    if call["stripe_version"] != stripe.api_version:
        problems.append(
            f"Stripe-Version {call['stripe_version']!r}, but stripe-python {stripe.VERSION} pins {stripe.api_version!r}"
        )
    for key, value in call["form"]:
        walk(key, segments_of(key), SessionCreateParams, value, problems)
    for p in problems:
        print(p)
    if problems:
        return 1
    print(
        f"{len(call['form'])} parameters valid for stripe-python {stripe.VERSION} "
        f"SessionCreateParams at {stripe.api_version}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
