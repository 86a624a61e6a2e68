"""A2: the EDS factor of sign-in — a signature over the server's nonce, made with the key of a
certificate that chains to a trusted CA and carries the person's IIN (auth2fa/eds.py)."""

import base64
import hashlib
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import ExtendedKeyUsageOID
from django.utils import translation
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from auth2fa.eds import EdsIdentity, load_trusted_cas, verify_eds_signature
from core.errors import ApplicationError
from tests.fakes.pki import (
    BIN,
    IIN,
    NCA_INDIVIDUAL_OID,
    PersonSubject,
    b64,
    make_ca,
    make_gost_like_person,
    make_key,
    make_person,
    make_self_signed_person,
    now,
    pem_bundle,
    resign,
    resign_der,
    sign_cms,
    sign_raw,
    with_check_digit,
    with_wrong_check_digit,
)

NONCE = "kezek-eds-4b1c0e1f8a2d4c6e9f7a3b5d"
FUZZ = hypothesis_settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@pytest.fixture(scope="module")
def pki():
    """A root CA, an intermediate under it, and people with RSA and ECDSA keys."""
    root = make_ca()
    intermediate = make_ca("ҰЛТТЫҚ КУӘЛАНДЫРУШЫ ОРТАЛЫҚ (TEST RSA)", issuer=root, path_length=0)
    return SimpleNamespace(
        root=root,
        intermediate=intermediate,
        rsa=make_person(root),
        ec=make_person(root, key_kind="ec"),
        via_intermediate=make_person(intermediate),
    )


def verify(pki, person, signature, signature_format="raw", *, certificate=None, **kwargs):
    kwargs.setdefault("trusted_cas", [pki.root.cert])
    return verify_eds_signature(
        nonce=kwargs.pop("nonce", NONCE),
        certificate=person.pem if certificate is None else certificate,
        signature=signature,
        signature_format=signature_format,
        **kwargs,
    )


def refusal(call, *, code: str, status: int) -> ApplicationError:
    with pytest.raises(ApplicationError) as caught:
        call()
    assert (caught.value.code, caught.value.status) == (code, status)
    assert str(caught.value.message)
    return caught.value


# --- Signing in -----------------------------------------------------------------------------------


def test_a2_eds_raw_rsa_signature_signs_in(pki):
    identity = verify(pki, pki.rsa, sign_raw(pki.rsa.key, NONCE))

    assert isinstance(identity, EdsIdentity)
    assert identity.iin == IIN
    assert identity.bin == BIN
    assert identity.common_name == "ИВАНОВ ИВАН"
    assert identity.surname == "ИВАНОВ"
    assert identity.given_name == "ИВАН ПЕТРОВИЧ"
    assert identity.organization == 'ТОО "КЕРУЕН ТРАНС"'
    assert identity.email == "ivanov@example.kz"
    assert identity.certificate_serial == format(pki.rsa.cert.serial_number, "x")
    assert identity.certificate_sha256 == hashlib.sha256(pki.rsa.der).hexdigest()
    assert identity.not_after == pki.rsa.cert.not_valid_after_utc
    assert identity.signature_format == "raw"
    assert "ҰЛТТЫҚ" in identity.issuer


def test_a2_eds_identity_is_frozen(pki):
    identity = verify(pki, pki.rsa, sign_raw(pki.rsa.key, NONCE))
    with pytest.raises(AttributeError):
        identity.iin = "000000000000"


def test_a2_eds_raw_ecdsa_signature_signs_in(pki):
    identity = verify(pki, pki.ec, sign_raw(pki.ec.key, NONCE))
    assert identity.iin == IIN


def test_a2_eds_raw_ecdsa_signature_in_plain_r_s_form_signs_in(pki):
    """Web Crypto gives ECDSA signatures as r‖s, not DER."""
    r, s = decode_dss_signature(base64.b64decode(sign_raw(pki.ec.key, NONCE)))
    plain = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    assert verify(pki, pki.ec, base64.b64encode(plain).decode()).iin == IIN


@pytest.mark.parametrize("kind", ["rsa", "ec"])
def test_a2_eds_cms_signature_signs_in(pki, kind):
    person = getattr(pki, kind)
    identity = verify(pki, person, sign_cms(person, NONCE), "cms")
    assert (identity.iin, identity.bin, identity.signature_format) == (IIN, BIN, "cms")


