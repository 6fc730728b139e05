"""Segments: saved rules over contacts' signals, with live counts and members.

The rule language is small and closed. A rule is a condition or a group:

    {"all": [rule, ...]}   every rule holds (an empty list, at the top only: everyone)
    {"any": [rule, ...]}   at least one holds (an empty list, at the top only: no one)
    {"not": rule}
    {"signal": NAME, "op": OP, "value": VALUE}
    {"signal": "attribute", "key": KEY, "op": OP, "value": VALUE}

NAME and OP come from the whitelists below and VALUE must have the type the signal and
operator expect. Rules are validated when saved and compiled into a Python predicate
evaluated over the streamed signals (inbox/signals.py): nothing a rule holds ever reaches
SQL text, so a value like "x' OR 1=1 --" is only ever a string to compare with.
A missing figure (no sentiment yet, no CSAT) satisfies no comparison but "is_null".

A rule's cost is bounded: at most MAX_DEPTH levels, MAX_CONDITIONS conditions and
MAX_NODES groups and conditions in all, no empty group below the top, lists of at most
MAX_LIST values. Counting and listing run the predicate in a worker thread, a chunk of
contacts at a time, so a costly segment never holds up the event loop (health checks,
sockets) of the gateway that evaluates it.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox import signals as sig
from inbox.model import Segment, utcnow
from inbox.serialize import iso

NUMBER, TEXT, LIST, TIME, ATTRIBUTE = "number", "text", "list", "time", "attribute"
SIGNALS: dict[str, str] = {
    "sentiment_current": NUMBER, "sentiment_avg_30d": NUMBER, "sentiment_avg_90d": NUMBER,
    "negative_streak": NUMBER, "messages_in": NUMBER, "messages_out": NUMBER,
    "first_response_median_s": NUMBER, "csat_avg": NUMBER, "csat_count": NUMBER,
    "sentiment_trend": TEXT, "lifecycle_stage": TEXT,
    "channels": LIST, "labels": LIST,
    "first_interaction": TIME, "last_interaction": TIME,
    "attribute": ATTRIBUTE,
}  # fmt: skip
NULL_OPS = ("is_null", "not_null")
COMPARE = ("<", "<=", ">", ">=", "=", "!=")
OPS: dict[str, tuple[str, ...]] = {
    NUMBER: (*COMPARE, *NULL_OPS),
    TEXT: ("=", "!=", "in", "not_in", *NULL_OPS),
    LIST: ("contains", "not_contains", "contains_any", "is_empty", "not_empty"),
    TIME: ("older_than_days", "within_days", *NULL_OPS),
    ATTRIBUTE: (*COMPARE, "in", "not_in", *NULL_OPS),
}
MAX_DEPTH = 6
MAX_CONDITIONS = 100
MAX_NODES = 200
MAX_LIST = 200
MAX_TEXT = 200
_NAME = re.compile(r"[^\x00-\x1f]{1,100}")
_KEY = re.compile(r"[A-Za-z0-9_.-]{1,64}")

Predicate = Callable[[sig.ContactSignals], bool]


class InvalidRule(ValueError):
    """A rule outside the language; the message says where and why."""


# ---- validation -------------------------------------------------------------------------


def validate(rules: Any) -> dict[str, Any]:
    """The rules if they are well-formed, else InvalidRule."""
    counter = [0, 0]
    _check(rules, "rules", 0, counter)
    return rules  # type: ignore[no-any-return]


def _check(rule: Any, where: str, depth: int, counter: list[int]) -> None:
    if depth > MAX_DEPTH:
        raise InvalidRule(f"{where}: nested deeper than {MAX_DEPTH} levels")
    if not isinstance(rule, dict):
        raise InvalidRule(f"{where}: expected an object")
    counter[1] += 1  # [conditions, groups and conditions]
    if counter[1] > MAX_NODES:
        raise InvalidRule(f"more than {MAX_NODES} groups and conditions")
    if "all" in rule or "any" in rule:
        (key,) = _only(rule, where, {"all", "any"})
        items = rule[key]
        if not isinstance(items, list):
            raise InvalidRule(f"{where}.{key}: expected a list of rules")
        if not items and depth > 0:
            raise InvalidRule(f"{where}.{key}: an empty group says nothing; remove it")
        if len(items) > MAX_NODES:
            raise InvalidRule(f"{where}.{key}: more than {MAX_NODES} rules")
        for i, item in enumerate(items):
            _check(item, f"{where}.{key}[{i}]", depth + 1, counter)
        return
    if "not" in rule:
        _only(rule, where, {"not"})
        _check(rule["not"], f"{where}.not", depth + 1, counter)
        return
    counter[0] += 1
    if counter[0] > MAX_CONDITIONS:
        raise InvalidRule(f"more than {MAX_CONDITIONS} conditions")
    _condition(rule, where)


def _only(rule: dict[str, Any], where: str, allowed: set[str]) -> list[str]:
    keys = list(rule)
    if len(keys) != 1 or keys[0] not in allowed:
        raise InvalidRule(f"{where}: a group has exactly one of 'all', 'any' or 'not'")
    return keys


def _condition(rule: dict[str, Any], where: str) -> None:
    name = rule.get("signal")
    if not isinstance(name, str) or name not in SIGNALS:
        raise InvalidRule(f"{where}.signal: one of {', '.join(SIGNALS)}")
    kind = SIGNALS[name]
    allowed = {"signal", "op", "value"} | ({"key"} if kind == ATTRIBUTE else set())
    extra = set(rule) - allowed
    if extra:
        raise InvalidRule(f"{where}: unknown field {sorted(extra)[0]!r}")
    if kind == ATTRIBUTE and not (isinstance(rule.get("key"), str) and _KEY.fullmatch(rule["key"])):
        raise InvalidRule(f"{where}.key: 1 to 64 letters, digits, '_', '.' or '-'")
    op = rule.get("op")
    if op not in OPS[kind]:
        raise InvalidRule(f"{where}.op: for {name}, one of {', '.join(OPS[kind])}")
    value = rule.get("value")
    if op in NULL_OPS or op in ("is_empty", "not_empty"):
        if "value" in rule:
            raise InvalidRule(f"{where}.value: {op} takes no value")
        return
    _value(kind, op, value, f"{where}.value")


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and v == v  # not NaN


def _is_text(v: Any) -> bool:
    return isinstance(v, str) and len(v) <= MAX_TEXT


def _value(kind: str, op: str, value: Any, where: str) -> None:
    if op in ("in", "not_in", "contains_any"):
        ok = isinstance(value, list) and 0 < len(value) <= MAX_LIST
        scalar = _is_text if kind != ATTRIBUTE else _is_scalar
        if not ok or not all(scalar(v) for v in value):
            raise InvalidRule(f"{where}: a list of 1 to {MAX_LIST} strings")
    elif kind == NUMBER and not _is_number(value):
        raise InvalidRule(f"{where}: a number")
    elif kind == TIME and not (_is_number(value) and 0 <= value <= 36500):
        raise InvalidRule(f"{where}: a number of days from 0 to 36500")
    elif kind in (TEXT, LIST) and not _is_text(value):
        raise InvalidRule(f"{where}: a string of at most {MAX_TEXT} characters")
    elif kind == ATTRIBUTE and not _is_scalar(value):
        raise InvalidRule(f"{where}: a string, number or boolean")
    elif kind == ATTRIBUTE and op in ("<", "<=", ">", ">=") and not _is_number(value):
        raise InvalidRule(f"{where}: {op} compares numbers")


def _is_scalar(v: Any) -> bool:
    return _is_text(v) or _is_number(v) or isinstance(v, bool)


# ---- evaluation -------------------------------------------------------------------------


def compile_rules(rules: dict[str, Any], now: datetime) -> Predicate:
    """A predicate over a contact's signals; `now` anchors the time conditions."""
    validate(rules)
    return _compile(rules, now)


