"""``tether seal`` (kubeseal's jobs) and ``tether secrets-controller``.

``tether seal`` reads Secrets and writes SealedSecrets that only the cluster's controller can
open; ``--raw`` seals one value; ``--recovery-unseal`` opens SealedSecrets offline with a backed
up private key; ``--re-encrypt`` seals existing SealedSecrets again to the newest key.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
import sys
from pathlib import Path
from typing import Any

import click
import orjson
import yaml
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from tether import safeyaml
from tether.cli.options import EXISTING_FILE
from tether.errors import TetherError
from tether.secrets.keys import load_private_keys
from tether.secrets.sealed import (
    PlainSecret,
    Scope,
    reseal,
    seal_secret,
    seal_value,
    unseal_data,
)

_SCOPES = [s.value for s in Scope]


def _read_input(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise click.ClickException(f"{path}: {exc.strerror}") from None


def _documents(data: bytes, what: str) -> list[dict[str, Any]]:
    """Every object of a YAML or JSON stream; a ``List`` contributes its items."""
    try:
        loaded = safeyaml.load_all(data, loader=safeyaml.KubernetesLoader)
    except safeyaml.YamlLimitError as exc:
        raise click.ClickException(f"{what}: {exc}") from None
    except safeyaml.YamlError as exc:
        where = f" (line {exc.line})" if exc.line is not None else ""
        raise click.ClickException(f"{what}: not valid YAML or JSON{where}") from None
    docs = [d for d in loaded if d is not None]
    objects: list[dict[str, Any]] = []
    for doc in docs:
        if not isinstance(doc, dict):
            raise click.ClickException(f"{what}: a document is not an object")
        if str(doc.get("kind", "")).endswith("List") and isinstance(doc.get("items"), list):
            objects.extend(i for i in doc["items"] if isinstance(i, dict))
        else:
            objects.append(doc)
    if not objects:
        raise click.ClickException(f"{what}: no objects in the input")
    return objects


def _public_key_from_pem(pem: bytes, where: str) -> rsa.RSAPublicKey:
    try:
        cert = x509.load_pem_x509_certificate(pem)
    except ValueError:
        raise click.ClickException(f"{where}: not a PEM certificate") from None
    key = cert.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise click.ClickException(f"{where}: the certificate's key is not RSA")
    return key


def _fetch(url: str, path: str, body: bytes | None = None) -> bytes:
    import httpx

    target = url.rstrip("/") + path
    try:
        if body is None:
            response = httpx.get(target, timeout=30)
        else:
            response = httpx.post(
                target, content=body, headers={"Content-Type": "application/json"}, timeout=60
            )
    except httpx.HTTPError as exc:
        raise click.ClickException(f"cannot reach the controller at {url}: {exc}") from None
    if response.status_code != 200:
        detail = response.text.strip()[:500]
        raise click.ClickException(f"{target}: HTTP {response.status_code}: {detail}")
    return response.content


def _public_key(cert: Path | None, controller: str | None) -> rsa.RSAPublicKey:
    if cert is not None:
        return _public_key_from_pem(cert.read_bytes(), str(cert))
    if controller:
        return _public_key_from_pem(_fetch(controller, "/v1/cert.pem"), f"{controller} cert")
    raise click.UsageError("give the sealing certificate: --cert FILE or --controller URL")


def _emit(objects: list[dict[str, Any]], output: str) -> None:
    if output == "json":
        for obj in objects:
            click.echo(orjson.dumps(obj, option=orjson.OPT_INDENT_2).decode())
        return
    click.echo(
        "---\n".join(yaml.safe_dump(obj, sort_keys=False) for obj in objects),
        nl=False,
    )


@click.command("seal")
@click.option(
    "-f",
    "--file",
    "input_file",
    default="-",
    show_default=True,
    help="Secret(s) to seal (YAML or JSON); - for stdin.",
)
@click.option("--cert", type=EXISTING_FILE, help="The controller's sealing certificate (PEM).")
@click.option(
    "--controller", metavar="URL", help="Fetch the newest certificate from the controller."
)
@click.option(
    "--scope",
    type=click.Choice(_SCOPES),
    help="Where the result may be unsealed [default: from the Secret's annotations, else strict].",
)
@click.option(
    "-o", "--output", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True
)
@click.option("--namespace", "-n", help="Namespace of Secrets that name none (and of --raw).")
@click.option("--raw", is_flag=True, help="Seal one value (stdin or --from-file), print it alone.")
@click.option("--name", help="Secret name for --raw (strict scope).")
@click.option("--from-file", type=EXISTING_FILE, help="The value for --raw.")
@click.option(
    "--recovery-unseal",
    is_flag=True,
    help="Decrypt SealedSecrets offline into Secrets (disaster recovery).",
)
@click.option(
    "--recovery-private-key",
    "private_key_files",
    multiple=True,
    type=EXISTING_FILE,
    help="Private key PEM (or backed-up key Secrets YAML); repeatable.",
)
@click.option(
    "--re-encrypt",
    is_flag=True,
    help="Seal SealedSecrets again to the newest key (through --controller, or offline with "
    "--recovery-private-key and --cert).",
)
@click.option("--fetch-cert", is_flag=True, help="Print the controller's certificate.")
def seal_command(
    input_file: str,
    cert: Path | None,
    controller: str | None,
    scope: str | None,
    output: str,
    namespace: str | None,
    raw: bool,
    name: str | None,
    from_file: Path | None,
    recovery_unseal: bool,
    private_key_files: tuple[Path, ...],
    re_encrypt: bool,
    fetch_cert: bool,
) -> None:
    """Seal Secrets for a cluster's Sealed Secrets controller (kubeseal compatible)."""
    if cert is not None and controller:
        raise click.UsageError("--cert and --controller are alternatives; give one")
    modes = [
        m
        for m, on in (
            ("--raw", raw),
            ("--recovery-unseal", recovery_unseal),
            ("--re-encrypt", re_encrypt),
            ("--fetch-cert", fetch_cert),
        )
        if on
    ]
    if len(modes) > 1:
        raise click.UsageError(f"{' and '.join(modes)} cannot be combined")
    try:
        if fetch_cert:
            if not controller:
                raise click.UsageError("--fetch-cert needs --controller URL")
            pem = _fetch(controller, "/v1/cert.pem")
            _public_key_from_pem(pem, controller)
            click.echo(pem.decode(), nl=False)
        elif raw:
            _seal_raw(cert, controller, scope, namespace, name, from_file)
        elif recovery_unseal:
            _recovery_unseal(input_file, private_key_files, output)
        elif re_encrypt:
            _re_encrypt(input_file, cert, controller, private_key_files, output)
        else:
            _seal_secrets(input_file, cert, controller, scope, output, namespace)
    except TetherError as exc:
        raise click.ClickException(str(exc)) from None