@pytest.mark.parametrize("kind", ["rsa", "ec"])
def test_a2_eds_cms_signer_named_by_subject_key_identifier_signs_in(pki, kind):
    person = getattr(pki, kind)
    assert verify(pki, person, sign_cms(person, NONCE, sid="ski"), "cms").iin == IIN


def test_a2_eds_cms_as_pem_with_encapsulated_nonce_signs_in(pki):
    signature = sign_cms(pki.rsa, NONCE, attached=True, pem=True)
    assert signature.startswith("-----BEGIN CMS-----")
    assert verify(pki, pki.rsa, signature, "cms").iin == IIN


def test_a2_eds_cms_with_rsassa_pss_signs_in(pki):
    assert verify(pki, pki.rsa, sign_cms(pki.rsa, NONCE, pss=True), "cms").iin == IIN


def test_a2_eds_cms_without_separate_certificate_uses_the_embedded_one(pki):
    identity = verify(pki, pki.ec, sign_cms(pki.ec, NONCE), "cms", certificate="")
    assert identity.certificate_sha256 == hashlib.sha256(pki.ec.der).hexdigest()


def test_a2_eds_cms_without_any_certificate_is_refused(pki):
    signature = sign_cms(pki.rsa, NONCE, embed_signer=False)
    refusal(
        lambda: verify(pki, pki.rsa, signature, "cms", certificate=""),
        code="eds_invalid_certificate",
        status=400,
    )


def test_a2_eds_chain_through_an_intermediate_signs_in(pki):
    person = pki.via_intermediate
    # raw: the intermediate follows the person's certificate in the PEM text
    chain_pem = pem_bundle(person, pki.intermediate)
    assert verify(pki, person, sign_raw(person.key, NONCE), certificate=chain_pem).iin == IIN
    # cms: the intermediate travels in the SignedData's certificates
    signature = sign_cms(person, NONCE, certificates=[pki.intermediate])
    assert verify(pki, person, signature, "cms").iin == IIN
    # or the intermediate itself is trusted
    assert (
        verify(pki, person, sign_raw(person.key, NONCE), trusted_cas=[pki.intermediate.cert]).iin
        == IIN
    )


def test_a2_eds_chain_with_a_missing_intermediate_is_untrusted(pki):
    person = pki.via_intermediate
    refusal(
        lambda: verify(pki, person, sign_raw(person.key, NONCE)),
        code="eds_untrusted_certificate",
        status=401,
    )


def test_a2_eds_intermediate_path_length_is_enforced(pki):
    """The intermediate has pathLenConstraint 0: it may not issue another CA."""
    sub_ca = make_ca("SUB CA", issuer=pki.intermediate)
    person = make_person(sub_ca)
    chain = pem_bundle(person, sub_ca, pki.intermediate)
    refusal(
        lambda: verify(pki, person, sign_raw(person.key, NONCE), certificate=chain),
        code="eds_untrusted_certificate",
        status=401,
    )


def _pem_crlf(person):
    return person.pem.replace("\n", "\r\n")


def _pem_one_line(person):
    body = "".join(person.pem.splitlines()[1:-1])
    return f"-----BEGIN CERTIFICATE----- {body} -----END CERTIFICATE-----"


def _der_b64_wrapped(person):
    text = person.der_b64
    return "\n".join(text[i : i + 76] for i in range(0, len(text), 76)) + "\n"


@pytest.mark.parametrize(
    "encode",
    [
        pytest.param(lambda p: p.pem, id="pem"),
        pytest.param(_pem_crlf, id="pem-crlf"),
        pytest.param(_pem_one_line, id="pem-one-line"),
        pytest.param(lambda p: "  " + p.pem + "\n\n", id="pem-padded"),
        pytest.param(lambda p: p.pem.encode(), id="pem-bytes"),
        pytest.param(lambda p: p.der_b64, id="base64-der"),
        pytest.param(_der_b64_wrapped, id="base64-der-wrapped"),
        pytest.param(lambda p: " \t" + p.der_b64[:40] + " " + p.der_b64[40:], id="base64-spaces"),
        pytest.param(lambda p: p.der, id="der-bytes"),
    ],
)
def test_a2_eds_certificate_as_pem_or_base64_der_signs_in(pki, encode):
    identity = verify(pki, pki.rsa, sign_raw(pki.rsa.key, NONCE), certificate=encode(pki.rsa))
    assert identity.iin == IIN


