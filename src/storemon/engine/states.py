"""Polls → the state of each store at every instant, as segments.

Boundaries are in half-microseconds (``_hus``): a ``nearest`` boundary is the midpoint
of two polls, which can fall between two microseconds; in half-microseconds it is the
exact integer ``t_i + t_{i+1}``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from storemon.engine.polls import PollArrays
from storemon.errors import InvalidRequest
from storemon.schema import Interpolation

#: Open ends: before a store's first segment and after its last one.
MIN_HUS = np.iinfo(np.int64).min
MAX_HUS = np.iinfo(np.int64).max


@dataclass(frozen=True)
class StateSegments:
    """One segment per poll, ``[start_hus, end_hus)``, sorted by (store, start).

    A store's segments tile the whole time line: its first starts at ``MIN_HUS``, its
    last ends at ``MAX_HUS``. ``active`` is the state on the segment.
    """

    store: NDArray[np.int64]
    start_hus: NDArray[np.int64]
    end_hus: NDArray[np.int64]
    active: NDArray[np.bool_]


def state_segments(polls: PollArrays, interpolation: Interpolation) -> StateSegments:
    """The state segments of every store (SPEC: "The state of a store between polls")."""
    t = polls.time_us
    if len(t) == 0:
        return StateSegments(polls.store, t.copy(), t.copy(), polls.active)
    if interpolation == "nearest":  # halfway belongs to the later poll
        boundary = np.concatenate(([MIN_HUS], t[:-1] + t[1:]))
    elif interpolation == "previous":
        boundary = 2 * t
    else:
        raise InvalidRequest(
            f"unknown interpolation {interpolation!r}: use 'nearest' or 'previous'"
        )
    store = polls.store
    first = np.concatenate(([True], store[1:] != store[:-1]))[: len(store)]
    start = np.where(first, MIN_HUS, boundary)
    end = np.concatenate((start[1:], [MIN_HUS]))
    last = np.concatenate((first[1:], [True]))
    end[last] = MAX_HUS
    return StateSegments(polls.store, start, end, polls.active)
