"""Partitioned execution: one output computed as K independent ranges of store ids.

The stores are cut by ranges of their ids in byte order (:func:`partition_ranges` of the
split ids the store computes, :meth:`DataStore.store_splits`); ``as_of`` is resolved once
for the whole fleet (the latest poll stored, unless given); each range is read and
computed on its own by the engine (:func:`~storemon.jobs.outputs.compute_part`); the
parts are joined in range order (:func:`~storemon.jobs.outputs.join_parts`): CSV bodies
concatenated under one header, profiles added up, one summary for the whole. Every store
lies in exactly one range and the engine's figures of a store depend only on that store's
inputs, so the result is byte for byte the single process's.

The parts read the database one by one, each in its own snapshot, so the plan records the
store's data version before it reads anything and each part checks it after its read
(:func:`check_version`): the version is a counter bumped in the very transaction of every
change to the data a report reads, so while it reads the same number at both ends, every
read between saw that data. After an ingest or prune meanwhile the part raises
:class:`~storemon.errors.DataChanged` rather than mix data from before and after it, and
:func:`until_unchanged` computes the whole output again, up to :data:`CHANGED_ATTEMPTS`
times in all.

:func:`partitioned_output` runs the ranges one after the other in this process
(``--partitions K``): memory follows the largest partition's inputs, not the fleet's.
:class:`storemon.jobs.dask_compute.DaskCompute` runs the same parts on a Dask cluster.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final, TypeVar

from storemon.errors import DataChanged, InvalidRequest
from storemon.jobs.outputs import (
    ComputedOutput,
    JobSpec,
    Part,
    compute_part,
    inputs_for,
    join_parts,
)
from storemon.schema import Interpolation
from storemon.store.base import DataStore, SettingsFallbacks, StoreRange

__all__ = [
    "MAX_PARTITIONS",
    "PartitionPlan",
    "check_partitions",
    "check_version",
    "fleet_fallbacks",
    "join_plan",
    "part_of_store",
    "partition_ranges",
    "partitioned_output",
    "plan_partitions",
    "until_unchanged",
]

log = logging.getLogger(__name__)
T = TypeVar("T")

#: More partitions than this is a mistake (each costs a query and a task).
MAX_PARTITIONS: Final = 100_000
#: Computations of one output in parts when the data keeps changing meanwhile.
CHANGED_ATTEMPTS: Final = 3


def check_partitions(partitions: int) -> None:
    """InvalidRequest unless ``1 <= partitions <= MAX_PARTITIONS``."""
    if not 1 <= partitions <= MAX_PARTITIONS:
        raise InvalidRequest(
            f"partitions must be a whole number from 1 to {MAX_PARTITIONS:,}, not {partitions}"
        )


def partition_ranges(splits: Sequence[str]) -> list[StoreRange]:
    """The ranges cut at ``splits`` (ascending in byte order, no repeats): ``[None, s1)``,
    ``[s1, s2)``, ..., ``[s_last, None)`` — disjoint, in byte order, covering every id."""
    encoded = [split.encode("utf-8", "surrogatepass") for split in splits]
    if any(a >= b for a, b in itertools.pairwise(encoded)):
        raise InvalidRequest("partition splits must ascend in byte order without repeats")
    bounds: list[str | None] = [None, *splits, None]
    return [StoreRange(first=a, stop=b) for a, b in itertools.pairwise(bounds)]


@dataclass(frozen=True)
class PartitionPlan:
    """What every partition of one output shares: the spec, the fleet's as_of (resolved
    once; None: no polls stored) and interpolation, the ranges in byte order, and the
    store's data version the plan was made at (that of a Parquet export, for a plan of
    one; None: not checked)."""

    spec: JobSpec
    as_of: datetime | None
    interpolation: Interpolation
    ranges: list[StoreRange]
    data_version: int | None = None


def plan_partitions(
    store: DataStore,
    spec: JobSpec,
    *,
    as_of: datetime | None,
    interpolation: Interpolation,
    partitions: int,
) -> PartitionPlan:
    """Resolve as_of once for the fleet and cut the stores into ``partitions`` ranges, at
    the store's data version read first."""
    check_partitions(partitions)
    version = store.data_version()
    used = as_of if as_of is not None else store.latest_poll_utc()
    ranges = partition_ranges(store.store_splits(partitions))
    return PartitionPlan(spec, used, interpolation, ranges, version)


def check_version(store: DataStore, plan: PartitionPlan) -> None:
    """:class:`~storemon.errors.DataChanged` unless ``store``'s data version is still the
    plan's (called after a read: then that read saw the plan's data)."""
    if plan.data_version is None:
        return
    now = store.data_version()
    if now != plan.data_version:
        message = (
            f"the database changed while computing the {plan.spec.output} (data version "
            f"{plan.data_version}, now {now}): its partitions would mix data from before and "
            "after an ingest or prune; run it again"
        )
        raise DataChanged(message, public=message)


def until_unchanged(compute: Callable[[], T], *, doing: str) -> T:
    """``compute()``, again when the data changed meanwhile (:class:`DataChanged`), at
    most :data:`CHANGED_ATTEMPTS` times in all: an ingest between two reads of the parts
    costs a second computation, not a failed output."""
    for attempt in range(1, CHANGED_ATTEMPTS + 1):
        try:
            return compute()
        except DataChanged as error:
            if attempt == CHANGED_ATTEMPTS:
                message = f"{error} (the data changed during each of {attempt} attempts)"
                raise DataChanged(message, public=message) from None
            log.info("%s: %s; computing it again (attempt %d)", doing, error, attempt + 1)
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


def part_of_store(store: DataStore, plan: PartitionPlan, stores: StoreRange) -> Part:
    """One partition's part, its inputs read from ``store`` (bounded to ``stores``) at the
    plan's data version."""
    inputs = inputs_for(store, plan.spec, plan.as_of, stores)
    check_version(store, plan)
    return compute_part(
        inputs.polls,
        inputs.hours,
        inputs.timezones,
        spec=plan.spec,
        as_of=plan.as_of,
        interpolation=plan.interpolation,
    )


def fleet_fallbacks(store: DataStore, spec: JobSpec) -> SettingsFallbacks | None:
    """The fleet's settings fallbacks, which a report's summary names (else None)."""
    return store.settings_fallbacks() if spec.output == "report" else None


def join_plan(store: DataStore, plan: PartitionPlan, parts: Sequence[Part]) -> ComputedOutput:
    """The whole output of the plan's parts (in range order), with the fleet's fallbacks."""
    return join_parts(parts, spec=plan.spec, fallbacks=fleet_fallbacks(store, plan.spec))


def partitioned_output(
    store: DataStore,
    spec: JobSpec,
    *,
    as_of: datetime | None,
    interpolation: Interpolation,
    partitions: int,
) -> ComputedOutput:
    """``spec``'s output computed one partition at a time in this thread: the same bytes
    as in one piece, with memory bounded by the largest partition's inputs."""

    def compute() -> ComputedOutput:
        plan = plan_partitions(
            store, spec, as_of=as_of, interpolation=interpolation, partitions=partitions
        )
        parts = [part_of_store(store, plan, stores) for stores in plan.ranges]
        done = join_plan(store, plan, parts)
        check_version(store, plan)  # the fleet's fallbacks, read last
        return done

    return until_unchanged(compute, doing=f"the {spec.output} in {partitions} partitions")
