"""EDS sign-in: verify that a person signed the server's nonce with a trusted certificate (A2).

The first factor of sign-in (SPEC A2, API.md "Sign-in") is an electronic digital signature: the
server hands out a nonce, the person signs it with the key of an X.509 certificate issued by a
trusted certification authority (in Kazakhstan, the National Certification Authority, NCA), and
sends the certificate and the signature back. `verify_eds_signature` checks all of it and returns
who signed (`EdsIdentity`: IIN, BIN, names, certificate facts). It is a pure library function:
checking that the nonce was issued, is fresh and is used once is the caller's job.

Supported
- Certificate: one X.509 certificate as PEM or base64 DER (whitespace anywhere is ignored). A PEM
  text may carry more certificates after the first: they are offered as intermediate CAs.
- Keys: RSA of at least 2048 bits, ECDSA on P-256, P-384 or P-521.
- `raw` signatures: RSA PKCS#1 v1.5 or ECDSA with SHA-256 over the UTF-8 bytes of the nonce,
  base64. An ECDSA signature may be DER (X9.62) or the plain r‖s form that Web Crypto produces.
- `cms` signatures: a CMS / CAdES-BES SignedData (base64 DER, or PEM "CMS" / "PKCS7"), detached
  or with encapsulated content equal to the nonce. It needs signed attributes: `content_type` =
  data and `message_digest` = hash of the nonce (SHA-256, SHA-384 or SHA-512); the signature over
  them may be RSA PKCS#1 v1.5, RSASSA-PSS or ECDSA. A SignerInfo must name the certificate given
  in the request (issuer and serial number, or subject key identifier); when the request has no
  certificate, the signer's certificate embedded in the CMS is used. Other certificates in the
  CMS are offered as intermediate CAs.
- Certificate checks, at `at` (default now): validity dates; not a CA certificate; KeyUsage, when
  present, allows digitalSignature or nonRepudiation; ExtendedKeyUsage, when present, allows
  clientAuth, emailProtection, anyExtendedKeyUsage or an NCA certificate-type purpose
  (1.2.398.3.3.4.*); a path to one of the trusted CAs (see `_check_chain`); the subject's
  `serialNumber` "IIN" + 12 digits with a valid check digit; an `OU` "BIN" + 12 digits, when
  present, must have a valid check digit too.

Out of scope
- GOST keys (GOST 34.310 / 34.10, NCA's "GOST" certificates, and the Russian GOST R 34.10): the
  `cryptography` library has no GOST; such a certificate is refused with `eds_unsupported_key`,
  asking for an RSA or ECDSA certificate. NCA issues RSA certificates to everyone who asks.
- Revocation (CRL / OCSP) and CAdES timestamps are not checked.

Trusted CAs come from the PEM (or single DER) file at `settings.EDS_TRUSTED_CA_FILE`, or from
the `trusted_cas` argument. With none, every EDS sign-in is refused (`eds_not_configured`).

Refusals raise `core.errors.ApplicationError` with one of these codes (status):
`eds_invalid_nonce` (400), `eds_invalid_certificate` (400: unreadable), `eds_invalid_signature`
(400 when unreadable, 401 when it does not verify or names another signer),
`eds_unsupported_key` (400), `eds_certificate_expired` (401, also "not yet valid"),
`eds_untrusted_certificate` (401), `eds_key_usage` (401), `eds_no_iin` (401: missing or invalid
IIN), `eds_invalid_bin` (401), `eds_not_configured` (503). Nothing else escapes.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from asn1crypto import cms as asn1_cms
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    PolicyBuilder,
    Store,
    VerificationError,
)
from django.conf import settings
from django.utils.translation import gettext as _

from carriers.validators import is_valid_iin_bin
from core.errors import ApplicationError

logger = logging.getLogger(__name__)

SIGNATURE_FORMATS = ("raw", "cms")

# Inputs larger than these are not certificates or signatures a person sends.
MAX_NONCE_CHARS = 1024
MAX_CERTIFICATE_CHARS = 64 * 1024
MAX_SIGNATURE_CHARS = 256 * 1024
MAX_PEM_BLOCKS = 8
MAX_CHAIN_DEPTH = 5
MIN_RSA_BITS = 2048
SUPPORTED_CURVES = (ec.SECP256R1, ec.SECP384R1, ec.SECP521R1)

# GOST public key algorithms: Kazakhstan's (GOST 34.310-2004, GOST 34.10-2015) and Russia's.
GOST_KEY_OID_PREFIXES = ("1.2.398.3.10.", "1.2.643.")
# NCA's certificate-type purposes (individual 1.2.398.3.3.4.1.1, legal entity …4.1.2 and below).
NCA_PURPOSE_OID_PREFIX = "1.2.398.3.3.4."
ACCEPTED_EKUS = frozenset(
    {
        ExtendedKeyUsageOID.CLIENT_AUTH,
        ExtendedKeyUsageOID.EMAIL_PROTECTION,
        ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE,
    }
)

_IIN_RE = re.compile(r"IIN(\d{12})", flags=re.ASCII)
_BIN_RE = re.compile(r"BIN(\d{12})", flags=re.ASCII)
_PEM_RE = re.compile(
    r"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END \1-----", flags=re.DOTALL | re.IGNORECASE
)
_WHITESPACE_RE = re.compile(r"\s+")
_URLSAFE_TO_STANDARD = str.maketrans("-_", "+/")
_CERTIFICATE_PEM_LABELS = frozenset({"CERTIFICATE", "X509 CERTIFICATE"})
_CMS_PEM_LABELS = frozenset({"CMS", "PKCS7", "PKCS #7 SIGNED DATA"})

# What `cryptography` raises for a certificate it cannot read (some fields are parsed lazily).
_CERTIFICATE_ERRORS = (
    ValueError,
    TypeError,
    UnsupportedAlgorithm,
    x509.InvalidVersion,
    x509.DuplicateExtension,
    x509.UnsupportedGeneralNameType,
)

_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


@dataclass(frozen=True)
class EdsIdentity:
    """Who signed: taken from a certificate that passed every check."""

    iin: str
    bin: str | None
    common_name: str | None
    surname: str | None
    given_name: str | None
    organization: str | None
    email: str | None
    certificate_serial: str  # lower-case hex, as NCA prints it
    certificate_sha256: str  # lower-case hex of SHA-256 over the certificate's DER
    issuer: str  # RFC 4514 string
    not_before: datetime
    not_after: datetime
    signature_format: str


# --- Refusals -------------------------------------------------------------------------------------


def _malformed(code: str, message: str, field: str) -> ApplicationError:
    return ApplicationError(code, message, status=400, fields={field: [message]})


def _refused(code: str, message: str) -> ApplicationError:
    return ApplicationError(code, message, status=401)


def _unreadable_certificate() -> ApplicationError:
    return _malformed(
        "eds_invalid_certificate",
        _("The certificate could not be read: send one X.509 certificate as PEM or base64 DER."),
        "certificate",
    )


def _unreadable_signature() -> ApplicationError:
    return _malformed(
        "eds_invalid_signature",
        _("The signature could not be read: send it base64-encoded in the chosen format."),
        "signature",
    )


def _bad_signature() -> ApplicationError:
    return _refused(
        "eds_invalid_signature",
        _("The signature does not match the certificate and the sign-in challenge."),
    )


def _not_configured() -> ApplicationError:
    return ApplicationError(
        "eds_not_configured",
        _(
            "Sign-in with an electronic digital signature is not available: no trusted "
            "certification authority is configured. Use another way to sign in."
        ),
        status=503,
    )


# --- Trusted CAs ----------------------------------------------------------------------------------


def load_trusted_cas(path: str | Path) -> list[x509.Certificate]:
    """The CA certificates in a PEM bundle (or one DER certificate) at `path`.

    An unreadable file or one without certificates is a configuration error: `eds_not_configured`.
    """
    try:
        data = Path(path).read_bytes()
    except OSError:
        logger.error("EDS trusted CA file %s cannot be read", path)
        raise _not_configured() from None
    try:
        if b"-----BEGIN" in data:
            cas = x509.load_pem_x509_certificates(data)
        else:
            cas = [x509.load_der_x509_certificate(data)]
    except _CERTIFICATE_ERRORS:
        logger.error("EDS trusted CA file %s holds no readable certificate", path)
        raise _not_configured() from None
    return cas


@lru_cache(maxsize=4)
def _cached_trusted_cas(path: str, mtime_ns: int, size: int) -> tuple[x509.Certificate, ...]:
    return tuple(load_trusted_cas(path))


def configured_trusted_cas() -> list[x509.Certificate]:
    """The CAs of `settings.EDS_TRUSTED_CA_FILE` (relative paths are from BASE_DIR), cached until
    the file changes; an empty list when the setting is empty."""
    setting = getattr(settings, "EDS_TRUSTED_CA_FILE", "") or ""
    if not setting:
        return []
    path = Path(setting)
    if not path.is_absolute():
        path = Path(settings.BASE_DIR) / path
    try:
        stat = path.stat()
    except OSError:
        logger.error("EDS trusted CA file %s does not exist", path)
        raise _not_configured() from None
    return list(_cached_trusted_cas(str(path), stat.st_mtime_ns, stat.st_size))


# --- Decoding -------------------------------------------------------------------------------------


def _b64decode(text: str) -> bytes:
    """Strict base64 (standard or URL-safe alphabet), whitespace ignored; ValueError otherwise."""
    compact = _WHITESPACE_RE.sub("", text)
    if not compact:
        raise ValueError("empty")
    if "-" in compact or "_" in compact:
        compact = compact.translate(_URLSAFE_TO_STANDARD) + "=" * (-len(compact) % 4)
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not base64") from exc


def _pem_blocks(text: str) -> list[tuple[str, bytes]]:
    """(label, DER) of every PEM block in `text`; ValueError when a block's body is not base64."""
    if text.count("-----BEGIN") > MAX_PEM_BLOCKS:
        raise ValueError("too many PEM blocks")
    return [
        (" ".join(label.upper().split()), _b64decode(body)) for label, body in _PEM_RE.findall(text)
    ]


