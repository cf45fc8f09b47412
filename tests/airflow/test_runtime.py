"""pipeline.runtime: the SQLite connect args of the local Airflow stack.

Airflow opens its SQLite DB through SQLAlchemy in WAL mode; ``airflow backfill create`` creates
each run inside ``session.begin_nested()`` (a ``SAVEPOINT``). These tests replay that pattern
with two processes' worth of connections to show why ``SQLITE_CONNECT_ARGS`` carries a
connection factory, not only a busy timeout.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from pipeline.runtime import SQLITE_CONNECT_ARGS, WriteLockingConnection


def _engine(path: Path, connect_args: dict[str, Any]) -> Engine:
    """An engine opened as Airflow opens its SQLite DB (WAL, foreign keys)."""
    engine = create_engine(f"sqlite:///{path}", connect_args=connect_args)

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:  # as airflow.utils.orm_event_handlers
        cur = dbapi_connection.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.close()

    return engine


def _race(path: Path, connect_args: dict[str, Any]) -> tuple[BaseException | None, BaseException | None]:
    """A nested block that reads, then writes, while another process commits a write in between.

    Returns the errors of (the nested block, the other writer)."""
    backfill, scheduler = _engine(path, connect_args), _engine(path, connect_args)
    with backfill.begin() as c:
        c.execute(text("CREATE TABLE dag_run (id INTEGER PRIMARY KEY, who TEXT)"))
    errors: dict[str, BaseException | None] = {"backfill": None, "scheduler": None}
    read_done, scheduler_tried = threading.Event(), threading.Event()

    def heartbeat() -> None:  # the scheduler's write, between the backfill's read and its write
        read_done.wait(10)
        try:
            with scheduler.begin() as c:
                scheduler_tried.set()
                c.execute(text("INSERT INTO dag_run (who) VALUES ('scheduler')"))
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            errors["scheduler"] = exc
        finally:
            scheduler_tried.set()

    t = threading.Thread(target=heartbeat)
    t.start()
    try:
        with backfill.connect() as c:
            c.exec_driver_sql("SELECT 1")  # pysqlite is outside a transaction now (as after a commit)
            with c.begin_nested():
                c.execute(text("SELECT count(*) FROM dag_run")).scalar_one()
                read_done.set()
                scheduler_tried.wait(10)
                t.join(0.5)  # the scheduler commits now, unless it must wait for our write lock
                c.execute(text("INSERT INTO dag_run (who) VALUES ('backfill')"))
            c.commit()
    except BaseException as exc:  # noqa: BLE001 - reported to the test
        errors["backfill"] = exc
    finally:
        read_done.set()
        t.join(70)
        backfill.dispose()
        scheduler.dispose()
    return errors["backfill"], errors["scheduler"]


def test_a_busy_timeout_alone_fails_a_nested_write_at_once(tmp_path: Path) -> None:
    """The defect the factory fixes: the savepoint's upgrade from read to write is refused at once."""
    backfill_error, scheduler_error = _race(tmp_path / "airflow.db", {"timeout": 60})
    assert scheduler_error is None
    assert isinstance(backfill_error, OperationalError) and "database is locked" in str(backfill_error)


def test_sqlite_connect_args_make_a_nested_write_wait_its_turn(tmp_path: Path) -> None:
    db = tmp_path / "airflow.db"
    backfill_error, scheduler_error = _race(db, SQLITE_CONNECT_ARGS)
    assert backfill_error is None and scheduler_error is None
    with sqlite3.connect(db) as conn:  # both writes landed; the backfill's first (it held the lock)
        assert [w for (w,) in conn.execute("SELECT who FROM dag_run ORDER BY id")] == ["backfill", "scheduler"]


def _savepoint_story(path: Path, connect_args: dict[str, Any]) -> list[list[int]]:
    """What a reader sees after each step of nested blocks released, rolled back and abandoned."""
    engine, reader = _engine(path, connect_args), _engine(path, {"timeout": 60})
    seen = []

    def look() -> None:
        with reader.connect() as r:
            seen.append(r.execute(text("SELECT x FROM t ORDER BY x")).scalars().all())

    with engine.begin() as c:
        c.execute(text("CREATE TABLE t (x INTEGER)"))
    with engine.connect() as c:
        c.exec_driver_sql("SELECT 1")
        with c.begin_nested():
            c.execute(text("INSERT INTO t VALUES (1)"))
        look()  # released outermost savepoint: committed, as SQLite does
        nested = c.begin_nested()
        c.execute(text("INSERT INTO t VALUES (2)"))
        nested.rollback()
        look()
        with c.begin_nested():
            c.execute(text("INSERT INTO t VALUES (3)"))
            with c.begin_nested():
                c.execute(text("INSERT INTO t VALUES (4)"))
            look()  # an inner release commits nothing
        look()
        c.commit()
    look()
    engine.dispose()
    reader.dispose()
    return seen


def test_savepoints_keep_sqlites_meaning(tmp_path: Path) -> None:
    """The factory changes when the write lock is taken, not what is committed when."""
    plain = _savepoint_story(tmp_path / "plain.db", {"timeout": 60})
    locking = _savepoint_story(tmp_path / "locking.db", SQLITE_CONNECT_ARGS)
    assert locking == plain
    assert plain[0] == [1] and plain[-1][-2:] == [3, 4]  # the story shows both behaviours at all


@pytest.mark.parametrize("sql", ["SAVEPOINT a", "  savepoint a", "SAVEPOINT\ta"])
def test_the_factory_opens_a_write_transaction_only_outside_one(tmp_path: Path, sql: str) -> None:
    conn = sqlite3.connect(tmp_path / "x.db", factory=WriteLockingConnection)
    conn.execute("CREATE TABLE t (x INTEGER)")
    conn.commit()
    assert not conn.in_transaction
    conn.cursor().execute(sql)
    assert conn.in_transaction
    conn.cursor().execute("SAVEPOINT b")  # inside one: a plain savepoint, no second BEGIN
    conn.cursor().execute("RELEASE SAVEPOINT b")
    assert conn.in_transaction  # releasing an inner savepoint commits nothing
    conn.cursor().execute("INSERT INTO t VALUES (1)")
    conn.cursor().execute("RELEASE " + sql.split()[1])
    assert not conn.in_transaction  # releasing the outer one commits, as SQLite does
    assert conn.execute("SELECT count(*) FROM t").fetchone() == (1,)
    conn.close()
