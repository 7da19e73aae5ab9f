"""``tether flux``: the verbs Flux users type, on the cluster of a kubeconfig as ``flux`` does.

``get`` prints Kustomizations and GitRepositories in ``flux get``'s columns; ``reconcile`` sets
``reconcile.fluxcd.io/requestedAt`` and waits until the controller echoes it in
``status.lastHandledReconcileAt``; ``suspend`` and ``resume`` merge-patch ``spec.suspend``
(``resume`` then asks for a reconcile and waits, as Flux); ``build`` lives in
:mod:`tether.cli.flux_build`. As in Flux, progress lines go to standard error with Flux's marks
(``►`` ``✔`` ``◎`` ``✗``), tables to standard output; every failure is one ``✗`` line.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import click

from tether.cli.api import ApiCommand
from tether.cli.output import print_table
from tether.cluster.client import ClusterClient
from tether.cluster.discovery import ResourceInfo
from tether.cluster.errors import NotFound, UnknownKind
from tether.durations import InvalidDurationError, parse_duration
from tether.errors import TetherError
from tether.names import (
    FLUX_GIT_REPOSITORY,
    FLUX_KUSTOMIZATION,
    FLUX_KUSTOMIZE_API_VERSION,
    FLUX_RECONCILE_REQUEST_ANNOTATION,
    FLUX_SOURCE_API_VERSION,
)

T = TypeVar("T")

#: the namespace the ``flux`` CLI reads by default
FLUX_NAMESPACE = "flux-system"
DEFAULT_TIMEOUT = "5m0s"
#: how often a waiting verb reads the object again (Flux polls every 2 s)
POLL_INTERVAL = 0.5

#: the words Flux takes for each kind
KUSTOMIZATION_WORDS = ("kustomization", "kustomizations", "ks")
SOURCE_WORDS = ("source", "sources")
#: kinds of Flux's CLI that ``tether flux`` does not handle (yet), by the word Flux users type
NOT_HANDLED = {
    **dict.fromkeys(("helmrelease", "helmreleases", "hr"), "HelmRelease"),
    "helm": "HelmRepository",
    "chart": "HelmChart",
    "oci": "OCIRepository",
    "bucket": "Bucket",
    **dict.fromkeys(("receiver", "receivers", "rcv"), "Receiver"),
    **dict.fromkeys(("alert", "alerts"), "Alert"),
    **dict.fromkeys(("alert-provider", "alert-providers"), "Provider"),
    **dict.fromkeys(("image", "images"), "image automation"),
    **dict.fromkeys(("artifact", "artifacts", "artifactgenerator"), "ArtifactGenerator"),
    "all": "'all'",
}


class FluxError(click.ClickException):
    """A verb failed: printed as Flux prints it (``✗ message``), exit code 1."""

    def show(self, file: Any = None) -> None:
        click.echo(f"✗ {self.format_message()}", err=True)


class FluxCommand(ApiCommand):
    """A verb whose failures, a bug included, end as one ✗ line (``TETHER_DEBUG=1``: the
    traceback)."""

    failure = FluxError


def say(line: str) -> None:
    """One progress line, on standard error as Flux's logger writes them."""
    click.echo(line, err=True)


@dataclass(frozen=True)
class FluxKind:
    """A Flux kind the verbs handle, with Flux's words for it."""

    kind: str
    api_version: str
    #: how Flux's suspend and resume lines name it
    human: str
    #: what a successful reconcile says before the revision
    done: str
    #: the status field holding the revision
    revision_path: tuple[str, ...]

    def revision(self, obj: Mapping[str, Any]) -> str:
        value: Any = obj.get("status") or {}
        for key in self.revision_path:
            value = value.get(key) if isinstance(value, Mapping) else None
        return str(value or "")


KUSTOMIZATION = FluxKind(
    FLUX_KUSTOMIZATION, FLUX_KUSTOMIZE_API_VERSION, "kustomization", "applied revision",
    ("lastAppliedRevision",),
)  # fmt: skip
GIT_REPOSITORY = FluxKind(
    FLUX_GIT_REPOSITORY, FLUX_SOURCE_API_VERSION, "source git", "fetched revision",
    ("artifact", "revision"),
)  # fmt: skip


# ---- the cluster -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """Where a verb acts: the kubeconfig, its context and the namespace (``-n``)."""

    kubeconfig: str | None
    context: str | None
    namespace: str


