"""`complexity-router` in Python: the same rules and the same reason strings as
the Rust reference (`plugins/complexity-router/src/lib.rs`); the polyglot
test holds them to it.

Built with:
    componentize-py -d wit -w router componentize app -p plugins/complexity-router-py -o OUT.wasm
"""

import json

from wit_world import exports
from wit_world.imports.host import config
from wit_world.imports.types import Route, RouteContext, RouteDecision


def number(key: str, default: float) -> float:
    text = config(key)
    if text is None:
        return default
    try:
        return float(text.strip())
    except ValueError:
        # An uncaught exception traps: the host counts a failure and falls back.
        raise ValueError(f"setting {key}={text!r} is not a number") from None


def words(key: str, default: str) -> list[str]:
    text = config(key)
    items = (t.strip().lower() for t in (default if text is None else text).split(","))
    return [t for t in items if t]


def display(x: float) -> str:
    """Rust's `{}` for an f64: no trailing `.0`."""
    return str(int(x)) if x.is_integer() else repr(x)


def triage_asks_for_cloud(triage: str | None) -> bool:
    try:
        value = json.loads(triage) if triage is not None else None
    except ValueError:
        return False
    return isinstance(value, dict) and value.get("escalate_to_cloud") is True


class Routing(exports.Routing):
    def route(self, ctx: RouteContext) -> RouteDecision:
        tags = [t.lower() for t in ctx.tags]

        def tagged(wanted: list[str]) -> str | None:
            return next((t for t in tags if t in wanted), None)

        if (tag := tagged(words("reject_tags", ""))) is not None:
            return RouteDecision(route=Route.REJECT, reasons=[f"tag {tag} is refused"])
        if ctx.budget_left_usd <= 0:
            return RouteDecision(route=Route.LOCAL, reasons=["cloud budget spent"])

        reasons = []
        if (tag := tagged(words("escalate_tags", "hard,litigation"))) is not None:
            reasons.append(f"tag {tag} escalates")
        min_confidence = number("min_confidence", 0.7)
        if ctx.confidence < min_confidence:
            reasons.append(f"confidence {ctx.confidence:.2f} below {min_confidence:.2f}")
        max_tokens = number("max_input_tokens", 3000.0)
        if ctx.input_tokens > max_tokens:
            reasons.append(f"{ctx.input_tokens} input tokens over {display(max_tokens)}")
        if triage_asks_for_cloud(ctx.triage_json):
            reasons.append("triage asks for the cloud")
        if reasons:
            return RouteDecision(route=Route.ESCALATE, reasons=reasons)

        share = number("parallel_share", 0.0)
        if ctx.sample < share:
            return RouteDecision(
                route=Route.PARALLEL,
                reasons=[f"sample {ctx.sample:.2f} within parallel share {share:.2f}"],
            )
        return RouteDecision(route=Route.LOCAL, reasons=["local is confident"])