def _as_text(value: str | bytes, limit: int, unreadable: Callable[[], ApplicationError]) -> str:
    if isinstance(value, bytes):
        try:
            value = value.decode("ascii")
        except UnicodeDecodeError:
            raise unreadable() from None
    if not isinstance(value, str) or len(value) > limit:
        raise unreadable()
    return value


def _load_certificate(der: bytes) -> x509.Certificate:
    """Parse a certificate and touch every field we use, so that lazy parsing fails here."""
    cert = x509.load_der_x509_certificate(der)
    _ = (
        cert.subject,
        cert.issuer,
        cert.serial_number,
        cert.not_valid_before_utc,
        cert.not_valid_after_utc,
        cert.extensions,
        cert.public_key_algorithm_oid,
        cert.signature_algorithm_oid,
    )
    for attribute in (*cert.subject, *cert.issuer):
        _ = attribute.value
    return cert


def parse_certificates(value: str | bytes) -> list[x509.Certificate]:
    """The certificates of a request's `certificate` field: PEM (one or more blocks, the first is
    the person's) or one base64 DER certificate; DER bytes are accepted too."""
    if isinstance(value, bytes) and value[:1] == b"\x30":
        try:
            return [_load_certificate(value)]
        except _CERTIFICATE_ERRORS:
            raise _unreadable_certificate() from None
    text = _as_text(value, MAX_CERTIFICATE_CHARS, _unreadable_certificate)
    try:
        if "-----BEGIN" in text:
            ders = [der for label, der in _pem_blocks(text) if label in _CERTIFICATE_PEM_LABELS]
        else:
            ders = [_b64decode(text)]
        if not ders:
            raise ValueError("no certificate")
        return [_load_certificate(der) for der in ders]
    except _CERTIFICATE_ERRORS:
        raise _unreadable_certificate() from None


