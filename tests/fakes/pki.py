"""A small test PKI: root and intermediate CAs, NCA-like personal certificates, signatures.

Kazakhstan's National Certification Authority (NCA) issues personal certificates whose subject
carries the person's IIN in `serialNumber` ("IIN123456789012") and, for an organisation's
employee, the organisation's BIN in `OU` ("BIN123456789012"). This module makes look-alikes with
RSA 2048 or ECDSA P-256 keys, and signs a nonce either raw or as a detached CMS SignedData built
with asn1crypto.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from asn1crypto import algos, cms, core, keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from carriers.validators import iin_bin_check_digit

# NCA's policy OIDs for personal authentication certificates (individual / legal entity employee).
NCA_INDIVIDUAL_OID = x509.ObjectIdentifier("1.2.398.3.3.4.1.1")
NCA_LEGAL_ENTITY_OID = x509.ObjectIdentifier("1.2.398.3.3.4.1.2")

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def now() -> datetime:
    return datetime.now(UTC)


def with_check_digit(first_eleven: str) -> str:
    """A 12-digit IIN/BIN with a correct check digit (the first eleven digits must allow one)."""
    check = iin_bin_check_digit(first_eleven)
    assert check is not None, f"{first_eleven} has no valid check digit"
    return f"{first_eleven}{check}"


def with_wrong_check_digit(first_eleven: str) -> str:
    check = iin_bin_check_digit(first_eleven)
    assert check is not None
    return f"{first_eleven}{(check + 1) % 10}"


IIN = with_check_digit("90010130001")  # a man born 1 January 1990
BIN = with_check_digit("12034001234")  # a legal entity registered March 2012


def make_key(kind: str = "rsa") -> PrivateKey:
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if kind == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    raise ValueError(kind)


@dataclass(frozen=True)
class Issued:
    """A certificate with its private key."""

    cert: x509.Certificate
    key: PrivateKey

    @property
    def pem(self) -> str:
        return self.cert.public_bytes(serialization.Encoding.PEM).decode()

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    @property
    def der_b64(self) -> str:
        return base64.b64encode(self.der).decode()


def _ski(key: PrivateKey) -> x509.SubjectKeyIdentifier:
    return x509.SubjectKeyIdentifier.from_public_key(key.public_key())


def make_ca(
    common_name: str = "ҰЛТТЫҚ КУӘЛАНДЫРУШЫ ОРТАЛЫҚ (TEST ROOT)",
    *,
    issuer: Issued | None = None,
    key_kind: str = "rsa",
    key: PrivateKey | None = None,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    path_length: int | None = None,
) -> Issued:
    """A root CA (no issuer: self-signed) or an intermediate CA signed by `issuer`."""
    key = key or make_key(key_kind)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.COUNTRY_NAME, "KZ"),
        ]
    )
    signer_key = issuer.key if issuer else key
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.cert.subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or now() - timedelta(days=365))
        .not_valid_after(not_after or now() + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(_ski(key), critical=False)
    )
    if issuer:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
            critical=False,
        )
    return Issued(builder.sign(signer_key, hashes.SHA256()), key)


@dataclass(frozen=True)
class PersonSubject:
    surname: str | None = "ИВАНОВ"
    given_name: str | None = "ИВАН ПЕТРОВИЧ"
    common_name: str | None = "ИВАНОВ ИВАН"
    iin: str | None = IIN
    serial_number: str | None = None  # overrides "IIN" + iin when set
    organization: str | None = 'ТОО "КЕРУЕН ТРАНС"'
    bin: str | None = BIN
    organizational_unit: str | None = None  # overrides "BIN" + bin when set
    email: str | None = "ivanov@example.kz"
    extra: list[x509.NameAttribute] = field(default_factory=list)

    def name(self) -> x509.Name:
        attrs = []
        if self.common_name is not None:
            attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, self.common_name))
        if self.surname is not None:
            attrs.append(x509.NameAttribute(NameOID.SURNAME, self.surname))
        serial = self.serial_number or (f"IIN{self.iin}" if self.iin else None)
        if serial is not None:
            attrs.append(x509.NameAttribute(NameOID.SERIAL_NUMBER, serial))
        attrs.append(x509.NameAttribute(NameOID.COUNTRY_NAME, "KZ"))
        if self.organization is not None:
            attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, self.organization))
        unit = self.organizational_unit or (f"BIN{self.bin}" if self.bin else None)
        if unit is not None:
            attrs.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit))
        if self.given_name is not None:
            attrs.append(x509.NameAttribute(NameOID.GIVEN_NAME, self.given_name))
        if self.email is not None:
            attrs.append(x509.NameAttribute(NameOID.EMAIL_ADDRESS, self.email))
        attrs.extend(self.extra)
        return x509.Name(attrs)


DEFAULT_KEY_USAGE = {"digital_signature": True, "key_encipherment": True}
DEFAULT_EKU = (ExtendedKeyUsageOID.CLIENT_AUTH, NCA_LEGAL_ENTITY_OID)


def make_person(
    issuer: Issued,
    subject: PersonSubject | None = None,
    *,
    key_kind: str = "rsa",
    key: PrivateKey | None = None,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    key_usage: dict[str, bool] | None = DEFAULT_KEY_USAGE,
    extended_key_usage: tuple[x509.ObjectIdentifier, ...] | None = DEFAULT_EKU,
    issuer_name: x509.Name | None = None,
    ca: bool = False,
    extensions: tuple[tuple[x509.ExtensionType, bool], ...] = (),
) -> Issued:
    """An NCA-like personal certificate. `key_usage=None` / `extended_key_usage=None` leave the
    extension out; `issuer_name` forges the issuer field (the signature is still `issuer`'s);
    `extensions` adds (extension, critical) pairs."""
    key = key or make_key(key_kind)
    subject = subject or PersonSubject()
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject.name())
        .issuer_name(issuer_name or issuer.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or now() - timedelta(days=30))
        .not_valid_after(not_after or now() + timedelta(days=365))
        .add_extension(_ski(key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
            critical=False,
        )
    )
    if ca:
        builder = builder.add_extension(
            x509.BasicConstraints(ca=True, path_length=None), critical=True
        )
    if key_usage is not None:
        flags = {
            "digital_signature": False,
            "content_commitment": False,
            "key_encipherment": False,
            "data_encipherment": False,
            "key_agreement": False,
            "key_cert_sign": False,
            "crl_sign": False,
            "encipher_only": False,
            "decipher_only": False,
        }
        flags.update(key_usage)
        builder = builder.add_extension(x509.KeyUsage(**flags), critical=True)
    if extended_key_usage is not None:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage(list(extended_key_usage)), critical=False
        )
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    return Issued(builder.sign(issuer.key, hashes.SHA256()), key)


def make_self_signed_person(subject: PersonSubject | None = None, key_kind: str = "rsa") -> Issued:
    """A personal certificate that names itself as its issuer: it chains to nothing."""
    key = make_key(key_kind)
    subject = subject or PersonSubject()
    stand_in = Issued(make_ca(key=key).cert, key)
    return make_person(stand_in, subject, key=key, issuer_name=subject.name())


def _sign(key: PrivateKey, data: bytes) -> bytes:
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    return key.sign(data, ec.ECDSA(hashes.SHA256()))


def sign_raw(key: PrivateKey, nonce: str) -> str:
    """The `raw` format: RSA PKCS#1 v1.5 or ECDSA (DER), SHA-256, over the nonce's UTF-8 bytes."""
    return base64.b64encode(_sign(key, nonce.encode())).decode()


def sign_cms(
    signer: Issued,
    nonce: str,
    *,
    certificates: list[Issued] | None = None,
    embed_signer: bool = True,
    attached: bool = False,
    content: bytes | None = None,
    message_digest: bytes | None = None,
    content_type: str = "data",
    sid: str = "issuer_serial",
    sid_cert: Issued | None = None,
    signing_key: PrivateKey | None = None,
    tamper_digest_after_signing: bool = False,
    pss: bool = False,
    pem: bool = False,
) -> str:
    """A CMS SignedData (CAdES-BES-like) over the nonce, detached unless `attached`.

    The signed attributes are content type, message digest (SHA-256 of the nonce unless
    `message_digest` says otherwise) and signing time; the signature is over their DER as a SET
    (tag 0x31), as RFC 5652 §5.4 asks. `sid` is "issuer_serial" or "ski"; `sid_cert` names another
    certificate as the signer; `signing_key` signs with another key; `tamper_digest_after_signing`
    swaps the message digest after the signature was made; `pss` signs with RSASSA-PSS.
    Returns base64 DER, or PEM ("-----BEGIN CMS-----") when `pem`.
    """
    data = nonce.encode()
    key = signing_key or signer.key
    named = asn1_x509.Certificate.load((sid_cert or signer).der)

    def attributes(digest: bytes) -> cms.CMSAttributes:
        return cms.CMSAttributes(
            [
                cms.CMSAttribute({"type": "content_type", "values": [content_type]}),
                cms.CMSAttribute({"type": "message_digest", "values": [digest]}),
                cms.CMSAttribute(
                    {"type": "signing_time", "values": [cms.Time({"utc_time": now()})]}
                ),
            ]
        )

    if sid == "issuer_serial":
        signer_id = cms.SignerIdentifier(
            {
                "issuer_and_serial_number": cms.IssuerAndSerialNumber(
                    {"issuer": named.issuer, "serial_number": named.serial_number}
                )
            }
        )
    else:
        signer_id = cms.SignerIdentifier({"subject_key_identifier": named.key_identifier})

    if pss:
        sig_alg = algos.SignedDigestAlgorithm(
            {
                "algorithm": "rsassa_pss",
                "parameters": algos.RSASSAPSSParams(
                    {
                        "hash_algorithm": {"algorithm": "sha256"},
                        "mask_gen_algorithm": {
                            "algorithm": "mgf1",
                            "parameters": {"algorithm": "sha256"},
                        },
                        "salt_length": 32,
                    }
                ),
            }
        )
    elif isinstance(key, rsa.RSAPrivateKey):
        sig_alg = algos.SignedDigestAlgorithm({"algorithm": "sha256_rsa"})
    else:
        sig_alg = algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"})

    digest = message_digest if message_digest is not None else hashlib.sha256(data).digest()
    signer_info = cms.SignerInfo(
        {
            "version": "v1" if sid == "issuer_serial" else "v3",
            "sid": signer_id,
            "digest_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}),
            "signed_attrs": attributes(digest),
            "signature_algorithm": sig_alg,
            "signature": b"",
        }
    )
    # The attributes travel as [0] IMPLICIT; the signature covers them as a SET OF.
    signed_bytes = b"\x31" + signer_info["signed_attrs"].dump()[1:]
    if pss:
        assert isinstance(key, rsa.RSAPrivateKey)
        signature = key.sign(
            signed_bytes,
            padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
            hashes.SHA256(),
        )
    else:
        signature = _sign(key, signed_bytes)
    signer_info["signature"] = signature
    if tamper_digest_after_signing:
        signer_info["signed_attrs"] = attributes(hashlib.sha256(b"another nonce").digest())

    embedded = ([signer] if embed_signer else []) + list(certificates or [])
    encap: dict = {"content_type": "data"}
    if attached:
        encap["content"] = content if content is not None else data
    fields: dict = {
        "version": "v1" if sid == "issuer_serial" else "v3",
        "digest_algorithms": [algos.DigestAlgorithm({"algorithm": "sha256"})],
        "encap_content_info": encap,
        "signer_infos": [signer_info],
    }
    if embedded:
        fields["certificates"] = [asn1_x509.Certificate.load(c.der) for c in embedded]
    der = cms.ContentInfo({"content_type": "signed_data", "content": cms.SignedData(fields)}).dump()
    encoded = base64.b64encode(der).decode()
    if pem:
        lines = [encoded[i : i + 64] for i in range(0, len(encoded), 64)]
        return "-----BEGIN CMS-----\n" + "\n".join(lines) + "\n-----END CMS-----\n"
    return encoded


def resign_der(issued: Issued, issuer: Issued, mutate: Callable[[Any], None]) -> bytes:
    """The DER of `issued` with its TBSCertificate changed by `mutate` (an asn1crypto
    TbsCertificate, changed in place) and signed again by `issuer`: for certificates that
    `cryptography` refuses to build, or even to load."""
    template = asn1_x509.Certificate.load(issued.der)
    tbs = template["tbs_certificate"]
    mutate(tbs)
    tbs_der = tbs.dump()
    certificate = asn1_x509.Certificate(
        {
            "tbs_certificate": asn1_x509.TbsCertificate.load(tbs_der),
            "signature_algorithm": template["signature_algorithm"],
            "signature_value": _sign(issuer.key, tbs_der),
        }
    )
    return certificate.dump()


def resign(issued: Issued, issuer: Issued, mutate: Callable[[Any], None]) -> Issued:
    """As `resign_der`, loaded (lazily: a broken extension only fails when it is read)."""
    der = resign_der(issued, issuer, mutate)
    return Issued(x509.load_der_x509_certificate(der), issued.key)


def make_gost_like_person(issuer: Issued, key_oid: str = "1.2.398.3.10.1.1.2.3.1") -> Issued:
    """A personal certificate whose subject public key is declared GOST (`key_oid`), signed by
    `issuer`; its key bytes are random, so it can only be refused. The returned key is unrelated."""
    oid = core.ObjectIdentifier(key_oid).dump()
    algorithm = b"\x30" + bytes([len(oid) + 2]) + oid + b"\x05\x00"
    bits = b"\x03\x41\x00" + os.urandom(64)
    spki = b"\x30" + bytes([len(algorithm) + len(bits)]) + algorithm + bits

    def declare_gost(tbs: Any) -> None:
        tbs["subject_public_key_info"] = keys.PublicKeyInfo.load(spki)

    return resign(make_person(issuer, key_kind="ec"), issuer, declare_gost)


def pem_bundle(*issued: Issued) -> str:
    return "".join(i.pem for i in issued)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
