"""The verifier of docs/architecture.md#http-interface, one test per failure mode, with an injected clock."""

import pytest

from app.chatwoot.signing import VerificationError, WebhookVerifier, sign

NOW = 1_800_000_000
BODY = b'{"event":"message_created","id":1}'


def verifier(**kw):
    kw.setdefault("clock", lambda: NOW)
    return WebhookVerifier(**kw)


def signed(secret="s3cret", ts=NOW, body=BODY):
    return {"x-chatwoot-timestamp": str(ts), "x-chatwoot-signature": sign(secret, ts, body)}


def test_valid_signature():
    verifier(secrets=["s3cret"]).verify(BODY, signed())


def test_signature_is_hmac_of_timestamp_dot_raw_body():
    # Known answer: HMAC-SHA256("s3cret", "1800000000.{body}") computed independently.
    import hashlib
    import hmac

    expected = hmac.new(b"s3cret", b"1800000000." + BODY, hashlib.sha256).hexdigest()
    assert sign("s3cret", NOW, BODY) == f"sha256={expected}"


def test_missing_signature():
    with pytest.raises(VerificationError) as err:
        verifier(secrets=["s3cret"]).verify(BODY, {"x-chatwoot-timestamp": str(NOW)})
    assert err.value.reason == "signature or timestamp header missing"


def test_missing_timestamp():
    headers = signed()
    del headers["x-chatwoot-timestamp"]
    with pytest.raises(VerificationError):
        verifier(secrets=["s3cret"]).verify(BODY, headers)


def test_stale_timestamp():
    with pytest.raises(VerificationError) as err:
        verifier(secrets=["s3cret"]).verify(BODY, signed(ts=NOW - 301))
    assert err.value.reason == "timestamp too old"


def test_future_timestamp():
    with pytest.raises(VerificationError) as err:
        verifier(secrets=["s3cret"]).verify(BODY, signed(ts=NOW + 301))
    assert err.value.reason == "timestamp in the future"


def test_timestamp_at_the_edge_of_the_window_passes():
    verifier(secrets=["s3cret"]).verify(BODY, signed(ts=NOW - 300))
    verifier(secrets=["s3cret"]).verify(BODY, signed(ts=NOW + 300))


def test_non_integer_timestamp():
    headers = signed()
    headers["x-chatwoot-timestamp"] = "yesterday"
    with pytest.raises(VerificationError):
        verifier(secrets=["s3cret"]).verify(BODY, headers)


def test_tampered_body():
    with pytest.raises(VerificationError) as err:
        verifier(secrets=["s3cret"]).verify(BODY.replace(b"1", b"2"), signed())
    assert err.value.reason == "signature mismatch"


def test_body_alone_signed_is_rejected():
    # The common mistake: HMAC of the body without the timestamp prefix.
    import hashlib
    import hmac

    wrong = "sha256=" + hmac.new(b"s3cret", BODY, hashlib.sha256).hexdigest()
    with pytest.raises(VerificationError):
        verifier(secrets=["s3cret"]).verify(
            BODY, {"x-chatwoot-timestamp": str(NOW), "x-chatwoot-signature": wrong}
        )


def test_wrong_secret():
    with pytest.raises(VerificationError):
        verifier(secrets=["s3cret"]).verify(BODY, signed(secret="other"))


def test_rotated_secret():
    both = verifier(secrets=["new-secret", "old-secret"])
    both.verify(BODY, signed(secret="old-secret"))
    both.verify(BODY, signed(secret="new-secret"))
    with pytest.raises(VerificationError):
        verifier(secrets=["new-secret"]).verify(BODY, signed(secret="old-secret"))


def test_signature_without_sha256_scheme():
    headers = signed()
    headers["x-chatwoot-signature"] = headers["x-chatwoot-signature"].removeprefix("sha256=")
    with pytest.raises(VerificationError):
        verifier(secrets=["s3cret"]).verify(BODY, headers)


def test_token_in_bearer_header():
    verifier(token="tkn").verify(BODY, {"authorization": "Bearer tkn"})


def test_token_in_x_webhook_token_header():
    verifier(token="tkn").verify(BODY, {"x-webhook-token": "tkn"})


