"""The arithmetic of the fairness scenario (bench/release.py), pure: what a fair draw gives a
client, and how far its places may stray from its share of the requests by chance alone.

When every request of a window accepts every hour that has places, random serial dictatorship
gives the places to the `places` best ranks, and the ranks are a uniform random order of the
requests: a client holding `mine` of `requests` wins Hypergeometric(requests, mine, places)
places at each draw. Over independent draws its total is the sum of as many such variables; its
95 % interval is read from that sum's exact distribution.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def hypergeometric(requests: int, mine: int, places: int) -> list[float]:
    """P(k places won) for k = 0 … min(mine, places): `places` requests drawn without
    replacement from `requests`, of which `mine` are the client's."""
    drawn = min(places, requests)
    total = math.comb(requests, drawn)
    return [
        math.comb(mine, k) * math.comb(requests - mine, drawn - k) / total
        for k in range(min(mine, drawn) + 1)
    ]


def binomial(trials: int, p: float) -> list[float]:
    return [math.comb(trials, k) * p**k * (1 - p) ** (trials - k) for k in range(trials + 1)]


def convolve(a: Sequence[float], b: Sequence[float]) -> list[float]:
    out = [0.0] * (len(a) + len(b) - 1)
    for i, x in enumerate(a):
        if x:
            for j, y in enumerate(b):
                out[i + j] += x * y
    return out


def total_of_draws(one: Sequence[float], draws: int) -> list[float]:
    """The distribution of the sum of `draws` independent variables distributed as `one`."""
    total = [1.0]
    for _ in range(draws):
        total = convolve(total, one)
    return total


def interval(distribution: Sequence[float], level: float = 0.95) -> tuple[int, int]:
    """The central interval [low, high] holding at least `level` of the probability: low is
    the largest k with P(X < k) ≤ (1 − level) / 2, high the smallest with P(X > k) ≤ the same."""
    tail = (1 - level) / 2
    below, low = 0.0, 0
    for k, p in enumerate(distribution):
        if below + p > tail:
            low = k
            break
        below += p
    above, high = 0.0, len(distribution) - 1
    for k in range(len(distribution) - 1, -1, -1):
        if above + distribution[k] > tail:
            high = k
            break
        above += distribution[k]
    return low, high


def mean(distribution: Sequence[float]) -> float:
    return sum(k * p for k, p in enumerate(distribution))
