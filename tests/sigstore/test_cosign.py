"""cosign signatures verified offline: with public keys, and keyless against a trusted root (a
stand-in Sigstore's: Fulcio-like CA, CT log, Rekor), each check made to fail on its own."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from tests.sigstore.standin import (
    GITHUB_ISSUER,
    Signed,
    StandInSigstore,
    payload_of,
    public_pem,
    sign_with_key,
)
from tether.sigstore.cosign import (
    BUNDLE_ANNOTATION,
    CERTIFICATE_ANNOTATION,
    SIGNATURE_ANNOTATION,
    SIMPLE_SIGNING,
    KeylessPolicy,
    KeyPolicy,
    SignatureLayer,
    identity_match,
    load_public_key,
    signature_layers,
    signature_tag,
    verify,
)
from tether.sigstore.errors import SignatureError
from tether.sigstore.trustroot import TrustedRoot, parse_trusted_root, public_good

DIGEST = "sha256:" + "ab" * 32
OTHER = "sha256:" + "cd" * 32
REF = "registry.test/manifests/app"


@pytest.fixture(scope="module")
def sigstore() -> StandInSigstore:
    return StandInSigstore()


@pytest.fixture(scope="module")
def root(sigstore: StandInSigstore) -> TrustedRoot:
    return parse_trusted_root(sigstore.trusted_root(), "the stand-in's trusted root")


def layer_of(signed: Signed) -> SignatureLayer:
    notes = signed.annotations
    return SignatureLayer(
        "sha256:" + "00" * 32, len(signed.payload), notes[SIGNATURE_ANNOTATION],
        notes.get(CERTIFICATE_ANNOTATION), notes.get(BUNDLE_ANNOTATION),
    )  # fmt: skip


def keyless(root: TrustedRoot, *identities: tuple[str, str]) -> KeylessPolicy:
    return KeylessPolicy(root, tuple(identity_match(i, s) for i, s in identities))


def test_a_signature_made_with_a_key_verifies_with_that_key_only() -> None:
    key, other = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    signed = sign_with_key(key, DIGEST, REF)
    policy = KeyPolicy((load_public_key("other.pub", public_pem(other)),
                        load_public_key("cosign.pub", public_pem(key))))  # fmt: skip
    assert verify(layer_of(signed), signed.payload, DIGEST, policy) == "key cosign.pub"
    with pytest.raises(SignatureError, match="none of the public keys"):
        verify(layer_of(signed), signed.payload, DIGEST, KeyPolicy(policy.keys[:1]))


def test_the_payload_must_sign_this_very_digest() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    signed = sign_with_key(key, OTHER, REF)
    policy = KeyPolicy((load_public_key("cosign.pub", public_pem(key)),))
    with pytest.raises(SignatureError, match=f"payload signs {OTHER}, not {DIGEST}"):
        verify(layer_of(signed), signed.payload, DIGEST, policy)
    # a payload changed after signing (here: to name the digest asked for) does not verify
    forged = payload_of(DIGEST, REF)
    with pytest.raises(SignatureError, match="none of the public keys"):
        verify(layer_of(signed), forged, DIGEST, policy)
    with pytest.raises(SignatureError, match="not a cosign simple-signing payload"):
        verify(layer_of(signed), b"[]", DIGEST, policy)


def test_the_capitalised_digest_key_of_the_spec_is_read_as_go_reads_it() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    payload = payload_of(DIGEST, REF).replace(b"docker-manifest-digest", b"Docker-manifest-digest")
    signature = base64.b64encode(key.sign(payload, ec.ECDSA(hashes.SHA256()))).decode()
    layer = SignatureLayer("sha256:" + "00" * 32, len(payload), signature, None, None)
    policy = KeyPolicy((load_public_key("cosign.pub", public_pem(key)),))
    assert verify(layer, payload, DIGEST, policy) == "key cosign.pub"


def test_a_keyless_signature_names_who_signed(sigstore: StandInSigstore, root: TrustedRoot) -> None:
    signed = sigstore.sign_keyless(DIGEST, REF)
    who = verify(layer_of(signed), signed.payload, DIGEST, keyless(root))
    assert who == (
        "subject https://github.com/tether-test/manifests/.github/workflows/release.yml"
        f"@refs/tags/v1 from issuer {GITHUB_ISSUER}"
    )


def test_match_oidc_identity_is_an_unanchored_re2_match_of_issuer_and_subject(
    sigstore: StandInSigstore, root: TrustedRoot
) -> None:
    signed = sigstore.sign_keyless(DIGEST, REF)
    layer, payload = layer_of(signed), signed.payload
    assert verify(
        layer, payload, DIGEST, keyless(root, ("^https://token\\.actions", "tether-test/"))
    )
    # any entry may match
    assert verify(layer, payload, DIGEST, keyless(root, ("gitlab", ".*"), (".*", "manifests")))
    with pytest.raises(SignatureError, match="matches no matchOIDCIdentity entry"):
        verify(layer, payload, DIGEST, keyless(root, (GITHUB_ISSUER, "^https://github.com/evil/")))
    with pytest.raises(SignatureError, match="matches no matchOIDCIdentity entry"):
        verify(layer, payload, DIGEST, keyless(root, ("^https://accounts.google.com$", ".*")))
    with pytest.raises(SignatureError, match="subject '\\(a'"):
        identity_match(".*", "(a")


def test_an_email_identity_is_a_subject_too(sigstore: StandInSigstore, root: TrustedRoot) -> None:
    signed = sigstore.sign_keyless(DIGEST, REF, subject="release@tether.test",
                                   issuer="https://accounts.google.com")  # fmt: skip
    policy = keyless(root, ("^https://accounts.google.com$", "^release@tether.test$"))
    assert "release@tether.test" in verify(layer_of(signed), signed.payload, DIGEST, policy)


def test_a_certificate_of_another_sigstore_is_not_trusted(root: TrustedRoot) -> None:
    stranger = StandInSigstore()
    signed = stranger.sign_keyless(DIGEST, REF)
    with pytest.raises(SignatureError, match="not in the trusted root"):
        verify(layer_of(signed), signed.payload, DIGEST, keyless(root))
    # with the stranger's log trusted, the certificate still does not chain
    trusts_log = replace(root, tlogs=parse_trusted_root(stranger.trusted_root(), "s").tlogs)
    with pytest.raises(SignatureError, match="does not chain to a certificate authority"):
        verify(layer_of(signed), signed.payload, DIGEST, keyless(trusts_log))


def test_the_certificate_must_be_valid_when_rekor_logged_the_signature(
    sigstore: StandInSigstore, root: TrustedRoot
) -> None:
    late = sigstore.sign_keyless(DIGEST, REF, integrated=sigstore.now + timedelta(hours=1))
    with pytest.raises(SignatureError, match="not valid when the signature was logged"):
        verify(layer_of(late), late.payload, DIGEST, keyless(root))


def test_a_certificate_without_a_trusted_sct_is_refused(
    sigstore: StandInSigstore, root: TrustedRoot
) -> None:
    bare = sigstore.sign_keyless(DIGEST, REF, with_sct=False)
    with pytest.raises(SignatureError, match="no certificate transparency timestamp"):
        verify(layer_of(bare), bare.payload, DIGEST, keyless(root))
    signed = sigstore.sign_keyless(DIGEST, REF)
    no_ct_log = replace(root, ctlogs=())
    with pytest.raises(SignatureError, match="SCT\\) of the certificate verifies with"):
        verify(layer_of(signed), signed.payload, DIGEST, keyless(no_ct_log))


def test_the_rekor_bundle_must_be_signed_and_of_this_signature(
    sigstore: StandInSigstore, root: TrustedRoot
) -> None:
    signed = sigstore.sign_keyless(DIGEST, REF)
    bundle = json.loads(signed.annotations[BUNDLE_ANNOTATION])
    bundle["Payload"]["integratedTime"] -= 60  # moved after Rekor signed it
    moved = Signed(signed.payload, {**signed.annotations, BUNDLE_ANNOTATION: json.dumps(bundle)})
    with pytest.raises(SignatureError, match="signed entry timestamp does not verify"):
        verify(layer_of(moved), moved.payload, DIGEST, keyless(root))
    # a genuine log entry of another signature, beside this certificate
    other = sigstore.sign_keyless(DIGEST, REF)
    swapped = Signed(signed.payload, {**signed.annotations,
                                      BUNDLE_ANNOTATION: other.annotations[BUNDLE_ANNOTATION]})  # fmt: skip
    with pytest.raises(SignatureError, match="entry is of another"):
        verify(layer_of(swapped), swapped.payload, DIGEST, keyless(root))
    without = Signed(signed.payload, {k: v for k, v in signed.annotations.items()
                                      if k != BUNDLE_ANNOTATION})  # fmt: skip
    with pytest.raises(SignatureError, match="no transparency log bundle"):
        verify(layer_of(without), without.payload, DIGEST, keyless(root))
    garbage = Signed(signed.payload, {**signed.annotations, BUNDLE_ANNOTATION: "{"})
    with pytest.raises(SignatureError, match="bundle is malformed"):
        verify(layer_of(garbage), garbage.payload, DIGEST, keyless(root))


def test_a_key_signature_is_not_a_keyless_one(root: TrustedRoot) -> None:
    signed = sign_with_key(ec.generate_private_key(ec.SECP256R1()), DIGEST, REF)
    with pytest.raises(SignatureError, match="has no certificate"):
        verify(layer_of(signed), signed.payload, DIGEST, keyless(root))


def test_signature_layers_are_the_simple_signing_ones_and_bounded() -> None:
    layer = {"mediaType": SIMPLE_SIGNING, "digest": DIGEST, "size": 200,
             "annotations": {SIGNATURE_ANNOTATION: "c2ln"}}  # fmt: skip
    manifest = {"layers": [layer, {**layer, "mediaType": "text/plain"},
                           {"mediaType": SIMPLE_SIGNING, "digest": DIGEST, "size": 1}, "junk",
                           *([layer] * 100)]}  # fmt: skip
    found = signature_layers(manifest)
    assert len(found) == 32 and found[0].signature == "c2ln" and found[0].certificate is None
    assert signature_tag(DIGEST) == f"sha256-{'ab' * 32}.sig"


def test_trusted_roots_are_read_bounded_and_the_public_good_one_is_shipped() -> None:
    good = public_good()
    assert good.authorities and good.tlogs and good.ctlogs
    assert any(log.url == "https://rekor.sigstore.dev" for log in good.tlogs)
    with pytest.raises(SignatureError, match="is not a Sigstore trusted root: mediaType"):
        parse_trusted_root(b'{"mediaType": "text/plain"}', "f")
    with pytest.raises(SignatureError, match="is not a Sigstore trusted root"):
        parse_trusted_root(b"[", "f")
    with pytest.raises(SignatureError, match="larger than"):
        parse_trusted_root(b" " * (2 << 20), "f")


def test_deeply_nested_json_anywhere_is_a_clear_refusal(
    sigstore: StandInSigstore, root: TrustedRoot
) -> None:
    deep = "[" * 60_000 + "]" * 60_000
    key = ec.generate_private_key(ec.SECP256R1())
    signed = sign_with_key(key, DIGEST, REF)
    policy = KeyPolicy((load_public_key("cosign.pub", public_pem(key)),))
    with pytest.raises(SignatureError, match="not a cosign simple-signing payload"):
        verify(layer_of(signed), deep.encode(), DIGEST, policy)
    keyless_signed = sigstore.sign_keyless(DIGEST, REF)
    nested = Signed(
        keyless_signed.payload,
        {**keyless_signed.annotations, BUNDLE_ANNOTATION: "[" * 30_000 + "]" * 30_000},
    )
    with pytest.raises(SignatureError, match="bundle is malformed"):
        verify(layer_of(nested), nested.payload, DIGEST, keyless(root))
    with pytest.raises(SignatureError, match="is not a Sigstore trusted root"):
        parse_trusted_root(deep.encode(), "f")