def _signature_bytes(signature: str | bytes, signature_format: str) -> bytes:
    text = _as_text(signature, MAX_SIGNATURE_CHARS, _unreadable_signature)
    try:
        if signature_format == "cms" and "-----BEGIN" in text:
            ders = [der for label, der in _pem_blocks(text) if label in _CMS_PEM_LABELS]
            if len(ders) != 1:
                raise ValueError("expected one CMS block")
            return ders[0]
        return _b64decode(text)
    except ValueError:
        raise _unreadable_signature() from None


# --- Keys and signatures --------------------------------------------------------------------------

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey


def _supported_public_key(cert: x509.Certificate) -> PublicKey:
    oid = cert.public_key_algorithm_oid.dotted_string
    if oid.startswith(GOST_KEY_OID_PREFIXES):
        raise _malformed(
            "eds_unsupported_key",
            _(
                "GOST 34.10 keys are not supported. Sign in with an RSA or ECDSA certificate "
                "(NCA issues RSA certificates)."
            ),
            "certificate",
        )
    try:
        key = cert.public_key()
    except (UnsupportedAlgorithm, ValueError):
        key = None
    if isinstance(key, rsa.RSAPublicKey) and key.key_size >= MIN_RSA_BITS:
        return key
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, SUPPORTED_CURVES):
        return key
    raise _malformed(
        "eds_unsupported_key",
        _(
            "This certificate's key is not supported. Use an RSA (2048 bits or more) or ECDSA "
            "(P-256, P-384 or P-521) certificate."
        ),
        "certificate",
    )