def _seal_raw(
    cert: Path | None,
    controller: str | None,
    scope_name: str | None,
    namespace: str | None,
    name: str | None,
    from_file: Path | None,
) -> None:
    scope = Scope.parse(scope_name or "strict")
    if scope is not Scope.CLUSTER_WIDE and not namespace:
        raise click.UsageError(f"--raw with {scope.value} scope needs --namespace")
    if scope is Scope.STRICT and not name:
        raise click.UsageError("--raw with strict scope needs --name")
    value = from_file.read_bytes() if from_file is not None else sys.stdin.buffer.read()
    key = _public_key(cert, controller)
    sealed = seal_value(key, value, scope=scope, namespace=namespace or "", name=name or "")
    click.echo(sealed, nl=False)


def _seal_secrets(
    input_file: str,
    cert: Path | None,
    controller: str | None,
    scope_name: str | None,
    output: str,
    namespace: str | None,
) -> None:
    objects = _documents(_read_input(input_file), input_file)
    secrets = [PlainSecret.from_object(obj, namespace or "default") for obj in objects]
    key = _public_key(cert, controller)
    scope = Scope.parse(scope_name) if scope_name else None
    _emit([seal_secret(key, secret, scope) for secret in secrets], output)


def _private_keys(files: tuple[Path, ...]) -> list[rsa.RSAPrivateKey]:
    if not files:
        raise click.UsageError("give the private key: --recovery-private-key FILE")
    keys: list[rsa.RSAPrivateKey] = []
    for path in files:
        keys.extend(load_private_keys(path.read_bytes(), str(path)))
    return keys


def _sealed_inputs(input_file: str) -> list[dict[str, Any]]:
    objects = _documents(_read_input(input_file), input_file)
    for obj in objects:
        if obj.get("kind") != "SealedSecret":
            raise click.ClickException(
                f"{input_file}: expected SealedSecrets, got kind {obj.get('kind')!r}"
            )
    return objects


