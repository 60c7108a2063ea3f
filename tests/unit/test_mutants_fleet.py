"""Tests that kill mutmut's survivors in simulator/state/fleet.py (docs/testing.md).

The fleet is a pure function of (seed, index): these tests pin it (stable hashes, every field of
seeded endpoints, the name pools) and the O(1) lookups by client id, hostname and IP with their edges.
"""

from __future__ import annotations

import hashlib

import pytest

from simulator.settings import FleetProfile
from simulator.state.fleet import (
    Endpoint,
    Fleet,
    _user_pool,
    _word_pool,
    stable_fraction,
    stable_hash,
    weighted_choice,
)


def _fleet() -> Fleet:
    return Fleet(7, 50, FleetProfile(linux_fraction=0.5), offline_fraction=0.3, missing_trace_fraction=0.3)


def _digest(fleet: Fleet) -> str:
    return hashlib.sha256("\n".join(repr(ep) for ep in fleet).encode()).hexdigest()


def test_stable_hashes_are_pinned() -> None:
    assert stable_hash(1, "a") == 10746897607693076979
    assert stable_hash() == 16476032584258269876
    assert stable_hash(1, "a") == int.from_bytes(hashlib.blake2b(b"1:a", digest_size=8).digest(), "big")
    assert stable_fraction(1, "a") == 10746897607693076979 / 2**64
    assert 0 <= stable_fraction(2, "b") < 1


def test_weighted_choice_walks_the_cumulative_shares() -> None:
    weights = {"a": 1.0, "b": 3.0}
    assert weighted_choice(weights, 0.0) == "a"
    assert weighted_choice(weights, 0.2499) == "a"
    assert weighted_choice(weights, 0.25) == "b"  # a share's upper bound belongs to the next one
    assert weighted_choice(weights, 0.9999) == "b"
    assert weighted_choice(weights, 1.0) == "b"  # past the last share: the last name
    assert weighted_choice({"a": 2.0, "b": 0.0, "c": 2.0}, 0.5) == "c"
    assert weighted_choice({"only": 0.5}, 0.9) == "only"


@pytest.mark.parametrize("weights", [{}, {"a": 0.0}, {"a": -1.0, "b": 0.5}])
def test_weights_must_add_up_to_more_than_zero(weights: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=r"^weights must add up to more than 0$"):
        weighted_choice(weights, 0.1)


def test_a_fleet_keeps_its_settings() -> None:
    fleet = _fleet()
    assert (fleet.seed, fleet.size, len(fleet)) == (7, 50, 50)
    assert (fleet.offline_fraction, fleet.missing_trace_fraction) == (0.3, 0.3)
    assert fleet.profile == FleetProfile(linux_fraction=0.5)
    plain = Fleet(7, 3)
    assert plain.profile == FleetProfile()
    assert (plain.offline_fraction, plain.missing_trace_fraction) == (0.0, 0.0)
    assert plain.endpoint.cache_info().maxsize == 65_536  # type: ignore[attr-defined]
    assert Fleet(7, 3, cache_size=2).endpoint.cache_info().maxsize == 2  # type: ignore[attr-defined]


def test_seeded_endpoints_are_pinned_field_by_field() -> None:
    fleet = _fleet()
    assert fleet.endpoint(0) == Endpoint(
        0, "2914149683", "web-garcia-01", "10.16.0.1", "Linux", "Rocky Linux 8", "tkelly", "small",
        False, True, "1.12.1",
    )  # fmt: skip
    assert fleet.endpoint(3) == Endpoint(
        3, "2287522374", "rdp-grant-04", "10.16.0.4", "Windows", "Windows Server 2022", "jeremy05", "medium",
        True, True, "1.12.1",
    )  # fmt: skip
    assert fleet.endpoint(5).scanner_version == "1.12.0"
    assert fleet.endpoint(2).os == "Red Hat Enterprise Linux 9"
    assert fleet.endpoint(4).user == "angelamcmahon"
    assert fleet.endpoint(3).is_windows and not fleet.endpoint(0).is_windows
    # Every field of every endpoint, and the counts the fractions give.
    assert _digest(fleet) == "66572e241b159107aab796e043498489adf85c2afe4b58a71318231e1b7fc0aa"
    assert (
        sum(e.online for e in fleet),
        sum(e.has_trace for e in fleet),
        sum(e.is_windows for e in fleet),
    ) == (
        35,
        40,
        23,
    )
    plain = Fleet(7, 50)
    assert _digest(plain) == "5befee020ecd8d137a704f15278c57c04c5e9a7032ffbe9271be8ecc9477f7f4"
    assert all(e.online and e.has_trace for e in plain)  # fraction 0: everyone online, with a trace


def test_iteration_and_client_ids() -> None:
    fleet = _fleet()
    assert [e.index for e in fleet] == list(range(50))
    assert fleet.client_id(0) == "2914149683"
    assert fleet.client_id(49) == "4132483092"
    assert fleet.client_id(2**32) == fleet.client_id(0)  # 32-bit arithmetic
    assert len({e.client_id for e in fleet}) == 50
    assert fleet.endpoint(7) is fleet.endpoint(7)  # cached