def test_a2_eds_signature_base64_with_line_breaks_signs_in(pki):
    signature = sign_raw(pki.rsa.key, NONCE)
    wrapped = "\n".join(signature[i : i + 64] for i in range(0, len(signature), 64))
    assert verify(pki, pki.rsa, wrapped).iin == IIN


def test_a2_eds_individual_without_bin_signs_in(pki):
    person = make_person(pki.root, PersonSubject(organization=None, bin=None), key_kind="ec")
    identity = verify(pki, person, sign_raw(person.key, NONCE))
    assert (identity.iin, identity.bin, identity.organization) == (IIN, None, None)


def test_a2_eds_nonce_is_signed_as_utf8(pki):
    nonce = "вход-кіру-🔐-" + NONCE
    assert verify(pki, pki.rsa, sign_raw(pki.rsa.key, nonce), nonce=nonce).iin == IIN
    assert verify(pki, pki.ec, sign_cms(pki.ec, nonce), "cms", nonce=nonce).iin == IIN


# --- Certificate validity -------------------------------------------------------------------------


def test_a2_eds_expired_certificate_is_refused(pki):
    person = make_person(
        pki.root, not_before=now() - timedelta(days=400), not_after=now() - timedelta(days=1)
    )
    with translation.override("en"):
        error = refusal(
            lambda: verify(pki, person, sign_raw(person.key, NONCE)),
            code="eds_certificate_expired",
            status=401,
        )
    assert "expired" in str(error.message)


def test_a2_eds_not_yet_valid_certificate_is_refused(pki):
    person = make_person(
        pki.root, not_before=now() + timedelta(days=1), not_after=now() + timedelta(days=365)
    )
    refusal(
        lambda: verify(pki, person, sign_raw(person.key, NONCE)),
        code="eds_certificate_expired",
        status=401,
    )


def test_a2_eds_validity_is_judged_at_the_given_time(pki):
    person = make_person(
        pki.root, not_before=now() - timedelta(days=400), not_after=now() - timedelta(days=10)
    )
    signature = sign_raw(person.key, NONCE)
    assert verify(pki, person, signature, at=now() - timedelta(days=20)).iin == IIN
    naive = (now() - timedelta(days=20)).replace(tzinfo=None)
    assert verify(pki, person, signature, at=naive).iin == IIN
    refusal(lambda: verify(pki, person, signature), code="eds_certificate_expired", status=401)


def test_a2_eds_certificate_of_an_expired_ca_is_untrusted(pki):
    old_root = make_ca(
        "OLD ROOT",
        not_before=now() - timedelta(days=3000),
        not_after=now() - timedelta(days=1),
    )
    person = make_person(old_root)
    refusal(
        lambda: verify(pki, person, sign_raw(person.key, NONCE), trusted_cas=[old_root.cert]),
        code="eds_untrusted_certificate",
        status=401,
    )


# --- Trust ----------------------------------------------------------------------------------------


def test_a2_eds_look_alike_ca_with_the_same_name_is_untrusted(pki):
    """A self-made CA with exactly the trusted root's name and its own key."""
    look_alike = make_ca()  # same default name as pki.root
    assert look_alike.cert.subject == pki.root.cert.subject
    person = make_person(look_alike)
    assert person.cert.issuer == pki.root.cert.subject
    for signature, fmt in ((sign_raw(person.key, NONCE), "raw"), (sign_cms(person, NONCE), "cms")):
        refusal(
            lambda s=signature, f=fmt: verify(pki, person, s, f),
            code="eds_untrusted_certificate",
            status=401,
        )


def test_a2_eds_self_signed_personal_certificate_is_untrusted(pki):
    self_signed = make_self_signed_person()
    assert self_signed.cert.issuer == self_signed.cert.subject
    refusal(
        lambda: verify(pki, self_signed, sign_raw(self_signed.key, NONCE)),
        code="eds_untrusted_certificate",
        status=401,
    )