def _recovery_unseal(input_file: str, key_files: tuple[Path, ...], output: str) -> None:
    from tether.secrets.sealed import secret_from_sealed

    keys = _private_keys(key_files)
    secrets = []
    for sealed in _sealed_inputs(input_file):
        data = unseal_data(keys, sealed)
        secrets.append(secret_from_sealed(sealed, data, with_owner=False))
    _emit(secrets, output)


def _re_encrypt(
    input_file: str,
    cert: Path | None,
    controller: str | None,
    key_files: tuple[Path, ...],
    output: str,
) -> None:
    objects = _sealed_inputs(input_file)
    if not key_files:
        if not controller:
            raise click.UsageError(
                "--re-encrypt needs --controller URL (the controller re-seals), or "
                "--recovery-private-key with --cert/--controller to re-seal offline"
            )
        rotated = [orjson.loads(_fetch(controller, "/v1/rotate", orjson.dumps(o))) for o in objects]
        _emit(rotated, output)
        return
    keys = _private_keys(key_files)
    newest = _public_key(cert, controller)
    _emit([reseal(keys, newest, sealed) for sealed in objects], output)


_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def parse_duration(text: str) -> dt.timedelta:
    """``720h``, ``30d``, ``1h30m``, ``0``: Go-style durations plus days."""
    if text.strip() == "0":
        return dt.timedelta(0)
    match = _DURATION.match(text.strip())
    if not match or not any(match.groups()):
        raise click.BadParameter(f"{text!r} is not a duration like 720h or 30d")
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return dt.timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


@click.command("secrets-controller")
@click.option("--kubeconfig", type=EXISTING_FILE)
@click.option(
    "--control-namespace",
    default="kube-system",
    show_default=True,
    help="Where the sealing keys live (Bitnami's default namespace).",
)
@click.option(
    "--key-renew-period",
    default="720h",
    show_default=True,
    help="Add a new sealing key this often (0: never). Old keys are kept.",
)
@click.option(
    "--key-cutoff-time",
    help="Renew now if the newest key predates this time (RFC 3339).",
)
@click.option(
    "--listen",
    default="127.0.0.1:8080",
    show_default=True,
    help="Address of the /v1/cert.pem endpoint.",
)
@click.option("--workers", default=8, show_default=True, help="SealedSecrets unsealed at once.")
def secrets_controller_command(
    kubeconfig: Path | None,
    control_namespace: str,
    key_renew_period: str,
    key_cutoff_time: str | None,
    listen: str,
    workers: int,
) -> None:
    """Run the Sealed Secrets controller and its certificate endpoint."""
    from tether.secrets.controller import ControllerOptions

    cutoff = None
    if key_cutoff_time:
        try:
            cutoff = dt.datetime.fromisoformat(key_cutoff_time.replace("Z", "+00:00"))
        except ValueError:
            raise click.BadParameter(
                f"{key_cutoff_time!r} is not an RFC 3339 time", param_hint="--key-cutoff-time"
            ) from None
        if cutoff.tzinfo is None:
            cutoff = cutoff.replace(tzinfo=dt.UTC)
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit():
        raise click.BadParameter("expected HOST:PORT", param_hint="--listen")
    options = ControllerOptions(
        control_namespace=control_namespace,
        renew_period=parse_duration(key_renew_period) or None,
        key_cutoff=cutoff,
        workers=workers,
    )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        asyncio.run(_serve_controller(kubeconfig, options, host, int(port)))
    except KeyboardInterrupt:
        # Ctrl-C is how a foreground controller is stopped: exit quietly
        return
    except TetherError as exc:
        raise click.ClickException(str(exc)) from None


async def _serve_controller(kubeconfig: Path | None, options: Any, host: str, port: int) -> None:
    import uvicorn

    from tether.secrets.certserver import cert_app
    from tether.secrets.controller import SealedSecretsController
    from tether.secrets.kubeapi import ClusterKubeApi

    api = ClusterKubeApi.from_kubeconfig(kubeconfig)
    controller = SealedSecretsController(api, options)
    server = uvicorn.Server(
        uvicorn.Config(cert_app(lambda: controller.ring), host=host, port=port, log_level="warning")
    )
    try:
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(controller.run())
            tasks.create_task(server.serve())
    finally:
        await api.close()