def _ecdsa_candidates(key: ec.EllipticCurvePublicKey, signature: bytes) -> list[bytes]:
    """The signature as given (DER) and, when it has the length of r‖s, as DER made from r‖s."""
    candidates = [signature]
    size = (key.curve.key_size + 7) // 8
    if len(signature) == 2 * size:
        r = int.from_bytes(signature[:size], "big")
        s = int.from_bytes(signature[size:], "big")
        candidates.append(encode_dss_signature(r, s))
    return candidates


def _verify_raw(key: PublicKey, signature: bytes, data: bytes) -> None:
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
            return
        for candidate in _ecdsa_candidates(key, signature):
            try:
                key.verify(candidate, data, ec.ECDSA(hashes.SHA256()))
                return
            except InvalidSignature:
                continue
    except (InvalidSignature, ValueError, TypeError):
        pass
    raise _bad_signature()


# --- CMS ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Cms:
    signer_infos: list[Any]
    certificates: list[x509.Certificate]
    content: bytes | None


def _parse_cms(der: bytes) -> _Cms:
    """The parts of a CMS SignedData we use; ValueError, KeyError … when it is malformed."""
    info = asn1_cms.ContentInfo.load(der, strict=True)
    if info["content_type"].native != "signed_data":
        raise ValueError("not SignedData")
    signed_data = info["content"]
    encap = signed_data["encap_content_info"]
    if encap["content_type"].native != "data":
        raise ValueError("encapsulated content is not data")
    content = encap["content"]
    content_bytes = None if content.native is None else bytes(content.native)
    certificates = []
    for choice in signed_data["certificates"] or []:
        if choice.name == "certificate":
            certificates.append(_load_certificate(choice.chosen.dump()))
    signer_infos = list(signed_data["signer_infos"])
    if not signer_infos:
        raise ValueError("no signer")
    return _Cms(signer_infos, certificates, content_bytes)


def _sid_names(signer_info: Any, cert: x509.Certificate) -> bool:
    sid = signer_info["sid"]
    if sid.name == "issuer_and_serial_number":
        der = cert.public_bytes(serialization.Encoding.DER)
        asn1_cert = asn1_x509.Certificate.load(der, strict=True)
        return (
            sid.chosen["serial_number"].native == cert.serial_number
            and sid.chosen["issuer"] == asn1_cert.issuer
        )
    if sid.name == "subject_key_identifier":
        wanted = bytes(sid.chosen.native)
        identifiers = set()
        try:
            ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
            identifiers.add(ski.value.digest)
        except x509.ExtensionNotFound:
            pass
        with contextlib.suppress(UnsupportedAlgorithm, ValueError, TypeError):
            identifiers.add(x509.SubjectKeyIdentifier.from_public_key(cert.public_key()).digest)
        return any(hmac.compare_digest(wanted, i) for i in identifiers)
    return False


def _single_attribute(signed_attrs: Any, name: str) -> Any:
    values = [attr["values"] for attr in signed_attrs if attr["type"].native == name]
    if len(values) != 1 or len(values[0]) != 1:
        raise ValueError(f"signed attribute {name} must appear once with one value")
    return values[0][0].native