def test_a2_eds_certificate_issued_by_a_non_ca_certificate_is_untrusted(pki):
    not_a_ca = make_person(pki.root)
    person = make_person(not_a_ca)
    chain = pem_bundle(person, not_a_ca)
    refusal(
        lambda: verify(pki, person, sign_raw(person.key, NONCE), certificate=chain),
        code="eds_untrusted_certificate",
        status=401,
    )


@pytest.mark.parametrize("critical", [False, True])
def test_a2_eds_certificate_policies_are_accepted_even_when_critical(pki, critical):
    policies = x509.CertificatePolicies(
        [x509.PolicyInformation(x509.ObjectIdentifier("1.2.398.3.3.2.4"), None)]
    )
    person = make_person(pki.root, extensions=((policies, critical),))
    assert verify(pki, person, sign_raw(person.key, NONCE)).iin == IIN


def test_a2_eds_unknown_critical_extension_is_untrusted(pki):
    unknown = x509.UnrecognizedExtension(x509.ObjectIdentifier("1.2.398.9.9.9"), b"\x05\x00")
    person = make_person(pki.root, extensions=((unknown, True),))
    refusal(
        lambda: verify(pki, person, sign_raw(person.key, NONCE)),
        code="eds_untrusted_certificate",
        status=401,
    )


def test_a2_eds_email_may_come_from_the_subject_alternative_name(pki):
    san = x509.SubjectAlternativeName([x509.RFC822Name("aigerim@steppe.kz")])
    person = make_person(pki.root, PersonSubject(email=None), extensions=((san, False),))
    assert verify(pki, person, sign_raw(person.key, NONCE)).email == "aigerim@steppe.kz"


def test_a2_eds_certificate_issued_by_a_ca_without_key_cert_sign_is_untrusted(pki):
    signing_only_ca = make_person(pki.root, ca=True, key_usage={"digital_signature": True})
    person = make_person(signing_only_ca)
    chain = pem_bundle(person, signing_only_ca)
    refusal(
        lambda: verify(pki, person, sign_raw(person.key, NONCE), certificate=chain),
        code="eds_untrusted_certificate",
        status=401,
    )


def test_a2_eds_ca_with_a_weak_rsa_key_is_untrusted(pki):
    weak_key = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 (the point)
    weak_root = make_ca("WEAK ROOT", key=weak_key)
    person = make_person(weak_root)
    refusal(
        lambda: verify(pki, person, sign_raw(person.key, NONCE), trusted_cas=[weak_root.cert]),
        code="eds_untrusted_certificate",
        status=401,
    )


def test_a2_eds_trusted_bundle_may_hold_gost_cas(pki):
    gost_ca = make_gost_like_person(make_ca("GOST ROOT"))
    identity = verify(
        pki,
        pki.rsa,
        sign_raw(pki.rsa.key, NONCE),
        trusted_cas=[gost_ca.cert, pki.root.cert],
    )
    assert identity.iin == IIN


# --- Signatures -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["rsa", "ec"])
def test_a2_eds_signature_by_another_key_is_refused(pki, kind):
    person = getattr(pki, kind)
    other = make_key(kind)
    refusal(
        lambda: verify(pki, person, sign_raw(other, NONCE)),
        code="eds_invalid_signature",
        status=401,
    )
    refusal(
        lambda: verify(pki, person, sign_cms(person, NONCE, signing_key=other), "cms"),
        code="eds_invalid_signature",
        status=401,
    )


@pytest.mark.parametrize("kind", ["rsa", "ec"])
def test_a2_eds_signature_over_another_nonce_is_refused(pki, kind):
    person = getattr(pki, kind)
    refusal(
        lambda: verify(pki, person, sign_raw(person.key, NONCE + "x")),
        code="eds_invalid_signature",
        status=401,
    )
    refusal(
        lambda: verify(pki, person, sign_cms(person, "another nonce"), "cms"),
        code="eds_invalid_signature",
        status=401,
    )


def test_a2_eds_cms_with_a_tampered_message_digest_is_refused(pki):
    tampered = sign_cms(pki.rsa, NONCE, tamper_digest_after_signing=True)
    refusal(lambda: verify(pki, pki.rsa, tampered, "cms"), code="eds_invalid_signature", status=401)


