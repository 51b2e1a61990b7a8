"""Observed and unobserved time (SPEC Part 2): which instants some poll vouches for.

A poll observes the instants within ``observed_within`` of it; the rest is unobserved:
before a store's first poll, after its last, and the middle of every gap between two
polls longer than twice ``observed_within``. :func:`observation` gives that as a tiling
(:mod:`storemon.engine.overlap`) with two flags per piece, ``unobserved`` and
``unobserved and active`` (under the interpolation's state: ``nearest`` switches state at
the midpoint of the gap, ``previous`` at the next poll), so one :class:`Overlap` measures
both the unobserved business time and how much of it is counted as uptime.

The tiling is sparse: a piece begins only where something changes (an unobserved stretch
begins or ends, or the state changes inside one), so with regular polls a store has three
pieces: unobserved before its first poll, observed, unobserved after its last.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from storemon.engine.polls import PollArrays
from storemon.engine.states import MIN_HUS
from storemon.errors import InvalidRequest
from storemon.schema import Interpolation


@dataclass(frozen=True)
class Observation:
    """A tiling of each store's time line into observed and unobserved pieces (hus)."""

    store: NDArray[np.int64]
    start_hus: NDArray[np.int64]
    unobserved: NDArray[np.bool_]
    unobserved_active: NDArray[np.bool_]


def observation(
    polls: PollArrays, interpolation: Interpolation, observed_within_us: int
) -> Observation:
    """The observation tiling of every store in ``polls`` (sorted by store, then time)."""
    if interpolation not in ("nearest", "previous"):
        raise InvalidRequest(
            f"unknown interpolation {interpolation!r}: use 'nearest' or 'previous'"
        )
    t2 = 2 * polls.time_us  # poll instants in hus
    n = len(t2)
    w = 2 * observed_within_us
    store = polls.store
    first = np.concatenate(([True], store[1:] != store[:-1]))[:n]
    last = np.concatenate((first[1:], [True]))[:n]
    gap = np.append(t2[1:] - t2[:-1], 0)
    big = ~last & (gap > 2 * w)  # the gap after this poll has an unobserved middle
    big_before = np.concatenate(([False], big[:-1]))[:n]
    # Per poll, up to three pieces in time order (only those that begin something):
    # u: unobserved, state of this poll, from MIN (first poll) or from the gap's switch
    #    (nearest: the midpoint; previous: no u, the earlier poll's v runs to the lead);
    # o: observed, from the lead t - w (first poll, or after an unobserved middle);
    # v: unobserved, state of this poll, from t + w (last poll, or before a big gap).
    has_u = first | (big_before if interpolation == "nearest" else np.zeros(n, dtype=bool))
    has_o = first | big_before
    has_v = last | big
    slots = np.flatnonzero(np.stack((has_u, has_o, has_v), axis=1).ravel())
    row, slot = np.divmod(slots, 3)
    midpoint = polls.time_us[row] + polls.time_us[np.maximum(row - 1, 0)]
    u_start = np.where(first[row], MIN_HUS, midpoint)
    start = np.where(slot == 0, u_start, np.where(slot == 1, t2[row] - w, t2[row] + w))
    unobserved = slot != 1
    return Observation(store[row], start, unobserved, unobserved & polls.active[row])


__all__ = ["Observation", "observation"]
