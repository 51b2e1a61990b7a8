"""Issue "serving while the data arrives": on DuckDB, report jobs are queued, run and
answered while an ingest's transaction is open, not after it.

The ingest is held open mid-transaction by its own polls: ``apply_ingest`` consumes the
iterable of tables inside its one transaction, and the second table is handed over
only once the test lets it. No timing bound decides anything: the requests run on a
helper thread and the test waits for an event that they set (the timeout only keeps a
broken build from hanging the suite).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from api_helpers import AS_OF, EXPECTED, TestClient, load_example, make_settings, parse_csv

from report_waiting import wait_for_report
from storemon.api import create_app
from storemon.store import IngestBatch, Store, open_store

if TYPE_CHECKING:
    from conftest import Tables

#: Bounds the waits of a broken build only; a working one answers at once.
HANG = 60.0


def _new_polls(tables: type[Tables]) -> list[pa.Table]:
    """An ingest of two tables that changes the worked example's store S."""
    return [
        tables.polls([("S", "2023-01-23 16:40", True)]),
        tables.polls([("S", "2023-01-23 16:50", True), ("U", "2023-01-23 16:55", False)]),
    ]


def _report(client: TestClient) -> tuple[str, dict[str, Any], bytes]:
    """Trigger the report at AS_OF, wait for it; its id, its record and its CSV."""
    answer = client.post("/trigger_report", json={"as_of": AS_OF})
    assert answer.status_code == 200, answer.text
    report_id = answer.json()["report_id"]
    done = wait_for_report(client, report_id)
    assert done.status_code == 200, done.text
    info = client.get(f"/reports/{report_id}")
    assert info.status_code == 200, info.text
    return report_id, info.json(), done.content


def _expected_after(tables: type[Tables], tmp_path: Path) -> bytes:
    """The report at AS_OF on the example plus the new polls, ingested plainly."""
    store = open_store(f"duckdb:///{tmp_path / 'expected.duckdb'}")
    try:
        load_example(store, tables)
        store.apply_ingest(IngestBatch(polls=iter(_new_polls(tables))))
        with TestClient(create_app(make_settings(db=store.url), store)) as client:
            return _report(client)[2]
    finally:
        store.close()


def test_reports_are_triggered_and_answered_while_an_ingest_is_open(
    duckdb_url: str, tables: type[Tables], tmp_path: Path
) -> None:
    store: Store = open_store(duckdb_url)
    inside, release = threading.Event(), threading.Event()
    ingest_errors: list[BaseException] = []

    def held_polls() -> Iterator[pa.Table]:
        first, second = _new_polls(tables)
        yield first  # staged inside the ingest's transaction
        inside.set()
        assert release.wait(HANG), "the test never let the ingest go on"
        yield second

    def run_ingest() -> None:
        try:
            store.apply_ingest(IngestBatch(polls=held_polls()))
        except BaseException as error:  # re-raised by the test below
            ingest_errors.append(error)

    try:
        load_example(store, tables)
        with TestClient(create_app(make_settings(db=store.url), store)) as client:
            before = store.data_version()
            ingest = threading.Thread(target=run_ingest)
            ingest.start()
            assert inside.wait(HANG), "the ingest did not start"

            during: dict[str, Any] = {}
            answered = threading.Event()

            def while_held() -> None:
                try:
                    during["first"] = _report(client)
                    during["again"] = client.post("/trigger_report", json={"as_of": AS_OF}).json()
                finally:
                    answered.set()

            asker = threading.Thread(target=while_held)
            asker.start()
            try:
                assert answered.wait(HANG), "trigger_report/get_report waited behind the ingest"
                # still mid-transaction: nothing of the ingest is visible yet
                assert not release.is_set()
                assert ingest.is_alive()
                assert store.data_version() == before
            finally:
                release.set()
                asker.join(HANG)
                ingest.join(HANG)
            assert not ingest_errors, ingest_errors
            assert not ingest.is_alive()

            # computed on the data before the ingest, and marked with its version
            first_id, first, first_csv = during["first"]
            assert first["status"] == "complete"
            assert first["data_version"] == before
            got = parse_csv(first_csv.decode())
            assert got["S"] == EXPECTED["nearest"]["S"]
            assert got["T"] == EXPECTED["nearest"]["T"]
            # an identical trigger during the ingest shares the job
            assert during["again"]["report_id"] == first_id

            # after the commit: the new version, a new job, the new data
            assert store.data_version() == before + 1
            second_id, second, second_csv = _report(client)
            assert second_id != first_id
            assert second["data_version"] == before + 1
            assert second_csv == _expected_after(tables, tmp_path)
            assert second_csv != first_csv
            # the first report is unchanged
            assert client.get("/get_report", params={"report_id": first_id}).content == first_csv
    finally:
        release.set()
        store.close()