def test_a2_eds_cms_whose_digest_is_of_another_text_is_refused(pki):
    """Validly signed attributes, but the message digest is not the nonce's."""
    signature = sign_cms(pki.ec, NONCE, message_digest=hashlib.sha256(b"other").digest())
    refusal(lambda: verify(pki, pki.ec, signature, "cms"), code="eds_invalid_signature", status=401)


def test_a2_eds_cms_with_other_encapsulated_content_is_refused(pki):
    signature = sign_cms(pki.rsa, NONCE, attached=True, content=b"another nonce")
    refusal(
        lambda: verify(pki, pki.rsa, signature, "cms"), code="eds_invalid_signature", status=401
    )


def test_a2_eds_cms_with_a_content_type_other_than_data_is_refused(pki):
    signature = sign_cms(pki.rsa, NONCE, content_type="signed_data")
    refusal(
        lambda: verify(pki, pki.rsa, signature, "cms"), code="eds_invalid_signature", status=401
    )


def test_a2_eds_cms_whose_signer_is_not_the_given_certificate_is_refused(pki):
    """Signed (validly) by someone else: the request's certificate wins and must be the signer."""
    someone_else = make_person(pki.root)
    signature = sign_cms(someone_else, NONCE)
    refusal(
        lambda: verify(pki, pki.rsa, signature, "cms"), code="eds_invalid_signature", status=401
    )


def test_a2_eds_cms_naming_the_given_certificate_but_signed_by_another_key_is_refused(pki):
    intruder = make_person(pki.root)
    signature = sign_cms(intruder, NONCE, sid_cert=pki.rsa, signing_key=intruder.key)
    refusal(
        lambda: verify(pki, pki.rsa, signature, "cms"), code="eds_invalid_signature", status=401
    )


def test_a2_eds_raw_signature_is_not_accepted_as_cms_and_back(pki):
    refusal(
        lambda: verify(pki, pki.rsa, sign_raw(pki.rsa.key, NONCE), "cms"),
        code="eds_invalid_signature",
        status=400,
    )
    refusal(
        lambda: verify(pki, pki.rsa, sign_cms(pki.rsa, NONCE), "raw"),
        code="eds_invalid_signature",
        status=401,
    )


# --- The person's certificate ---------------------------------------------------------------------


def test_a2_eds_certificate_without_iin_is_refused(pki):
    person = make_person(pki.root, PersonSubject(iin=None))
    refusal(lambda: verify(pki, person, sign_raw(person.key, NONCE)), code="eds_no_iin", status=401)


@pytest.mark.parametrize(
    "serial",
    [
        "900101300017",  # digits without the "IIN" prefix
        "IIN90010130001",  # 11 digits
        "BIN120340012345",  # a BIN where the IIN belongs
    ],
)
def test_a2_eds_certificate_with_malformed_serial_number_has_no_iin(pki, serial):
    person = make_person(pki.root, PersonSubject(serial_number=serial))
    refusal(lambda: verify(pki, person, sign_raw(person.key, NONCE)), code="eds_no_iin", status=401)


def test_a2_eds_iin_with_a_bad_check_digit_is_refused(pki):
    bad = with_wrong_check_digit("90010130001")
    person = make_person(pki.root, PersonSubject(iin=bad))
    refusal(lambda: verify(pki, person, sign_raw(person.key, NONCE)), code="eds_no_iin", status=401)


def test_a2_eds_bin_with_a_bad_check_digit_is_refused(pki):
    person = make_person(pki.root, PersonSubject(bin=with_wrong_check_digit("12034001234")))
    refusal(
        lambda: verify(pki, person, sign_raw(person.key, NONCE)),
        code="eds_invalid_bin",
        status=401,
    )


def test_a2_eds_other_valid_iin_is_read(pki):
    iin = with_check_digit("85051230011")
    person = make_person(pki.root, PersonSubject(iin=iin))
    assert verify(pki, person, sign_raw(person.key, NONCE)).iin == iin


def test_a2_eds_key_usage_without_digital_signature_is_refused(pki):
    person = make_person(pki.root, key_usage={"key_encipherment": True})
    refusal(
        lambda: verify(pki, person, sign_raw(person.key, NONCE)),
        code="eds_key_usage",
        status=401,
    )