def _verify_cms_signer(signer_info: Any, key: PublicKey, data: bytes) -> None:
    """Check the signed attributes against the nonce and the signature over them."""
    digest_name = signer_info["digest_algorithm"]["algorithm"].native
    if digest_name not in _HASHES:
        raise _bad_signature()
    signed_attrs = signer_info["signed_attrs"]
    if not signed_attrs:
        raise _bad_signature()
    if _single_attribute(signed_attrs, "content_type") != "data":
        raise _bad_signature()
    expected_digest = hashlib.new(digest_name, data).digest()
    message_digest = _single_attribute(signed_attrs, "message_digest")
    if not isinstance(message_digest, bytes) or not hmac.compare_digest(
        message_digest, expected_digest
    ):
        raise _bad_signature()

    # The signature covers the DER of the attributes as a SET OF (tag 0x31), not the [0] IMPLICIT
    # form in which they travel: same contents, other first byte.
    travelling = signed_attrs.dump()
    if travelling[:1] != b"\xa0":
        raise ValueError("signed attributes are not [0] IMPLICIT")
    signed_bytes = b"\x31" + travelling[1:]
    signature = bytes(signer_info["signature"].native)

    algorithm = signer_info["signature_algorithm"]
    kind = algorithm.signature_algo  # rsassa_pkcs1v15, rsassa_pss, ecdsa, dsa …
    name = algorithm["algorithm"].native
    hash_name = digest_name if name in ("rsassa_pkcs1v15", "ecdsa") else algorithm.hash_algo
    if hash_name not in _HASHES:
        raise _bad_signature()
    hash_algorithm = _HASHES[hash_name]()
    try:
        if kind == "rsassa_pkcs1v15" and isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, signed_bytes, padding.PKCS1v15(), hash_algorithm)
        elif kind == "rsassa_pss" and isinstance(key, rsa.RSAPublicKey):
            params = algorithm["parameters"]
            mgf = params["mask_gen_algorithm"]
            mgf_hash = mgf["parameters"]["algorithm"].native
            if mgf["algorithm"].native != "mgf1" or mgf_hash not in _HASHES:
                raise _bad_signature()
            pss = padding.PSS(
                mgf=padding.MGF1(_HASHES[mgf_hash]()), salt_length=params["salt_length"].native
            )
            key.verify(signature, signed_bytes, pss, hash_algorithm)
        elif kind == "ecdsa" and isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, signed_bytes, ec.ECDSA(hash_algorithm))
        else:
            raise _bad_signature()
    except (InvalidSignature, ValueError, TypeError):
        raise _bad_signature() from None


def _cms_signer(
    der: bytes, nonce_bytes: bytes, given: list[x509.Certificate]
) -> tuple[x509.Certificate, list[x509.Certificate], Any]:
    """(signer certificate, other certificates, matching SignerInfo) of a CMS over the nonce."""
    try:
        parsed = _parse_cms(der)
    except Exception:  # asn1crypto parses untrusted bytes lazily and may raise almost anything
        raise _unreadable_signature() from None
    if parsed.content is not None and not hmac.compare_digest(parsed.content, nonce_bytes):
        raise _bad_signature()

    candidates = given[:1] if given else parsed.certificates
    for cert in candidates:
        for signer_info in parsed.signer_infos:
            try:
                names_cert = _sid_names(signer_info, cert)
            except Exception:  # as above
                raise _unreadable_signature() from None
            if names_cert:
                others = [c for c in (*given[1:], *parsed.certificates) if c != cert]
                return cert, others, signer_info
    if given:
        raise _refused(
            "eds_invalid_signature",
            _("The signature was made with another certificate than the one sent."),
        )
    raise _malformed(
        "eds_invalid_certificate",
        _("Send the certificate: the signature does not contain the signer's certificate."),
        "certificate",
    )


# --- Certificate checks ---------------------------------------------------------------------------


def _check_dates(cert: x509.Certificate, at: datetime) -> None:
    if at < cert.not_valid_before_utc:
        raise _refused(
            "eds_certificate_expired",
            _("The certificate is not valid yet: it is valid from %(date)s.")
            % {"date": cert.not_valid_before_utc.date().isoformat()},
        )
    if at > cert.not_valid_after_utc:
        raise _refused(
            "eds_certificate_expired",
            _("The certificate expired on %(date)s. Renew it with the certification authority.")
            % {"date": cert.not_valid_after_utc.date().isoformat()},
        )


def _check_usage(cert: x509.Certificate) -> None:
    refused = _refused(
        "eds_key_usage",
        _("This certificate is not meant for signing in: use your authentication certificate."),
    )
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        if constraints.ca:
            raise refused
    except x509.ExtensionNotFound:
        pass
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        if not (usage.digital_signature or usage.content_commitment):
            raise refused
    except x509.ExtensionNotFound:
        pass
    try:
        purposes = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        if not any(
            oid in ACCEPTED_EKUS or oid.dotted_string.startswith(NCA_PURPOSE_OID_PREFIX)
            for oid in purposes
        ):
            raise refused
    except x509.ExtensionNotFound:
        pass