def test_token_in_query():
    verifier(token="tkn").verify(BODY, {}, query_token="tkn")


def test_token_missing():
    with pytest.raises(VerificationError) as err:
        verifier(token="tkn").verify(BODY, {})
    assert err.value.reason == "token missing"


def test_wrong_token():
    with pytest.raises(VerificationError):
        verifier(token="tkn").verify(BODY, {"authorization": "Bearer nope"}, query_token="nope2")


def test_both_mechanisms_configured_both_must_pass():
    both = verifier(secrets=["s3cret"], token="tkn")
    both.verify(BODY, signed(), query_token="tkn")
    with pytest.raises(VerificationError):
        both.verify(BODY, signed())  # signature alone
    with pytest.raises(VerificationError):
        both.verify(BODY, {}, query_token="tkn")  # token alone
    assert both.mechanisms == ("signature", "token")


def test_no_mechanism_configured_refuses_construction():
    with pytest.raises(ValueError):
        WebhookVerifier()


def test_empty_secret_refused():
    with pytest.raises(ValueError):
        WebhookVerifier(secrets=[""])


def test_unauthenticated_only_when_explicitly_allowed():
    WebhookVerifier(allow_unauthenticated=True).verify(BODY, {})


def test_error_text_is_generic_and_never_echoes_the_secret():
    with pytest.raises(VerificationError) as err:
        verifier(secrets=["s3cret"], token="tkn").verify(BODY, signed(secret="x"), query_token="tkn")
    assert str(err.value) == "unauthorized"
    assert "s3cret" not in repr(err.value) and "tkn" not in repr(err.value)


# Sanic decodes header bytes with surrogateescape: a byte >= 0x80 arrives as a lone surrogate,
# which used to raise UnicodeEncodeError (a 500 with a traceback) before any credential was checked.
RAW_BYTE = b"\xff".decode("utf-8", "surrogateescape")


@pytest.mark.parametrize("bad", [f"sha256={RAW_BYTE}", "sha256=ab" + RAW_BYTE, "sha256=é" + "0" * 63, RAW_BYTE])
def test_non_ascii_byte_in_signature_is_refused_not_an_error(bad):
    headers = signed()
    headers["x-chatwoot-signature"] = bad
    with pytest.raises(VerificationError) as err:
        verifier(secrets=["s3cret"]).verify(BODY, headers)
    assert err.value.reason in ("signature is not sha256=<hex>", "signature mismatch")


@pytest.mark.parametrize("bad", ["١٨٠٠٠٠٠٠٠٠", "１８００００００００", "²", str(NOW) + RAW_BYTE, "9" * 5000, "-5"])
def test_timestamp_other_than_ascii_digits_is_refused(bad):
    headers = signed()
    headers["x-chatwoot-timestamp"] = bad
    with pytest.raises(VerificationError) as err:
        verifier(secrets=["s3cret"]).verify(BODY, headers)
    assert err.value.reason == "timestamp is not an integer"


@pytest.mark.parametrize("place", ["authorization", "x-webhook-token", "query"])
def test_non_ascii_byte_in_a_token_is_refused_not_an_error(place):
    value = "tkn" + RAW_BYTE
    headers = {"authorization": f"Bearer {value}"} if place == "authorization" else {place: value}
    with pytest.raises(VerificationError):
        verifier(token="tkn").verify(BODY, {} if place == "query" else headers,
                                     query_token=value if place == "query" else None)


def test_utf8_token_sent_as_raw_header_bytes_matches():
    # "tökén" sent as UTF-8 bytes in a header reaches us surrogate-escaped; it is the same token.
    as_sanic_sees_it = "tökén".encode().decode("ascii", "surrogateescape")
    verifier(token="tökén").verify(BODY, {"x-webhook-token": as_sanic_sees_it})


def test_rotation_every_secret_is_tried():
    both = verifier(secrets=["old-secret", "new-secret"])
    both.verify(BODY, signed(secret="old-secret"))
    both.verify(BODY, signed(secret="new-secret"))
    with pytest.raises(VerificationError):
        both.verify(BODY, signed(secret="other-secret"))
