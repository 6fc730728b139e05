"""How the ingest's look-ups (inbox/ingest.py) take a batch's values, by database and size.

Three forms of each statement, built once (making a statement costs more than running it):

- "one": `column = :x`, for a batch of one (every message under light load).
- "list": `column IN (:x, …)`, an expanding IN, on SQLite. It is rendered again at each
  execution, and each number of values is a statement of its own.
- "array", on PostgreSQL: one array parameter, so one statement whatever the batch's
  size, which asyncpg prepares once; with IN lists, each new length was a new statement
  to prepare (a round trip and the server's parse: the first batches of each size after
  a start took 3–8 ms more, docs/benchmarks.md). A look-up by a unique pair of columns
  joins the pairs themselves (`unnest` of two arrays): each pair is one probe of the
  unique index, whatever the planner knows of the table. With `= ANY` on both columns, a
  table never analysed (a new install; this machine's server runs no autovacuum) was
  read whole for the inbox: 24 ms for 12 000 messages, growing with the table.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from typing import Any, Literal, TypeVar

from sqlalchemy import ARRAY, ColumnElement, Select, TableValuedAlias, any_, bindparam, func
from sqlalchemy.orm import InstrumentedAttribute, Session

Form = Literal["one", "list", "array"]
FORMS: tuple[Form, ...] = ("one", "list", "array")
S = TypeVar("S")
Q = TypeVar("Q", bound=Select[*tuple[Any, ...]])


def by_form(make: Callable[[Form], S]) -> dict[Form, S]:
    """A statement in each form."""
    return {form: make(form) for form in FORMS}


def form_for(session: Session, *values: Collection[Any]) -> Form:
    """ "one" when each collection holds one value; otherwise the database's form."""
    if all(len(v) == 1 for v in values):
        return "one"
    return "array" if session.get_bind().dialect.name == "postgresql" else "list"


def among(column: InstrumentedAttribute[Any], name: str, form: Form) -> ColumnElement[bool]:
    """`column` is one of the values of parameter `name`."""
    if form == "one":
        return column == bindparam(name)
    if form == "array":
        return column == any_(bindparam(name, type_=ARRAY(column.type)))
    return column.in_(bindparam(name, expanding=True))


def pairs_table(
    first: InstrumentedAttribute[Any], second: InstrumentedAttribute[Any], names: tuple[str, str]
) -> TableValuedAlias:
    """PostgreSQL: the pairs of parameters `names` (two arrays of the same length) as a
    table whose columns are named as `first` and `second`, to join on them."""
    arrays = (bindparam(names[0], type_=ARRAY(first.type)),
              bindparam(names[1], type_=ARRAY(second.type)))  # fmt: skip
    return func.unnest(*arrays).table_valued(first.key, second.key).render_derived()


def with_pairs(
    query: Q,
    first: InstrumentedAttribute[Any],
    second: InstrumentedAttribute[Any],
    names: tuple[str, str],
    form: Form,
) -> Q:
    """`query` kept to the rows whose (`first`, `second`) is among the pairs of parameters
    `names`: joined to them on PostgreSQL; elsewhere two INs, not a tuple IN, so that
    SQLite uses the unique index (the caller keeps the exact pairs among the rows)."""
    if form != "array":
        return query.where(among(first, names[0], form)).where(among(second, names[1], form))
    pairs = pairs_table(first, second, names)
    return query.join(pairs, (first == pairs.c[first.key]) & (second == pairs.c[second.key]))


def values(form: Form, **lists: list[Any]) -> dict[str, Any]:
    """The statement's parameters: the first value of each list for "one", else the lists."""
    return {k: v[0] for k, v in lists.items()} if form == "one" else lists


def pair_values(form: Form, pairs: Iterable[tuple[Any, Any]], names: tuple[str, str]
                ) -> dict[str, Any]:  # fmt: skip
    """The parameters of a look-up by pairs: the pairs' two columns for "array" (joined
    by `with_pairs`), else the distinct values of each (the caller keeps the exact
    pairs among what comes back)."""
    pairs = list(pairs)
    if form == "array":
        return {names[0]: [p[0] for p in pairs], names[1]: [p[1] for p in pairs]}
    return values(form, **{names[0]: list({p[0] for p in pairs}),
                           names[1]: list({p[1] for p in pairs})})  # fmt: skip