def _must_be_ca(policy: Any, cert: x509.Certificate, constraints: x509.BasicConstraints) -> None:
    if not constraints.ca:
        raise ValueError("basicConstraints does not make it a CA")


def _may_sign_certificates(
    policy: Any, cert: x509.Certificate, usage: x509.KeyUsage | None
) -> None:
    if usage is not None and not usage.key_cert_sign:
        raise ValueError("keyUsage does not allow keyCertSign")


def _check_chain(
    cert: x509.Certificate,
    intermediates: list[x509.Certificate],
    trusted_cas: list[x509.Certificate],
    at: datetime,
) -> None:
    """A path from `cert` through `intermediates` to one of `trusted_cas`, valid at `at`.

    `cryptography`'s path builder does the work: issuer names and signatures, validity of every
    certificate in the path, path length and name constraints, refusal of critical extensions it
    does not know, and its fixed algorithm rules (CA keys RSA ≥ 2048 or P-256/384/521, SHA-2
    signatures). Its Web PKI extension policies are relaxed, because NCA personal certificates
    are not TLS client certificates: the person's certificate needs no subjectAltName and no
    clientAuth purpose (`_check_usage` judges its purposes); a CA needs basicConstraints with cA
    set and, if it has keyUsage, keyCertSign (the RFC 5280 essentials) but not the Web PKI's
    extra demands (criticality, authorityKeyIdentifier …). certificatePolicies is accepted even
    when critical: we accept any policy, as RFC 5280 path validation with anyPolicy does.
    """
    ca_policy = (
        ExtensionPolicy.permit_all()
        .require_present(x509.BasicConstraints, Criticality.AGNOSTIC, _must_be_ca)
        .may_be_present(x509.KeyUsage, Criticality.AGNOSTIC, _may_sign_certificates)
        .may_be_present(x509.CertificatePolicies, Criticality.AGNOSTIC, None)
    )
    ee_policy = ExtensionPolicy.permit_all().may_be_present(
        x509.CertificatePolicies, Criticality.AGNOSTIC, None
    )
    verifier = (
        PolicyBuilder()
        .store(Store(trusted_cas))
        .time(at)
        .max_chain_depth(MAX_CHAIN_DEPTH)
        .extension_policies(ca_policy=ca_policy, ee_policy=ee_policy)
        .build_client_verifier()
    )
    try:
        verifier.verify(cert, intermediates)
    except VerificationError as exc:
        logger.info("EDS certificate %x refused by path validation: %s", cert.serial_number, exc)
        raise _refused(
            "eds_untrusted_certificate",
            _(
                "The certificate was not issued by a trusted certification authority "
                "(or its chain of issuers is broken)."
            ),
        ) from None


# --- Identity -------------------------------------------------------------------------------------


def _values(name: x509.Name, oid: x509.ObjectIdentifier) -> list[str]:
    return [
        attribute.value.strip()
        for attribute in name.get_attributes_for_oid(oid)
        if isinstance(attribute.value, str)
    ]


def _first(name: x509.Name, oid: x509.ObjectIdentifier) -> str | None:
    values = [v for v in _values(name, oid) if v]
    return values[0] if values else None


