"""The client address behind reverse proxies (``CITYOPS_TRUSTED_PROXIES``,
``app.security.identity.client_address``): believed only from a trusted proxy, spoofed headers
ignored, and what the audit log and the log-in back-off see."""
from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from app.security.identity import TrustedProxies, client_address, parse_trusted_proxies
from app.server import create_app
from queries import auth
from queries.auth import FREE_ATTEMPTS, add_user
from tests.app.conftest import audit_rows, make_settings, seed_small_platform, url_of
from tests.app.security.test_login import PASSWORD, csrf_of, nobody

PROXY, OTHER_PROXY, CLIENT, SPOOF = "10.0.0.2", "10.0.0.3", "198.51.100.7", "192.0.2.66"


@pytest.fixture(autouse=True)
def fast_hashing(monkeypatch):
    monkeypatch.setattr(auth, "_hasher", lambda: PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


def test_the_setting_is_a_count_or_a_list_of_addresses():
    assert parse_trusted_proxies(None) == parse_trusted_proxies("") == parse_trusted_proxies("0") == TrustedProxies()
    assert parse_trusted_proxies("2") == TrustedProxies(hops=2)
    listed = parse_trusted_proxies("127.0.0.1, 10.0.0.0/8 ::1")
    assert [str(n) for n in listed.networks] == ["127.0.0.1/32", "10.0.0.0/8", "::1/128"]
    for wrong, message in (("11", "at most 10"), ("10.0.0.300", "neither an IP address"), ("fe80::/200", "neither an IP address")):
        with pytest.raises(ValueError, match=message) as caught:
            parse_trusted_proxies(wrong)
        assert "CITYOPS_TRUSTED_PROXIES" in str(caught.value)


def test_a_wrong_setting_stops_the_app_with_its_message(tmp_path):
    with pytest.raises(ValueError, match="CITYOPS_TRUSTED_PROXIES: '10.0.0.300'"):
        create_app(make_settings(tmp_path, f"sqlite:///{tmp_path / 'x.db'}", trusted_proxies="10.0.0.300"))


NONE, ONE_HOP, LISTED = TrustedProxies(), parse_trusted_proxies("1"), parse_trusted_proxies("10.0.0.0/29")


@pytest.mark.parametrize("peer, header, proxies, seen", [
    # No proxy configured: the header is ignored, whoever sends it.
    (CLIENT, [SPOOF], NONE, CLIENT),
    (PROXY, [CLIENT], NONE, PROXY),
    # A count: the N-th entry from the right; too few entries: the peer.
    (PROXY, [CLIENT], ONE_HOP, CLIENT),
    (PROXY, [f"{SPOOF}, {CLIENT}"], ONE_HOP, CLIENT),  # what the client wrote itself stays left of what the proxy saw
    (PROXY, [SPOOF, CLIENT], ONE_HOP, CLIENT),  # several headers are one list
    (PROXY, [], ONE_HOP, PROXY),
    (PROXY, ["not-an-address"], ONE_HOP, PROXY),
    (PROXY, [f"{CLIENT}:51234"], ONE_HOP, CLIENT),
    (PROXY, ["[2001:db8::7]:443"], ONE_HOP, "2001:db8::7"),
    # A list: only a trusted peer's header is read, from the right, past other trusted proxies.
    (CLIENT, [SPOOF], LISTED, CLIENT),  # a client that is not a proxy cannot name another address
    (PROXY, [CLIENT], LISTED, CLIENT),
    (PROXY, [f"{SPOOF}, {CLIENT}, {OTHER_PROXY}"], LISTED, CLIENT),
    (PROXY, [f"{CLIENT}, garbage, {OTHER_PROXY}"], LISTED, OTHER_PROXY),  # a broken chain stops at the last trusted hop
    (PROXY, [], LISTED, PROXY),
    (f"::ffff:{PROXY}", [CLIENT], LISTED, CLIENT),  # an IPv4 proxy seen over IPv6
])
def test_client_address(peer, header, proxies, seen):
    assert client_address(peer, header, proxies) == seen


@pytest.fixture
def engine_with_users(engine):
    seed_small_platform(engine)
    with engine.begin() as conn:
        add_user(conn, "zhang.wei", "commander", PASSWORD, areas=["320706"])
    return engine


def attempt(server, address: str | None, forwarded: str | None, password: str):
    """A log-in form posted from TCP peer ``address`` with ``X-Forwarded-For: forwarded``."""
    client = nobody(server)
    environ = {"REMOTE_ADDR": address} if address else {}
    page = client.get("/login", environ_base=environ)
    headers = {"Origin": "http://localhost", **({"X-Forwarded-For": forwarded} if forwarded else {})}
    return client.post("/login", data={"csrf": csrf_of(page), "user": "zhang.wei", "password": password}, headers=headers, environ_base=environ)


def server_for(engine, tmp_path, proxies: str | None):
    return create_app(make_settings(tmp_path, url_of(engine), trusted_proxies=proxies)).server


def test_without_a_trusted_proxy_a_spoofed_header_changes_nothing(engine_with_users, tmp_path):
    server = server_for(engine_with_users, tmp_path, None)
    for number in range(FREE_ATTEMPTS):  # a new spoofed address each time: the lock still finds the guesser
        assert attempt(server, SPOOF, f"203.0.113.{number}", "wrong password!!").status_code == 401
    assert attempt(server, SPOOF, "203.0.113.200", PASSWORD).status_code == 429
    assert attempt(server, CLIENT, None, PASSWORD).status_code == 303
    rows = audit_rows(url_of(engine_with_users), action="login_failed")
    assert {row["remote_addr"] for row in rows} == {SPOOF}
    [login] = audit_rows(url_of(engine_with_users), action="login")
    assert login["remote_addr"] == CLIENT


def test_behind_a_trusted_proxy_each_client_has_its_own_address(engine_with_users, tmp_path):
    server = server_for(engine_with_users, tmp_path, PROXY)
    for _ in range(FREE_ATTEMPTS):
        assert attempt(server, PROXY, f"{SPOOF}", "wrong password!!").status_code == 401
    assert attempt(server, PROXY, SPOOF, PASSWORD).status_code == 429  # the guesser, behind the proxy
    assert attempt(server, PROXY, CLIENT, PASSWORD).status_code == 303  # the user behind the same proxy is not locked out
    # Anyone else naming an address is ignored: the peer is what counts.
    assert attempt(server, OTHER_PROXY, CLIENT, "wrong password!!").status_code == 401
    url = url_of(engine_with_users)
    failed = [row["remote_addr"] for row in audit_rows(url, action="login_failed")]
    assert failed.count(SPOOF) == FREE_ATTEMPTS + 1 and OTHER_PROXY in failed and CLIENT not in failed
    [login] = audit_rows(url, action="login")
    assert login["remote_addr"] == CLIENT
