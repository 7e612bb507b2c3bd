"""docs/scaling.md's partitioning scheme, checked on PostgreSQL: run ids start with their millisecond
(runs/ids.py), so RANGE partitions of runs by id are time partitions with the primary key unchanged; steps
are partitioned by their run's id (primary key (run_id, id)), so a run and its steps share a period; and a
period is removed by detaching and dropping its partitions, not by deleting rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from runs.ids import id_floor, new_id

pytestmark = pytest.mark.django_db(transaction=True)

DAY1 = datetime(2026, 1, 1, tzinfo=UTC)


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _id_at(moment: datetime) -> str:
    return id_floor(_ms(moment))[:10] + new_id()[10:]  # the time part of that moment, random bits as new_id's


def test_id_floor_orders_ids_by_their_millisecond() -> None:
    now = datetime.now(UTC)
    made = new_id()
    assert id_floor(_ms(now) - 1) <= made < id_floor(_ms(now) + 1000)
    assert id_floor(_ms(DAY1)) < _id_at(DAY1 + timedelta(hours=5)) < id_floor(_ms(DAY1 + timedelta(days=1)))


@pytest.mark.skipif(connection.vendor != "postgresql", reason="native partitioning is PostgreSQL's")
def test_runs_and_steps_partitioned_by_id_range_drop_a_day_whole() -> None:
    bounds = [id_floor(_ms(DAY1 + timedelta(days=d))) for d in range(3)]
    statements = [
        'CREATE TABLE part_runs (id varchar(32) COLLATE "C" PRIMARY KEY, root_run_id varchar(32) NOT NULL, '
        "status varchar(16) NOT NULL) PARTITION BY RANGE (id)",
        'CREATE TABLE part_steps (id bigint GENERATED ALWAYS AS IDENTITY, run_id varchar(32) COLLATE "C" NOT NULL '
        "REFERENCES part_runs (id) ON DELETE CASCADE, step_id varchar(64) NOT NULL, PRIMARY KEY (run_id, id), "
        "UNIQUE (run_id, step_id)) PARTITION BY RANGE (run_id)",
    ]
    for day in (0, 1):
        for table in ("part_runs", "part_steps"):
            statements.append(f"CREATE TABLE {table}_d{day} PARTITION OF {table} "
                              f"FOR VALUES FROM ('{bounds[day]}') TO ('{bounds[day + 1]}')")
    first, second = _id_at(DAY1 + timedelta(hours=23)), _id_at(DAY1 + timedelta(days=1, minutes=1))
    try:
        with connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
            for run_id in (first, second):
                cursor.execute("INSERT INTO part_runs VALUES (%s, %s, 'completed')", [run_id, first])
                cursor.execute("INSERT INTO part_steps (run_id, step_id) VALUES (%s, 'a'), (%s, 'b')",
                               [run_id, run_id])
            cursor.execute("SELECT id, tableoid::regclass::text FROM part_runs ORDER BY id")
            assert cursor.fetchall() == [(first, "part_runs_d0"), (second, "part_runs_d1")]
            cursor.execute("SELECT run_id, tableoid::regclass::text FROM part_steps ORDER BY run_id, step_id")
            assert {row[1] for row in cursor.fetchall() if row[0] == first} == {"part_steps_d0"}
            # A lookup by id (the store's every write) touches one partition.
            cursor.execute("EXPLAIN SELECT * FROM part_runs WHERE id = %s", [second])
            plan = " ".join(row[0] for row in cursor.fetchall())
            assert "part_runs_d1" in plan and "part_runs_d0" not in plan
            # Retention: the first day goes as a whole (steps first: they reference the runs).
            for table in ("part_steps", "part_runs"):
                cursor.execute(f"ALTER TABLE {table} DETACH PARTITION {table}_d0")
                cursor.execute(f"DROP TABLE {table}_d0")
            cursor.execute("SELECT id FROM part_runs")
            assert cursor.fetchall() == [(second,)]
            cursor.execute("SELECT count(*) FROM part_steps")
            assert cursor.fetchone() == (2,)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS part_steps, part_runs CASCADE")
