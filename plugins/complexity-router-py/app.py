"""`complexity-router` in Python: the same rules, settings and reason strings
as the Rust reference (`plugins/complexity-router/src/lib.rs`, where the
settings are described); the polyglot test holds them to it.

Built with:
    componentize-py -d wit -w router componentize app -p plugins/complexity-router-py -o OUT.wasm
"""

import json

from wit_world import exports
from wit_world.imports.host import config
from wit_world.imports.types import Route, RouteContext, RouteDecision


def parse(key: str, text: str) -> float:
    try:
        return float(text.strip())
    except ValueError:
        # An uncaught exception traps: the host counts a failure and falls back.
        raise ValueError(f"setting {key}={text!r} is not a number") from None


def number(key: str, default: float) -> float:
    text = config(key)
    return default if text is None else parse(key, text)


def optional(key: str) -> float | None:
    text = config(key)
    return None if text is None else parse(key, text)


def words(key: str, default: str) -> list[str]:
    text = config(key)
    items = (t.strip().lower() for t in (default if text is None else text).split(","))
    return [t for t in items if t]


def pairs(key: str) -> list[tuple[str, str]]:
    """`a:b` items of a list setting."""
    out = []
    for item in words(key, ""):
        if ":" not in item:
            raise ValueError(f"setting {key} item {item!r} is not name:value")
        a, b = item.split(":", 1)
        out.append((a.strip(), b.strip()))
    return out


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
            return RouteDecision(route=Route.REJECT, reasons=[f"tag {tag} is refused"], doubtful=[])
        if ctx.budget_left_usd <= 0:
            return RouteDecision(route=Route.LOCAL, reasons=["cloud budget spent"], doubtful=[])

        reasons = []
        doubtful: list[str] = []

        def doubt(field: str) -> None:
            if field not in doubtful:
                doubtful.append(field)

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
        for field, threshold_text in pairs("field_thresholds"):
            threshold = parse("field_thresholds", threshold_text)
            signal = next((f for f in ctx.fields if f.name == field), None)
            if signal is not None and signal.confidence < threshold:
                reasons.append(f"{field} confidence {signal.confidence:.2f} below {threshold:.2f}")
                doubt(field)
        document = ctx.document
        if document is not None:
            require_law = (config("require_governing_law") or "").strip() == "true"
            if require_law and document.governing_laws == 0:
                reasons.append("no governing law found")
                doubt("governing_law")
            max_laws = optional("max_governing_laws")
            if max_laws is not None and document.governing_laws > max_laws:
                reasons.append(f"{document.governing_laws} governing laws named, over {display(max_laws)}")
                doubt("governing_law")
            max_parties = optional("max_parties")
            if max_parties is not None and document.parties > max_parties:
                reasons.append(f"{document.parties} parties, over {display(max_parties)}")
                doubt("parties")
            for flag, kind in pairs("flag_escalations"):
                if flag in document.risk_flags and kind in document.clause_kinds:
                    reasons.append(f"{flag} with {kind} present")
                    doubt("risk_flags")
        if reasons:
            return RouteDecision(route=Route.ESCALATE, reasons=reasons, doubtful=doubtful)

        share = number("parallel_share", 0.0)
        if ctx.sample < share:
            return RouteDecision(
                route=Route.PARALLEL,
                reasons=[f"sample {ctx.sample:.2f} within parallel share {share:.2f}"],
                doubtful=[],
            )
        return RouteDecision(route=Route.LOCAL, reasons=["local is confident"], doubtful=[])