def _compile(rule: dict[str, Any], now: datetime) -> Predicate:
    if "all" in rule:
        parts = [_compile(r, now) for r in rule["all"]]
        return lambda s: all(p(s) for p in parts)
    if "any" in rule:
        parts = [_compile(r, now) for r in rule["any"]]
        return lambda s: any(p(s) for p in parts)
    if "not" in rule:
        inner = _compile(rule["not"], now)
        return lambda s: not inner(s)
    name, op, value = rule["signal"], rule["op"], rule.get("value")
    if name == "attribute":
        key = rule["key"]
        return lambda s: _test(ATTRIBUTE, op, s.attributes.get(key), value, now)
    kind = SIGNALS[name]
    return lambda s: _test(kind, op, getattr(s, name), value, now)


def _test(kind: str, op: str, actual: Any, value: Any, now: datetime) -> bool:
    if op == "is_null":
        return actual is None
    if op == "not_null":
        return actual is not None
    if kind == LIST:
        have = {str(v).lower() for v in actual or ()}
        if op == "is_empty":
            return not have
        if op == "not_empty":
            return bool(have)
        if op == "contains_any":
            return any(str(v).lower() in have for v in value)
        return (str(value).lower() in have) == (op == "contains")
    if actual is None:
        return False
    if kind == TIME:
        cutoff = now - timedelta(days=float(value))
        return bool(actual < cutoff) if op == "older_than_days" else bool(actual >= cutoff)
    if op in ("in", "not_in"):
        return (actual in value) == (op == "in")
    if op in ("<", "<=", ">", ">="):
        if not _is_number(actual):
            return False
        return bool({"<": actual < value, "<=": actual <= value, ">": actual > value,
                     ">=": actual >= value}[op])  # fmt: skip
    equal = actual == value and isinstance(actual, bool) == isinstance(value, bool)
    return equal if op == "=" else not equal