def _identity(cert: x509.Certificate, signature_format: str) -> EdsIdentity:
    subject = cert.subject
    iins = {
        match.group(1)
        for value in _values(subject, NameOID.SERIAL_NUMBER)
        if (match := _IIN_RE.fullmatch(value.upper()))
    }
    if not iins:
        raise _refused(
            "eds_no_iin", _("The certificate does not carry an IIN: use your personal certificate.")
        )
    if len(iins) > 1 or not is_valid_iin_bin(next(iter(iins))):
        raise _refused("eds_no_iin", _("The IIN in the certificate is not a valid IIN."))
    bins = {
        match.group(1)
        for value in _values(subject, NameOID.ORGANIZATIONAL_UNIT_NAME)
        if (match := _BIN_RE.fullmatch(value.upper()))
    }
    if len(bins) > 1 or not all(is_valid_iin_bin(b) for b in bins):
        raise _refused("eds_invalid_bin", _("The BIN in the certificate is not a valid BIN."))

    email = _first(subject, NameOID.EMAIL_ADDRESS)
    if email is None:
        try:
            names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            emails = names.get_values_for_type(x509.RFC822Name)
            email = emails[0] if emails else None
        except x509.ExtensionNotFound:
            pass
    return EdsIdentity(
        iin=next(iter(iins)),
        bin=next(iter(bins)) if bins else None,
        common_name=_first(subject, NameOID.COMMON_NAME),
        surname=_first(subject, NameOID.SURNAME),
        given_name=_first(subject, NameOID.GIVEN_NAME),
        organization=_first(subject, NameOID.ORGANIZATION_NAME),
        email=email,
        certificate_serial=format(cert.serial_number, "x"),
        certificate_sha256=cert.fingerprint(hashes.SHA256()).hex(),
        issuer=cert.issuer.rfc4514_string(),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        signature_format=signature_format,
    )


# --- Entry point ----------------------------------------------------------------------------------


def verify_eds_signature(
    *,
    nonce: str,
    certificate: str | bytes | None,
    signature: str | bytes,
    signature_format: str,
    trusted_cas: list[x509.Certificate] | None = None,
    at: datetime | None = None,
) -> EdsIdentity:
    """Check that `signature` over `nonce` was made with `certificate`, a valid personal
    certificate from a trusted CA, and return who signed. Raises `ApplicationError` otherwise.

    `certificate` is PEM or base64 DER (str or ASCII bytes; DER bytes too); it may be empty for
    a CMS signature that embeds the signer's certificate. `signature` is base64 (or PEM for CMS).
    `trusted_cas` defaults to the file at `settings.EDS_TRUSTED_CA_FILE`; `at` (the time at which
    certificates must be valid; a naive value is UTC) to now.
    """
    try:
        return _verify(
            nonce=nonce,
            certificate=certificate,
            signature=signature,
            signature_format=signature_format,
            trusted_cas=trusted_cas,
            at=at,
        )
    except ApplicationError:
        raise
    except Exception:
        # Every failure we foresee is an ApplicationError; this keeps an unforeseen one in a
        # third-party parser from becoming a server error while still leaving a trace.
        logger.exception("EDS verification failed unexpectedly")
        raise _malformed(
            "eds_invalid_signature",
            _("The signature or the certificate could not be read."),
            "signature",
        ) from None


def _verify(
    *,
    nonce: str,
    certificate: str | bytes | None,
    signature: str | bytes,
    signature_format: str,
    trusted_cas: list[x509.Certificate] | None,
    at: datetime | None,
) -> EdsIdentity:
    if signature_format not in SIGNATURE_FORMATS:
        raise _malformed(
            "eds_invalid_signature",
            _('The signature format must be "raw" or "cms".'),
            "signature_format",
        )
    if not isinstance(nonce, str) or not nonce or len(nonce) > MAX_NONCE_CHARS:
        raise _malformed("eds_invalid_nonce", _("The sign-in challenge is missing."), "nonce")
    try:
        nonce_bytes = nonce.encode("utf-8")
    except UnicodeEncodeError:
        raise _malformed(
            "eds_invalid_nonce", _("The sign-in challenge is not valid text."), "nonce"
        ) from None

    cas = configured_trusted_cas() if trusted_cas is None else list(trusted_cas)
    if not cas:
        raise _not_configured()

    at = at or datetime.now(UTC)
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)

    given = parse_certificates(certificate) if certificate else []
    if not given and signature_format == "raw":
        raise _unreadable_certificate()
    signature_der = _signature_bytes(signature, signature_format)

    if signature_format == "cms":
        cert, intermediates, signer_info = _cms_signer(signature_der, nonce_bytes, given)
    else:
        cert, intermediates, signer_info = given[0], given[1:], None

    key = _supported_public_key(cert)
    _check_dates(cert, at)
    _check_chain(cert, intermediates, cas, at)
    _check_usage(cert)
    if signer_info is None:
        _verify_raw(key, signature_der, nonce_bytes)
    else:
        try:
            _verify_cms_signer(signer_info, key, nonce_bytes)
        except ApplicationError:
            raise
        except Exception:  # a malformed SignerInfo: asn1crypto parses it lazily
            raise _unreadable_signature() from None
    return _identity(cert, signature_format)