@pytest.mark.parametrize(
    "key_usage",
    [
        pytest.param({"content_commitment": True}, id="non-repudiation"),
        pytest.param(None, id="no-key-usage-extension"),
    ],
)
def test_a2_eds_key_usage_non_repudiation_or_absent_is_accepted(pki, key_usage):
    person = make_person(pki.root, key_usage=key_usage)
    assert verify(pki, person, sign_raw(person.key, NONCE)).iin == IIN


@pytest.mark.parametrize(
    "purposes",
    [
        pytest.param((ExtendedKeyUsageOID.CLIENT_AUTH,), id="client-auth"),
        pytest.param((ExtendedKeyUsageOID.EMAIL_PROTECTION,), id="email-protection"),
        pytest.param((NCA_INDIVIDUAL_OID,), id="nca-individual"),
        pytest.param(None, id="no-eku-extension"),
    ],
)
def test_a2_eds_extended_key_usage_for_signing_in_is_accepted(pki, purposes):
    person = make_person(pki.root, extended_key_usage=purposes)
    assert verify(pki, person, sign_raw(person.key, NONCE)).iin == IIN


def test_a2_eds_extended_key_usage_for_servers_only_is_refused(pki):
    person = make_person(pki.root, extended_key_usage=(ExtendedKeyUsageOID.SERVER_AUTH,))
    refusal(
        lambda: verify(pki, person, sign_raw(person.key, NONCE)),
        code="eds_key_usage",
        status=401,
    )


def test_a2_eds_ca_certificate_cannot_sign_in(pki):
    person = make_person(pki.root, ca=True)
    refusal(
        lambda: verify(pki, person, sign_raw(person.key, NONCE)),
        code="eds_key_usage",
        status=401,
    )


@pytest.mark.parametrize("key_oid", ["1.2.398.3.10.1.1.2.3.1", "1.2.643.7.1.1.1.1"])
def test_a2_eds_gost_certificate_is_refused_as_unsupported(pki, key_oid):
    person = make_gost_like_person(pki.root, key_oid)
    with translation.override("en"):
        error = refusal(
            lambda: verify(pki, person, sign_raw(person.key, NONCE)),
            code="eds_unsupported_key",
            status=400,
        )
    assert "GOST 34.10" in str(error.message)
    assert "RSA or ECDSA" in str(error.message)


def test_a2_eds_short_rsa_key_is_refused_as_unsupported(pki):
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 (the point)
    person = make_person(pki.root, key=weak)
    refusal(
        lambda: verify(pki, person, sign_raw(weak, NONCE)), code="eds_unsupported_key", status=400
    )


def test_a2_eds_uncommon_curve_is_refused_as_unsupported(pki):
    key = ec.generate_private_key(ec.SECP256K1())
    person = make_person(pki.root, key=key)
    refusal(
        lambda: verify(pki, person, sign_raw(key, NONCE)), code="eds_unsupported_key", status=400
    )


# --- Malformed requests ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "certificate",
    [
        "not a certificate",
        "AAAA",
        "%%%%",
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----",
        "-----BEGIN CERTIFICATE-----\n!!not base64!!\n-----END CERTIFICATE-----",
        "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----",
        base64.b64encode(b"\x30\x03\x02\x01\x00").decode(),
        b"\x30\x82\xff\xff",
        b"\xff\xfe binary",
        "Ж" * 10,
        "A" * 200_000,
    ],
)
def test_a2_eds_garbage_certificate_is_a_bad_request(pki, certificate):
    error = refusal(
        lambda: verify(pki, pki.rsa, sign_raw(pki.rsa.key, NONCE), certificate=certificate),
        code="eds_invalid_certificate",
        status=400,
    )
    assert "certificate" in error.fields


def test_a2_eds_certificate_with_an_unknown_x509_version_is_a_bad_request(pki):
    def version_5(tbs):
        tbs["version"] = 4  # v5: no such thing

    person = make_person(pki.root)
    der = resign_der(person, pki.root, version_5)
    refusal(
        lambda: verify(pki, person, sign_raw(person.key, NONCE), certificate=b64(der)),
        code="eds_invalid_certificate",
        status=400,
    )


