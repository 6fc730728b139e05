"""New ORM objects written by one Core `INSERT … RETURNING`, then attached to the session
as if a query had loaded them.

The intake's transaction opens contacts and conversations for first messages. Left to
the unit of work, each kind costs a flush (its bookkeeping, then an INSERT), and a
query in between flushes again: in a batch of first messages, the flushes were the
larger part of the transaction's time. Here each kind is one statement, and the objects
come out persistent and clean: a later change to one is an UPDATE at the next flush,
as for any loaded object.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar, cast

from sqlalchemy import Column, Insert, insert, inspect
from sqlalchemy.orm import DeclarativeBase, Session, make_transient_to_detached

B = TypeVar("B", bound=DeclarativeBase)

_INSERTS: dict[type[Any], Insert] = {}


def insert_loaded(session: Session, objects: Sequence[B]) -> None:
    """Insert `objects` (new, never added to a session, all of one class with one integer
    primary key) in one statement and add them to `session`, persistent. A column left
    unset gets its Python default (or NULL), on the object too."""
    if not objects:
        return
    model = type(objects[0])
    mapper = inspect(model)
    (pk,) = mapper.primary_key
    attrs = [(prop.key, cast(Column[Any], prop.columns[0])) for prop in mapper.column_attrs]
    attrs = [(key, column) for key, column in attrs if column is not pk]
    rows = []
    for obj in objects:
        state = obj.__dict__
        row = {}
        for key, column in attrs:
            if key in state:
                value = state[key]
            else:
                value = _default(column)
                setattr(obj, key, value)
            row[column.key] = value
        rows.append(row)
    stmt = _INSERTS.get(model)
    if stmt is None:
        stmt = _INSERTS[model] = insert(model).returning(pk, sort_by_parameter_order=True)
    ids = session.connection().execute(stmt, rows).scalars().all()
    pk_key = mapper.get_property_by_column(pk).key
    for obj, id_ in zip(objects, ids, strict=True):
        setattr(obj, pk_key, id_)
        make_transient_to_detached(obj)  # every attribute set: none left expired
        session.add(obj)


def _default(column: Column[Any]) -> Any:
    default = column.default
    if default is None:
        return None
    if default.is_scalar:
        return default.arg  # type: ignore[attr-defined]
    if default.is_callable:
        return default.arg(None)  # type: ignore[attr-defined]  # wrapped: takes a context
    raise TypeError(f"{column}: a default that is not a value or a function")
