"""PostgreSQL-only behaviour: connection errors, chunked bulk reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from storemon.errors import StoreError
from storemon.store import IngestBatch, open_store
from storemon.store import postgres as pg_module

if TYPE_CHECKING:
    from conftest import Tables


def test_unreachable_server_says_what_to_check() -> None:
    with pytest.raises(StoreError) as caught:
        open_store("postgresql://someone:secret@127.0.0.1:1/nowhere")
    message = str(caught.value)
    assert "127.0.0.1:1" in message
    assert "is the server running" in message
    assert "secret" not in message


@pytest.mark.postgres
def test_bulk_reads_in_several_chunks_give_every_row(
    pg_url: str, tables: type[Tables], monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(pg_url)
    try:
        start = datetime(2023, 1, 20, tzinfo=UTC)
        rows = [(f"s{i % 37}", start + timedelta(minutes=7 * i), i % 3 == 0) for i in range(500)]
        store.apply_ingest(IngestBatch(polls=tables.polls(rows)))
        whole = store.report_inputs(None).polls
        monkeypatch.setattr(pg_module, "_ROWS_PER_CHUNK", 16)  # 500 rows -> 32 chunks
        chunked = store.report_inputs(None).polls
        assert chunked.num_rows == whole.num_rows == 500
        assert chunked.sort_by([("store_id", "ascending"), ("timestamp_utc", "ascending")]).equals(
            whole.sort_by([("store_id", "ascending"), ("timestamp_utc", "ascending")])
        )
    finally:
        store.close()


@pytest.mark.postgres
def test_two_processes_opening_a_new_database_at_once_migrate_it_once(pg_url: str) -> None:
    import threading

    errors: list[BaseException] = []

    def open_and_close() -> None:
        try:
            open_store(pg_url).close()
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=open_and_close) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    store = open_store(pg_url)
    try:
        assert store.schema_version() == 1  # type: ignore[attr-defined]
    finally:
        store.close()
