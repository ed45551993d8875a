"""auth_type = "AH" (keepalived's authentication { auth_type AH }, RFC 2338 §5.3.6.3) in the schema."""

from __future__ import annotations

from ipaddress import IPv4Address

from tests.config.test_config import SOURCE, error_of, parse, toml
from vrrpd.config.describe import describe
from vrrpd.config.diff import restart_reason
from vrrpd.protocol.packet import AUTH_AH, AUTH_PASS
from vrrpd.runtime.routerconfig import router_config

PRIMARY = IPv4Address("192.0.2.11")


def test_ah_with_a_password_is_taken_and_reaches_the_router() -> None:
    cfg = parse(toml({"auth_type": '"AH"', "auth_pass": '"s3cret"'})).vrrp_instance[0]
    assert (cfg.auth_type, cfg.auth_pass) == ("AH", "s3cret")
    router = router_config(cfg, PRIMARY)
    # The advert says Auth Type 2 and carries no password: the key never travels.
    assert (router.auth_type, router.auth_data) == (AUTH_AH, bytes(8))
    plain = parse(toml({"auth_pass": '"s3cret"'})).vrrp_instance[0]
    assert plain.auth_type is None and router_config(plain, PRIMARY).auth_type == AUTH_PASS


def test_ah_with_unicast_peers_is_taken_as_keepalived_does() -> None:
    cfg = parse(
        toml({"auth_type": '"AH"', "auth_pass": '"s3cret"', "unicast_peer": '["192.0.2.12"]'})
    ).vrrp_instance[0]
    assert cfg.auth_type == "AH" and cfg.unicast_peer


def test_auth_type_without_a_password_is_refused() -> None:
    message = error_of(toml({"auth_type": '"AH"'}))
    assert message.startswith(f'{SOURCE}: vrrp_instance[0].auth_type = "AH": needs auth_pass'), message


def test_ah_with_version_3_is_refused() -> None:
    message = error_of(toml({"version": "3", "auth_type": '"AH"', "auth_pass": '"s3cret"'}))
    assert "VRRPv3 has no authentication" in message and "s3cret" not in message


def test_unknown_auth_types_are_refused() -> None:
    message = error_of(toml({"auth_type": '"ah"', "auth_pass": '"s3cret"'}))
    assert "vrrp_instance[0].auth_type" in message and "s3cret" not in message


def test_changing_it_restarts_the_instance_and_check_config_names_it() -> None:
    old = parse(toml({"auth_pass": '"s3cret"'})).vrrp_instance[0]
    new = parse(toml({"auth_type": '"AH"', "auth_pass": '"s3cret"'})).vrrp_instance[0]
    assert "protocol 51" in restart_reason(old, new, ("auth_type",))
    text = describe(parse(toml({"auth_type": '"AH"', "auth_pass": '"s3cret"'})))
    assert "auth: yes (AH)" in text and "s3cret" not in text


def test_an_unknown_auth_type_is_shown_but_a_wrong_password_never() -> None:
    message = error_of(toml({"auth_type": '"XX"', "auth_pass": '"s3cret"'}))
    assert 'auth_type = "XX": must be "PASS" or "AH"' in message and "s3cret" not in message, message
    message = error_of(toml({"auth_pass": "[1, 2]"}))
    assert "<hidden>" in message and "[1, 2]" not in message, message
