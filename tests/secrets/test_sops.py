"""SOPS decryption: the kustomize-controller corpus decrypts with its age keys, MACs are checked,
tampering and missing metadata or keys fail clearly, and render decrypts when given keys."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests.secrets.conftest import SOPS_CORPUS
from tether.render import RenderError, render
from tether.secrets.sops import (
    SopsError,
    SopsKeys,
    SopsMacMismatchError,
    SopsMetadataMissingError,
    SopsNoKeyError,
    decrypt,
    decrypt_tree,
    detect_format,
)

# every age-encrypted file of the corpus and the value its name (or Flux's test) states
AGE_FILES = {
    "algorithms/age.yaml": ("stringData", "key", "value"),
    "global/secret.yaml": ("stringData", "key", "global-value"),
    "patches/merge1.yaml": ("stringData", "key", "merge1"),
    "patches/merge2.yaml": ("stringData", "merge2", "merge2"),
}
ENV_FILES = ["envs/env.env", "component/env.env", "remote/env.env"]


@pytest.mark.parametrize("rel", sorted(AGE_FILES))
def test_corpus_yaml_files_decrypt_with_verified_mac(rel: str, sops_keys: SopsKeys) -> None:
    field, key, value = AGE_FILES[rel]
    docs = decrypt_tree((SOPS_CORPUS / rel).read_bytes(), "yaml", sops_keys, file=rel)
    assert isinstance(docs, list) and len(docs) == 1
    assert docs[0][field] == {key: value}
    assert "sops" not in docs[0]
    assert docs[0]["apiVersion"] == "v1"


@pytest.mark.parametrize("rel", ENV_FILES)
def test_corpus_dotenv_files_decrypt(rel: str, sops_keys: SopsKeys) -> None:
    assert (
        decrypt((SOPS_CORPUS / rel).read_bytes(), "dotenv", sops_keys, file=rel) == b"key=value\n"
    )


def test_corpus_binary_file_decrypts(sops_keys: SopsKeys) -> None:
    data = (SOPS_CORPUS / "files/file.txt").read_bytes()
    assert detect_format("file.txt") == "binary"
    assert decrypt(data, "binary", sops_keys, file="files/file.txt") == b"value"
    assert decrypt_tree(data, "json", sops_keys) == {"data": "value"}


def _tamper(tmp_path: Path, rel: str, old: str, new: str) -> Path:
    text = (SOPS_CORPUS / rel).read_text()
    assert old in text
    target = tmp_path / Path(rel).name
    target.write_text(text.replace(old, new, 1))
    return target


def test_edited_unencrypted_value_fails_the_mac(tmp_path: Path, sops_keys: SopsKeys) -> None:
    path = _tamper(tmp_path, "algorithms/age.yaml", "name: age", "name: other")
    with pytest.raises(SopsMacMismatchError, match="MAC mismatch"):
        decrypt(path.read_bytes(), "yaml", sops_keys, file="age.yaml")


def test_swapped_encrypted_value_fails(tmp_path: Path, sops_keys: SopsKeys) -> None:
    text = (SOPS_CORPUS / "algorithms/age.yaml").read_text()
    value = re.search(r"key: (ENC\[.*?\])", text)
    assert value is not None
    # a ciphertext byte flipped: the value's own GCM tag catches it
    data = value.group(1)
    flipped = data.replace("data:mHeXsmQ=", "data:mHeXsmU=")
    path = tmp_path / "age.yaml"
    path.write_text(text.replace(data, flipped))
    with pytest.raises(SopsMacMismatchError) as caught:
        decrypt(path.read_bytes(), "yaml", sops_keys, file="age.yaml")
    assert "age.yaml (at stringData:key): value does not authenticate" in str(caught.value)


def test_edited_mac_fails(tmp_path: Path, sops_keys: SopsKeys) -> None:
    path = _tamper(
        tmp_path,
        "algorithms/age.yaml",
        "mac: ENC[AES256_GCM,data:vmrF",
        "mac: ENC[AES256_GCM,data:vmrG",
    )
    with pytest.raises(SopsMacMismatchError, match="MAC"):
        decrypt(path.read_bytes(), "yaml", sops_keys, file="age.yaml")


def test_added_key_fails_the_mac(tmp_path: Path, sops_keys: SopsKeys) -> None:
    path = _tamper(tmp_path, "envs/env.env", "key=ENC", "extra_unencrypted=1\nkey=ENC")
    with pytest.raises(SopsMacMismatchError):
        decrypt(path.read_bytes(), "dotenv", sops_keys, file="env.env")
    # a plain value where an encrypted one belongs is refused before any MAC
    path = _tamper(tmp_path, "envs/env.env", "key=ENC", "extra=1\nkey=ENC")
    with pytest.raises(SopsError, match=r"env.env \(at extra\): value is not in SOPS"):
        decrypt(path.read_bytes(), "dotenv", sops_keys, file="env.env")


def test_file_without_metadata_is_a_clear_error(sops_keys: SopsKeys) -> None:
    with pytest.raises(SopsMetadataMissingError, match=r"vault\.yaml: no sops metadata block"):
        decrypt(
            (SOPS_CORPUS / "algorithms/vault.yaml").read_bytes(),
            "yaml",
            sops_keys,
            file="vault.yaml",
        )


def test_pgp_only_file_has_no_usable_key(sops_keys: SopsKeys) -> None:
    with pytest.raises(SopsNoKeyError, match="encrypted for pgp"):
        decrypt((SOPS_CORPUS / "algorithms/pgp.yaml").read_bytes(), "yaml", sops_keys)


def test_post_quantum_file_is_reported(sops_keys: SopsKeys) -> None:
    with pytest.raises(SopsNoKeyError, match="post-quantum"):
        decrypt((SOPS_CORPUS / "algorithms/age-pq.yaml").read_bytes(), "yaml", sops_keys)


def test_wrong_age_key_has_no_usable_key() -> None:
    other = SopsKeys.from_text((SOPS_CORPUS / "keys/age-global.txt").read_text())
    with pytest.raises(SopsNoKeyError, match="none of the 1 age identities"):
        decrypt((SOPS_CORPUS / "algorithms/age.yaml").read_bytes(), "yaml", other)


def test_keys_never_show_in_repr_and_load_from_a_secret(sops_keys: SopsKeys) -> None:
    assert "AGE-SECRET-KEY" not in repr(sops_keys)
    import base64

    text = (SOPS_CORPUS / "keys/age.txt").read_bytes()
    secret = {"data": {"age.agekey": base64.b64encode(text).decode()}}
    from_secret = SopsKeys.from_secret(secret)
    assert from_secret.recipients() == (
        "age1l44xcng8dqj32nlv6d930qvvrny05hglzcv9qpc7kxjc6902ma4qufys29",
    )
    with pytest.raises(SopsError, match="not valid"):
        SopsKeys(("AGE-SECRET-KEY-1NOPE",))


def test_typed_values_and_mac_follow_sops_rules(tmp_path: Path, sops_keys: SopsKeys) -> None:
    """Unencrypted ints, floats, bools and YAML-1.1-only words hash as Go's SOPS hashes them:
    a changed rendering of any of them would break the corpus MACs, so check one by hand."""
    from tether.secrets.sops import _go_float, _to_bytes

    assert (
        _go_float(2.0) == "2"
        and _go_float(1.5) == "1.5"
        and _go_float(1e21) == "1000000000000000000000"
    )
    assert _to_bytes(True) == b"True" and _to_bytes(7) == b"7"


# --- render -------------------------------------------------------------------------------------


def _objects(root: Path, path: str, keys: SopsKeys | None) -> dict[tuple[str, str], dict]:
    result = render(root, path, decryption=keys)
    return {(o["kind"], o["metadata"]["name"]): o for o in result.objects}


def test_render_directory_app_decrypts(tmp_path: Path, sops_keys: SopsKeys) -> None:
    app = tmp_path / "app"
    app.mkdir()
    (app / "secret.yaml").write_bytes((SOPS_CORPUS / "algorithms/age.yaml").read_bytes())
    (app / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: plain}\n")
    objects = _objects(tmp_path, "app", sops_keys)
    assert objects[("Secret", "age")]["stringData"] == {"key": "value"}
    assert "sops" not in objects[("Secret", "age")]
    # without keys the file renders as it is (today's behaviour for unrelated callers)
    assert "sops" in _objects(tmp_path, "app", None)[("Secret", "age")]


def test_render_kustomize_generators_patches_and_inside(sops_keys: SopsKeys) -> None:
    import base64

    envs = _objects(SOPS_CORPUS, "envs", sops_keys)
    assert base64.b64decode(envs[("Secret", "envs-secret")]["data"]["key"]) == b"value"
    # the ConfigMap made from the same file never receives the plaintext
    assert envs[("ConfigMap", "envs-configmap")]["data"]["key"].startswith("ENC[")
    files = _objects(SOPS_CORPUS, "files", sops_keys)
    assert base64.b64decode(files[("Secret", "files-secret")]["data"]["key"]) == b"value"
    patches = _objects(SOPS_CORPUS, "patches", sops_keys)
    assert patches[("Secret", "patches-secret")]["stringData"] == {
        "key": "merge1",
        "merge2": "merge2",
    }
    inside = _objects(SOPS_CORPUS, "inside", sops_keys)
    assert base64.b64decode(inside[("Secret", "inside-secret")]["data"]["key"]) == b"value"


def test_render_fails_whole_on_mac_mismatch(tmp_path: Path, sops_keys: SopsKeys) -> None:
    app = tmp_path / "app"
    app.mkdir()
    text = (SOPS_CORPUS / "algorithms/age.yaml").read_text().replace("name: age", "name: evil")
    (app / "secret.yaml").write_text(text)
    (app / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: plain}\n")
    with pytest.raises(RenderError) as caught:
        render(tmp_path, "app", decryption=sops_keys)
    assert str(caught.value).startswith("app/secret.yaml: SOPS decryption failed")
    assert "MAC mismatch" in str(caught.value)


def test_render_fails_on_missing_key(tmp_path: Path, sops_keys: SopsKeys) -> None:
    app = tmp_path / "app"
    app.mkdir()
    (app / "pgp.yaml").write_bytes((SOPS_CORPUS / "algorithms/pgp.yaml").read_bytes())
    with pytest.raises(
        RenderError, match=r"^app/pgp.yaml: SOPS decryption failed: .*no usable key"
    ):
        render(tmp_path, "app", decryption=sops_keys)


def test_decryption_keys_change_the_cache_key(sops_keys: SopsKeys) -> None:
    from tether.render import RenderContext, render_key
    from tether.render.models import DEFAULT_LIMITS

    ctx = RenderContext(repo_url="r", revision="c")
    plain = render_key(".", {}, ctx, DEFAULT_LIMITS)
    with_keys = render_key(".", {}, ctx, DEFAULT_LIMITS, sops_keys)
    assert plain != with_keys
    assert b"AGE-SECRET" not in with_keys.options
    assert with_keys == render_key(".", {}, ctx, DEFAULT_LIMITS, sops_keys)


def test_rendered_yaml_round_trips(sops_keys: SopsKeys) -> None:
    out = decrypt((SOPS_CORPUS / "global/secret.yaml").read_bytes(), "yaml", sops_keys)
    assert yaml.safe_load(out)["stringData"]["key"] == "global-value"