@pytest.mark.parametrize("index", [-1, 50, 10**6])
def test_an_index_outside_the_fleet_is_an_index_error(index: int) -> None:
    with pytest.raises(IndexError):
        _fleet().endpoint(index)


def test_fraction_boundaries_use_at_least() -> None:
    # linux_fraction 0: every endpoint Windows; 1: none. offline/missing 0: none; 1: all.
    assert all(e.is_windows for e in Fleet(7, 20, FleetProfile(linux_fraction=0.0)))
    assert not any(e.is_windows for e in Fleet(7, 20, FleetProfile(linux_fraction=1.0)))
    everyone_off = Fleet(7, 20, offline_fraction=1.0, missing_trace_fraction=1.0)
    assert not any(e.online or e.has_trace for e in everyone_off)


def test_lookup_by_client_id() -> None:
    fleet = _fleet()
    assert fleet.index_of_client_id("2914149683") == 0
    assert fleet.index_of_client_id(" 4132483092 ") == 49
    assert fleet.by_client_id("2287522374") == fleet.endpoint(3)
    assert fleet.index_of_client_id("4294967296") is None  # over 32 bits
    assert (
        fleet.index_of_client_id(str(int(Fleet(7, 51).client_id(50)))) is None
    )  # index 50: not in a fleet of 50
    assert fleet.index_of_client_id("abc") is None
    assert fleet.by_client_id("abc") is None
    assert fleet.index_of_client_id(2914149683) == 0  # type: ignore[arg-type]  # an int from a JSON body


def test_the_largest_32_bit_client_id_is_looked_up() -> None:
    fleet = Fleet(7, 2**32)
    index = fleet.index_of_client_id(str(2**32 - 1))
    assert index is not None and fleet.client_id(index) == str(2**32 - 1)


def test_lookup_by_hostname() -> None:
    fleet = _fleet()
    assert fleet.by_hostname("web-garcia-01") == fleet.endpoint(0)
    assert fleet.by_hostname(" WEB-Garcia-01 ") == fleet.endpoint(0)
    assert fleet.by_hostname("rdp-grant-04") == fleet.endpoint(3)
    assert fleet.by_hostname("web-garcia-02") is None  # the number names another host
    assert fleet.by_hostname("web-garcia-00") is None
    assert fleet.by_hostname("web-garcia-51") is None
    assert fleet.by_hostname("web-garcia-1") is None  # two digits at least
    assert fleet.by_hostname("web-garcia-01.corp") is None
    assert fleet.by_hostname("xweb-garcia-01x") is None
    assert fleet.by_hostname("web-garcia-" + "9" * 19) is None  # past 18 digits
    last = fleet.endpoint(49)
    assert fleet.by_hostname(last.hostname) == last


def test_lookup_by_ip() -> None:
    fleet = _fleet()
    assert fleet.by_ip("10.16.0.1") == fleet.endpoint(0)
    assert fleet.by_ip(" 10.16.0.50 ") == fleet.endpoint(49)
    assert fleet.by_ip("10.16.0.51") is None
    assert fleet.by_ip("10.16.0.0") is None
    assert fleet.by_ip("10.15.255.255") is None
    assert fleet.by_ip("not an ip") is None
    assert Fleet(7, 300).by_ip("10.16.1.0") == Fleet(7, 300).endpoint(255)


def test_name_pools_are_seeded_past_their_caches() -> None:
    # Past the caches: an earlier test in this process may have filled them with these seeds.
    words = _word_pool.__wrapped__(7)
    assert len(words) == 350
    assert words[:5] == ("adams", "aguilar", "alexander", "allen", "anderson")
    assert words[-3:] == ("wright", "yang", "yates")
    assert min(map(len, words)) == 3 and max(map(len, words)) == 10
    assert all(w.isalpha() and w.islower() for w in words)
    users = _user_pool.__wrapped__(7)
    assert len(users) == 300
    assert users[:4] == ("aaron73", "abigail76", "adamaustin", "adamscasey")
    assert list(users) == sorted(users) and list(words) == sorted(words)
    assert _word_pool(7) == words and _user_pool(7) == users


def test_a_fraction_equal_to_the_draw_flips_the_endpoint() -> None:
    # online / has_trace / Windows when the seeded draw is at least the fraction.
    draw = stable_fraction(7, 0, "online")
    assert Fleet(7, 1, offline_fraction=draw).endpoint(0).online is True
    assert Fleet(7, 1, offline_fraction=draw + 1e-12).endpoint(0).online is False
    draw = stable_fraction(7, 0, "trace")
    assert Fleet(7, 1, missing_trace_fraction=draw).endpoint(0).has_trace is True
    assert Fleet(7, 1, missing_trace_fraction=draw + 1e-12).endpoint(0).has_trace is False
    draw = stable_fraction(7, 0, "platform")
    assert Fleet(7, 1, FleetProfile(linux_fraction=draw)).endpoint(0).is_windows is True
    assert Fleet(7, 1, FleetProfile(linux_fraction=draw + 1e-12)).endpoint(0).is_windows is False


def test_the_index_error_names_the_index() -> None:
    with pytest.raises(IndexError, match=r"^50$"):
        _fleet().endpoint(50)