def test_a2_eds_certificate_with_a_duplicated_extension_is_a_bad_request(pki):
    def duplicate_first_extension(tbs):
        extensions = list(tbs["extensions"])
        tbs["extensions"] = [*extensions, extensions[0]]

    person = resign(make_person(pki.root), pki.root, duplicate_first_extension)
    refusal(
        lambda: verify(pki, person, sign_raw(person.key, NONCE)),
        code="eds_invalid_certificate",
        status=400,
    )
    # the same certificate inside a CMS makes the signature unreadable
    signature = sign_cms(pki.rsa, NONCE, certificates=[person])
    refusal(
        lambda: verify(pki, pki.rsa, signature, "cms", certificate=""),
        code="eds_invalid_signature",
        status=400,
    )


def test_a2_eds_certificate_is_required_for_raw_signatures(pki):
    refusal(
        lambda: verify(pki, pki.rsa, sign_raw(pki.rsa.key, NONCE), certificate=""),
        code="eds_invalid_certificate",
        status=400,
    )


@pytest.mark.parametrize("fmt", ["raw", "cms"])
@pytest.mark.parametrize(
    "signature",
    [
        "",
        "   ",
        "%%% not base64 %%%",
        "-----BEGIN CMS-----\n%%%\n-----END CMS-----",
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----",
        base64.b64encode(b"\x30\x03\x02\x01\x00").decode(),
        "Ж",
    ],
)
def test_a2_eds_garbage_signature_is_a_bad_request(pki, fmt, signature):
    with pytest.raises(ApplicationError) as caught:
        verify(pki, pki.rsa, signature, fmt)
    assert caught.value.code == "eds_invalid_signature"
    # a raw signature of the wrong length is decodable, just wrong: 401; the rest cannot be read
    assert caught.value.status in (400, 401)
    if caught.value.status == 400:
        assert "signature" in caught.value.fields


def test_a2_eds_unknown_signature_format_is_a_bad_request(pki):
    error = refusal(
        lambda: verify(pki, pki.rsa, sign_raw(pki.rsa.key, NONCE), "xmldsig"),
        code="eds_invalid_signature",
        status=400,
    )
    assert "signature_format" in error.fields


@pytest.mark.parametrize("nonce", ["", "\ud800", "x" * 5000])
def test_a2_eds_missing_or_unusable_nonce_is_a_bad_request(pki, nonce):
    refusal(
        lambda: verify(pki, pki.rsa, sign_raw(pki.rsa.key, NONCE), nonce=nonce),
        code="eds_invalid_nonce",
        status=400,
    )


# --- Configuration --------------------------------------------------------------------------------


def test_a2_eds_without_trusted_cas_every_sign_in_is_refused(pki, settings):
    settings.EDS_TRUSTED_CA_FILE = ""
    signature = sign_raw(pki.rsa.key, NONCE)
    for trusted_cas in ([], None):
        refusal(
            lambda t=trusted_cas: verify(pki, pki.rsa, signature, trusted_cas=t),
            code="eds_not_configured",
            status=503,
        )


def test_a2_eds_trusted_cas_come_from_the_configured_bundle(pki, settings, tmp_path):
    bundle = tmp_path / "nca.pem"
    bundle.write_text(pem_bundle(make_ca("OTHER ROOT"), pki.root))
    settings.EDS_TRUSTED_CA_FILE = str(bundle)

    identity = verify(pki, pki.ec, sign_raw(pki.ec.key, NONCE), trusted_cas=None)
    assert identity.iin == IIN

    # a changed file is read again
    bundle.write_text(make_ca("ONLY THIS ROOT").pem + "\n")
    refusal(
        lambda: verify(pki, pki.ec, sign_raw(pki.ec.key, NONCE), trusted_cas=None),
        code="eds_untrusted_certificate",
        status=401,
    )


def test_a2_eds_relative_trusted_ca_file_is_under_base_dir(pki, settings, tmp_path):
    (tmp_path / "nca.pem").write_text(pki.root.pem)
    settings.BASE_DIR = tmp_path
    settings.EDS_TRUSTED_CA_FILE = "nca.pem"
    assert verify(pki, pki.rsa, sign_raw(pki.rsa.key, NONCE), trusted_cas=None).iin == IIN


