"""The fairness bench's arithmetic (bench/fairness.py): the law of a fair draw's places and the
95 % interval its report holds the bot to."""

import math
import random

import pytest

from bench import fairness


def test_hypergeometric_is_a_law_with_the_fair_mean():
    law = fairness.hypergeometric(1009, 10, 100)
    assert sum(law) == pytest.approx(1)
    assert fairness.mean(law) == pytest.approx(100 * 10 / 1009)


def test_a_client_holding_every_request_wins_every_place():
    assert fairness.hypergeometric(50, 50, 20) == [0.0] * 20 + [1.0]


def test_fewer_requests_than_places_all_win():
    law = fairness.hypergeometric(30, 4, 100)
    assert law == [0.0, 0.0, 0.0, 0.0, 1.0]


def test_the_sum_of_draws_adds_means_and_variances():
    one = fairness.hypergeometric(1009, 10, 100)
    total = fairness.total_of_draws(one, 20)
    assert sum(total) == pytest.approx(1)
    assert fairness.mean(total) == pytest.approx(20 * fairness.mean(one))
    var_one = sum(k * k * p for k, p in enumerate(one)) - fairness.mean(one) ** 2
    var_total = sum(k * k * p for k, p in enumerate(total)) - fairness.mean(total) ** 2
    assert var_total == pytest.approx(20 * var_one)


def test_the_interval_holds_95_per_cent_and_each_tail_at_most_2_5():
    law = fairness.binomial(40, 0.3)
    low, high = fairness.interval(law)
    assert sum(law[low : high + 1]) >= 0.95
    assert sum(law[:low]) <= 0.025
    assert sum(law[high + 1 :]) <= 0.025
    # The narrowest such: one more step in on either side leaves a tail over 2.5 %.
    assert sum(law[: low + 1]) > 0.025
    assert sum(law[high:]) > 0.025


def test_a_simulated_fair_draw_falls_inside_about_95_per_cent_of_the_time():
    rng = random.Random(7)
    requests, mine, places, draws = 300, 6, 40, 20
    low, high = fairness.interval(
        fairness.total_of_draws(fairness.hypergeometric(requests, mine, places), draws)
    )
    inside = 0
    for _ in range(400):
        won = sum(
            sum(1 for r in rng.sample(range(requests), places) if r < mine) for _ in range(draws)
        )
        inside += low <= won <= high
    assert 0.92 <= inside / 400 <= 1.0


def test_binomial_matches_the_formula():
    assert fairness.binomial(3, 0.5) == [0.125, 0.375, 0.375, 0.125]
    assert math.fsum(fairness.binomial(10, 0.1)) == pytest.approx(1)