# ---- storage, counts, members -----------------------------------------------------------


def segment_dict(segment: Segment) -> dict[str, Any]:
    return {"id": segment.id, "name": segment.name, "rules": segment.rules,
            "created_by_agent_id": segment.created_by_agent_id,
            "created_at": iso(segment.created_at), "updated_at": iso(segment.updated_at)}  # fmt: skip


def check_name(name: Any) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name.strip()):
        raise InvalidRule("name: 1 to 100 characters, no control characters")
    return name.strip()


async def by_name(session: AsyncSession, name: str) -> Segment | None:
    return (await session.execute(select(Segment).where(Segment.name == name))).scalar_one_or_none()


async def all_segments(session: AsyncSession) -> list[Segment]:
    return list((await session.execute(select(Segment).order_by(Segment.name))).scalars())


async def create(session: AsyncSession, name: str, rules: Any, agent_id: int | None) -> Segment:
    """A new segment (InvalidRule for bad rules; the caller checks the name is free)."""
    segment = Segment(name=check_name(name), rules=validate(rules), created_by_agent_id=agent_id,
                      created_at=utcnow(), updated_at=utcnow())  # fmt: skip
    session.add(segment)
    await session.flush()
    return segment


async def count(
    session: AsyncSession, rules: dict[str, Any], now: datetime,
    *, teams: frozenset[int] | None = None,
) -> int:  # fmt: skip
    return (await sizes(session, [rules], now, teams=teams))[0]


async def sizes(
    session: AsyncSession, rule_sets: Sequence[dict[str, Any]], now: datetime,
    *, teams: frozenset[int] | None = None,
) -> list[int]:  # fmt: skip
    """How many contacts each rule set matches, in one pass over the signals."""
    predicates = [compile_rules(r, now) for r in rule_sets]
    totals = [0] * len(predicates)
    if not predicates:
        return totals

    def tally(chunk: list[sig.ContactSignals]) -> None:
        for s in chunk:
            for i, p in enumerate(predicates):
                if p(s):
                    totals[i] += 1

    async for chunk in sig.stream(session, now, teams=teams):
        await asyncio.to_thread(tally, chunk)
    return totals


def _matching(
    chunk: list[sig.ContactSignals], predicate: sig.Predicate
) -> list[sig.ContactSignals]:
    return [x for x in chunk if predicate(x)]


async def members(
    session: AsyncSession, rules: dict[str, Any], now: datetime, *, after_id: int = 0,
    limit: int = 100, teams: frozenset[int] | None = None,
) -> tuple[list[sig.ContactSignals], int | None]:  # fmt: skip
    """Up to `limit` matching contacts with ids above `after_id`, and the cursor for the
    next page (None at the end)."""
    predicate = compile_rules(rules, now)
    found: list[sig.ContactSignals] = []
    async for chunk in sig.stream(session, now, after_id=after_id, teams=teams):
        for s in await asyncio.to_thread(_matching, chunk, predicate):
            found.append(s)
            if len(found) == limit:
                return found, s.contact_id
    return found, None