def cluster_flags(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--kubeconfig``, ``--context`` and ``-n/--namespace`` (default ``flux-system``), given to
    the command as one ``target``."""

    @functools.wraps(command)
    def with_target(
        *args: Any, kubeconfig: str | None, kube_context: str | None, namespace: str, **kw: Any
    ) -> Any:
        return command(*args, target=Target(kubeconfig, kube_context, namespace), **kw)

    options = [
        click.option(
            "--kubeconfig",
            type=click.Path(dir_okay=False),
            help="Kubeconfig file (default: $KUBECONFIG, then ~/.kube/config).",
        ),
        click.option("--context", "kube_context", help="Kubeconfig context (default: current)."),
        click.option(
            "-n",
            "--namespace",
            default=FLUX_NAMESPACE,
            show_default=True,
            help="Namespace of the Flux objects.",
        ),
    ]
    wrapped: Callable[..., Any] = with_target
    for option in reversed(options):
        wrapped = option(wrapped)
    return wrapped


def run_on_cluster(target: Target, work: Callable[[ClusterClient], Coroutine[Any, Any, T]]) -> T:
    """``work`` with a client of the target's kubeconfig; a Tether error becomes one ✗ line."""

    async def main() -> T:
        async with ClusterClient.from_kubeconfig(target.kubeconfig, target.context) as client:
            return await work(client)

    try:
        return asyncio.run(main())
    except (click.ClickException, click.exceptions.Exit, click.Abort):
        raise
    except TetherError as exc:
        raise FluxError(exc.message) from None


async def resource(client: ClusterClient, kind: FluxKind) -> ResourceInfo:
    """The kind's resource type; a cluster without the CRD is named."""
    try:
        return await client.resource_for(kind.api_version, kind.kind)
    except UnknownKind:
        raise FluxError(
            f"the cluster does not serve {kind.api_version} {kind.kind}: install Tether "
            "(tether install) or Flux's CRDs"
        ) from None


async def get_object(
    client: ClusterClient, kind: FluxKind, name: str, namespace: str
) -> dict[str, Any]:
    """One object; not there is one ✗ line."""
    info = await resource(client, kind)
    try:
        return await client.get(info, name, namespace)
    except NotFound:
        raise not_found(kind, name, namespace) from None


def not_found(kind: FluxKind, name: str, namespace: str) -> FluxError:
    return FluxError(f"{kind.kind} '{name}' not found in {namespace} namespace")


def ready_condition(obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for condition in (obj.get("status") or {}).get("conditions") or ():
        if isinstance(condition, Mapping) and condition.get("type") == "Ready":
            return condition
    return None


def _suspended(obj: Mapping[str, Any]) -> bool:
    return (obj.get("spec") or {}).get("suspend") is True


# ---- kinds and their words ---------------------------------------------------------------------


class KindGroup(click.Group):
    """The kinds a verb takes: Flux's aliases resolve (``ks``); an unknown kind is one ✗ line
    listing the kinds served."""

    command_class = FluxCommand

    def __init__(self, name: str, aliases: Mapping[str, str], **attrs: Any) -> None:
        super().__init__(name, **attrs)
        self.aliases = dict(aliases)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return super().get_command(ctx, self.aliases.get(cmd_name, cmd_name))

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        word = args[0] if args else ""
        if word and not word.startswith("-") and self.get_command(ctx, word) is None:
            kinds = ", ".join(self.list_commands(ctx))
            message = f"unknown kind '{word}' for '{ctx.command_path}': it takes {kinds}"
            if word.lower() in NOT_HANDLED:
                message += f" ({NOT_HANDLED[word.lower()]} is not handled by tether flux yet)"
            raise FluxError(message)
        return super().resolve_command(ctx, args)


def kind_group(
    name: str, summary: str, make: Callable[[FluxKind], click.Command], *, plural: bool = False
) -> KindGroup:
    """``name kustomization`` and ``name source git``, each command made by ``make``; ``get``
    spells them ``kustomizations`` and ``sources`` (``plural``), as Flux."""
    ks_name, source_name = ("kustomizations", "sources") if plural else ("kustomization", "source")
    aliases = {
        **dict.fromkeys(KUSTOMIZATION_WORDS, ks_name),
        **dict.fromkeys(SOURCE_WORDS, source_name),
    }
    group = KindGroup(name, aliases, help=summary)
    group.add_command(make(KUSTOMIZATION), ks_name)
    sources = KindGroup(
        source_name,
        dict.fromkeys(("gitrepository", "gitrepositories"), "git"),
        help="Flux sources (Tether serves GitRepository: git).",
    )
    sources.add_command(make(GIT_REPOSITORY), "git")
    group.add_command(sources)
    return group


def _timeout(ctx: click.Context, param: click.Parameter, value: str) -> float:
    try:
        seconds = parse_duration(value)
    except InvalidDurationError as exc:
        raise click.BadParameter(exc.message) from None
    if seconds <= 0:
        raise click.BadParameter("must be longer than 0s")
    return seconds


timeout_option = click.option(
    "--timeout",
    default=DEFAULT_TIMEOUT,
    show_default=True,
    callback=_timeout,
    help="How long to wait for the controller (a Go duration: 30s, 5m).",
)


# ---- get ---------------------------------------------------------------------------------------


async def _list(
    client: ClusterClient, kind: FluxKind, namespace: str | None, name: str | None
) -> list[dict[str, Any]]:
    info = await resource(client, kind)
    selector = f"metadata.name={name}" if name else None
    return (await client.list(info, namespace, field_selector=selector)).items


def status_row(kind: FluxKind, obj: Mapping[str, Any], with_namespace: bool) -> list[str]:
    """NAME, REVISION, SUSPENDED, READY, MESSAGE (NAMESPACE first with ``-A``), as ``flux get``:
    an object without a Ready condition is ``False``, "waiting to be reconciled"."""
    meta = obj.get("metadata") or {}
    ready = ready_condition(obj)
    status, message = ("False", "waiting to be reconciled")
    if ready is not None:
        status, message = str(ready.get("status") or ""), str(ready.get("message") or "")
    row = [
        str(meta.get("name") or ""),
        kind.revision(obj),
        "True" if _suspended(obj) else "False",
        status,
        " ".join(message.split()),
    ]
    return [str(meta.get("namespace") or ""), *row] if with_namespace else row


def _get_command(kind: FluxKind) -> click.Command:
    @click.command(
        cls=FluxCommand, help=f"Print the status of {kind.kind}s (all of the namespace, or NAME)."
    )
    @click.argument("name", required=False)
    @click.option("-A", "--all-namespaces", is_flag=True, help="Every namespace.")
    @cluster_flags
    def get(target: Target, name: str | None, all_namespaces: bool) -> None:
        namespace = None if all_namespaces else target.namespace
        items = run_on_cluster(target, lambda client: _list(client, kind, namespace, name))
        if not items:
            # as Flux: said on standard error, and not a failure
            where = "any" if all_namespaces else f'"{target.namespace}"'
            what = f"{kind.kind} object '{name}' not" if name else f"no {kind.kind} objects"
            say(f"✗ {what} found in {where} namespace")
            return
        columns = ["NAME", "REVISION", "SUSPENDED", "READY", "MESSAGE"]
        if all_namespaces:
            columns.insert(0, "NAMESPACE")
        print_table(columns, [status_row(kind, item, all_namespaces) for item in items])

    return get


# ---- reconcile, suspend, resume ----------------------------------------------------------------


def request_time() -> str:
    """Now, as Flux writes ``requestedAt`` (RFC 3339 with sub-seconds)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class FluxVerbs:
    """What reconcile, suspend and resume do on one cluster, printing Flux's lines."""

    def __init__(self, client: ClusterClient, timeout: float = 300.0) -> None:
        self.client = client
        self.timeout = timeout

    async def reconcile(self, kind: FluxKind, name: str, namespace: str, with_source: bool) -> None:
        obj = await get_object(self.client, kind, name, namespace)
        if _suspended(obj):
            raise FluxError("resource is suspended")
        if with_source:
            ref = (obj.get("spec") or {}).get("sourceRef") or {}
            if ref.get("kind") != FLUX_GIT_REPOSITORY:
                raise FluxError(
                    f"--with-source: {ref.get('kind')} sources are not handled by tether flux yet"
                )
            source_namespace = str(ref.get("namespace") or namespace)
            await self.reconcile(GIT_REPOSITORY, str(ref.get("name")), source_namespace, False)
        say(f"► annotating {kind.kind} {name} in {namespace} namespace")
        requested = request_time()
        await self._patch(kind, name, namespace, {"metadata": _annotation(requested)})
        say(f"✔ {kind.kind} annotated")
        await self._wait_and_report(kind, name, namespace, requested)

    async def suspend(self, kind: FluxKind, name: str, namespace: str) -> None:
        await get_object(self.client, kind, name, namespace)
        say(f"► suspending {kind.human} {name} in {namespace} namespace")
        await self._patch(kind, name, namespace, {"spec": {"suspend": True}})
        say(f"✔ {kind.human} suspended")

    async def resume(self, kind: FluxKind, name: str, namespace: str) -> None:
        await get_object(self.client, kind, name, namespace)
        say(f"► resuming {kind.human} {name} in {namespace} namespace")
        requested = request_time()
        patch = {"metadata": _annotation(requested), "spec": {"suspend": False}}
        await self._patch(kind, name, namespace, patch)
        say(f"✔ {kind.human} resumed")
        await self._wait_and_report(kind, name, namespace, requested)

    async def _patch(self, kind: FluxKind, name: str, namespace: str, patch: Any) -> None:
        info = await resource(self.client, kind)
        try:
            await self.client.patch(info, name, patch, namespace)
        except NotFound:
            raise not_found(kind, name, namespace) from None

    async def _wait_and_report(
        self, kind: FluxKind, name: str, namespace: str, requested: str
    ) -> None:
        say(f"◎ waiting for {kind.kind} reconciliation")
        obj = await self._handled(kind, name, namespace, requested)
        say(f"✔ {kind.kind} reconciliation completed")
        ready = ready_condition(obj)
        if ready is None:
            raise FluxError("status can't be determined")
        if ready.get("status") != "True":
            raise FluxError(f"{kind.kind} reconciliation failed: '{ready.get('message') or ''}'")
        say(f"✔ {kind.done} {kind.revision(obj)}")

    async def _handled(
        self, kind: FluxKind, name: str, namespace: str, requested: str
    ) -> dict[str, Any]:
        """The object once its controller handled the request made at ``requested``."""
        deadline = time.monotonic() + self.timeout
        while True:
            obj = await get_object(self.client, kind, name, namespace)
            if (obj.get("status") or {}).get("lastHandledReconcileAt") == requested:
                return obj
            if time.monotonic() >= deadline:
                raise FluxError(
                    f"timed out after {self.timeout:g}s waiting for {kind.kind} "
                    f"'{namespace}/{name}' to be reconciled (is the controller running?)"
                )
            await asyncio.sleep(POLL_INTERVAL)


def _annotation(requested: str) -> dict[str, Any]:
    return {"annotations": {FLUX_RECONCILE_REQUEST_ANNOTATION: requested}}


def _reconcile_command(kind: FluxKind) -> click.Command:
    def reconcile(target: Target, name: str, timeout: float, with_source: bool = False) -> None:
        run_on_cluster(
            target,
            lambda client: FluxVerbs(client, timeout).reconcile(
                kind, name, target.namespace, with_source
            ),
        )

    command: Callable[..., Any] = cluster_flags(reconcile)
    if kind is KUSTOMIZATION:
        command = click.option(
            "--with-source", is_flag=True, help="Reconcile its GitRepository first."
        )(command)
    command = timeout_option(click.argument("name")(command))
    summary = f"Ask the controller to reconcile a {kind.kind} now, and wait until it did."
    return click.command(cls=FluxCommand, help=summary)(command)


def _suspend_command(kind: FluxKind) -> click.Command:
    @click.command(
        cls=FluxCommand,
        help=f"Suspend a {kind.kind}: the controller leaves it alone (spec.suspend).",
    )
    @click.argument("name")
    @cluster_flags
    def suspend(target: Target, name: str) -> None:
        run_on_cluster(
            target, lambda client: FluxVerbs(client).suspend(kind, name, target.namespace)
        )

    return suspend


def _resume_command(kind: FluxKind) -> click.Command:
    @click.command(
        cls=FluxCommand, help=f"Resume a suspended {kind.kind}, and wait for its reconcile."
    )
    @click.argument("name")
    @timeout_option
    @cluster_flags
    def resume(target: Target, name: str, timeout: float) -> None:
        run_on_cluster(
            target, lambda client: FluxVerbs(client, timeout).resume(kind, name, target.namespace)
        )

    return resume


@click.group("flux")
def flux_group() -> None:
    """Flux's verbs on Kustomizations and GitRepositories, as the flux CLI does them.

    Talks to the cluster of the kubeconfig (no Tether server needed); -n defaults to
    flux-system, as Flux. HelmReleases and other sources are not handled yet.
    """


flux_group.add_command(
    kind_group("get", "Print the status of Flux objects.", _get_command, plural=True)
)
flux_group.add_command(kind_group("reconcile", "Reconcile a Flux object now.", _reconcile_command))
flux_group.add_command(kind_group("suspend", "Suspend a Flux object.", _suspend_command))
flux_group.add_command(kind_group("resume", "Resume a suspended Flux object.", _resume_command))
