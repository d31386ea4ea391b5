"""``POST /orders``: an order and the task that confirms it, in one database transaction.

The view writes the order with SQLAlchemy and submits ``notify`` on the session's own
connection (PostgreSQL), so the two commit together or not at all: an order refused by the
database after the task was submitted leaves no task, and a worker never confirms an order
that does not exist. ``app.py`` adds these views when ``TASKS_DATABASE`` is PostgreSQL.
"""

from __future__ import annotations

from flask import Blueprint, request
from sqlalchemy import CheckConstraint, Column, Integer, MetaData, Table, Text, create_engine
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import Session

from quart_app.flow import notify
from tasks import InvalidArguments, Producer

orders = Table(
    "example_orders",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("email", Text, nullable=False),
    Column("quantity", Integer, CheckConstraint("quantity > 0"), nullable=False),
)


def order_views(producer: Producer, database: str) -> Blueprint:
    """The order views, on the PostgreSQL database at ``database`` (the task store's)."""
    views = Blueprint("orders", __name__)
    # SQLAlchemy through psycopg, the driver the task store uses: "postgresql+psycopg"
    engine = create_engine(database.replace("postgresql://", "postgresql+psycopg://", 1))
    orders.create(engine, checkfirst=True)

    @views.post("/orders")
    def place_order():
        """Store an order of ``quantity`` for ``email`` and submit its confirmation, together."""
        email, quantity = request.args.get("email", ""), request.args.get("quantity", "1")
        if not quantity.removeprefix("-").isdigit():
            return refused("quantity must be a whole number"), 400
        try:
            with Session(engine) as session, session.begin():
                # the psycopg connection under the session: the task joins its transaction
                connection = session.connection().connection.driver_connection
                record = producer.submit(notify, to=email, connection=connection)
                # refused by the database (its check, or a value it cannot hold) after the
                # submission: both roll back
                session.execute(orders.insert().values(email=email, quantity=int(quantity)))
        except InvalidArguments as exc:
            return refused(str(exc)), 400
        except (IntegrityError, DataError) as exc:  # a check, a number or text it cannot hold
            return refused(str(exc.orig).splitlines()[0]), 400
        return {"status": "placed", "task": record.to_dict()}, 201

    return views


def refused(message: str) -> dict[str, dict[str, str]]:
    return {"error": {"code": "order_refused", "message": f"{message}; nothing was stored"}}