def test_a2_eds_load_trusted_cas_reads_pem_bundles_and_der(pki, tmp_path):
    pem = tmp_path / "bundle.pem"
    pem.write_text(pem_bundle(pki.root, pki.intermediate))
    assert load_trusted_cas(pem) == [pki.root.cert, pki.intermediate.cert]
    der = tmp_path / "root.cer"
    der.write_bytes(pki.root.cert.public_bytes(serialization.Encoding.DER))
    assert load_trusted_cas(str(der)) == [pki.root.cert]


@pytest.mark.parametrize("content", [None, b"", b"not a certificate", b"-----BEGIN CERTIFICATE-"])
def test_a2_eds_unreadable_trusted_ca_file_means_not_configured(pki, settings, tmp_path, content):
    path = tmp_path / "nca.pem"
    if content is not None:
        path.write_bytes(content)
    settings.EDS_TRUSTED_CA_FILE = str(path)
    refusal(
        lambda: verify(pki, pki.rsa, sign_raw(pki.rsa.key, NONCE), trusted_cas=None),
        code="eds_not_configured",
        status=503,
    )


# --- Nothing but ApplicationError escapes ---------------------------------------------------------


def test_a2_eds_unforeseen_failure_is_a_bad_request_not_a_server_error(pki, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("a parser bug")

    monkeypatch.setattr("auth2fa.eds._identity", broken)
    refusal(
        lambda: verify(pki, pki.rsa, sign_raw(pki.rsa.key, NONCE)),
        code="eds_invalid_signature",
        status=400,
    )
    assert "EDS verification failed unexpectedly" in caplog.text


_text = st.one_of(
    st.text(max_size=300),
    st.binary(max_size=300).map(lambda b: base64.b64encode(b).decode()),
    st.binary(max_size=300).map(
        lambda b: (
            "-----BEGIN CERTIFICATE-----\n"
            + base64.b64encode(b).decode()
            + "\n-----END CERTIFICATE-----\n"
        )
    ),
    st.binary(max_size=300).map(
        lambda b: "-----BEGIN CMS-----\n" + base64.b64encode(b).decode() + "\n-----END CMS-----"
    ),
)


@FUZZ
@given(
    nonce=st.text(max_size=80),
    certificate=st.one_of(_text, st.binary(max_size=300), st.none()),
    signature=st.one_of(_text, st.binary(max_size=300)),
    signature_format=st.sampled_from(["raw", "cms", "", "RAW", "pkcs7"]),
)
def test_a2_eds_random_input_only_ever_raises_application_error(
    pki, nonce, certificate, signature, signature_format
):
    with pytest.raises(ApplicationError):
        verify_eds_signature(
            nonce=nonce,
            certificate=certificate,
            signature=signature,
            signature_format=signature_format,
            trusted_cas=[pki.root.cert],
        )


def _flip(data: bytes, positions: list[int], xor: int) -> bytes:
    mutable = bytearray(data)
    for position in positions:
        mutable[position % len(mutable)] ^= xor
    return bytes(mutable)


@FUZZ
@given(
    positions=st.lists(st.integers(min_value=0, max_value=10_000), min_size=1, max_size=4),
    xor=st.integers(min_value=1, max_value=255),
    target=st.sampled_from(["certificate", "cms", "raw"]),
)
def test_a2_eds_corrupted_certificates_and_signatures_never_crash(pki, positions, xor, target):
    """Valid inputs with a few bytes flipped: refused with ApplicationError (or, when the flipped
    bytes are outside anything signed or checked, still accepted) — never another exception."""
    person = pki.ec
    certificate = person.der
    fmt = "cms" if target == "cms" else "raw"
    signature = base64.b64decode(
        sign_cms(person, NONCE) if fmt == "cms" else sign_raw(person.key, NONCE)
    )
    if target == "certificate":
        certificate = _flip(certificate, positions, xor)
    else:
        signature = _flip(signature, positions, xor)
    try:
        identity = verify_eds_signature(
            nonce=NONCE,
            certificate=base64.b64encode(certificate).decode(),
            signature=base64.b64encode(signature).decode(),
            signature_format=fmt,
            trusted_cas=[pki.root.cert],
            at=datetime.now(UTC),
        )
    except ApplicationError as error:
        assert error.status in (400, 401)
    else:
        assert identity.iin == IIN
