"""``tether install``: put Tether on a real cluster (the objects: :mod:`tether.install`).

Server-side apply with field manager ``tether`` of the control namespace (``argocd`` by default,
so Argo CD Applications apply unchanged), the CRDs, RBAC (cluster-wide, or ``--namespaced`` with
``--managed-namespace``), the controller and Sealed Secrets controller Deployments and their
Services; then it waits for the CRDs and for the controller's initial admin password, and prints
how to sign in. ``--dry-run`` asks the API server to validate everything without storing it,
``--print`` writes the YAML and touches nothing, ``--uninstall`` removes what it installed.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import click

from tether.cluster.client import ClusterClient
from tether.cluster.config import ClientSettings
from tether.errors import TetherError
from tether.install import apply
from tether.install.manifests import InstallOptions, install_manifests, manifests_yaml
from tether.install.names import (
    API_PORT,
    CONTROLLER_NAME,
    DEFAULT_IMAGE,
    INITIAL_ADMIN_SECRET,
    SERVER_NAME,
)
from tether.names import DEFAULT_NAMESPACE


def sign_in_lines(namespace: str, generated: str | None, waited: bool) -> list[str]:
    """How to sign in: the generated admin password (as ``argocd admin initial-password``
    prints it: the person installing is the admin) and the command that reads it again."""
    read = (
        f"kubectl -n {namespace} get secret {INITIAL_ADMIN_SECRET} "
        "-o jsonpath='{.data.password}' | base64 -d; echo"
    )
    if generated:
        password = [f"  password:  {generated}", f"  read again: {read}"]
    elif waited:
        password = [f"  password:  the one set before ({INITIAL_ADMIN_SECRET} was deleted)"]
    else:
        password = [f"  password:  {read}   (once the controller has started)"]
    return [
        f"Tether is installed in namespace {namespace}. Sign in as admin:",
        *password,
        f"  reach it:  kubectl -n {namespace} port-forward svc/{SERVER_NAME} 8080:{API_PORT}",
        "  sign in:   tether login http://localhost:8080 --username admin",
        f"Add an Application: kubectl apply -n {namespace} -f <application.yaml>",
    ]


async def _run(client: ClusterClient, options: InstallOptions, flags: dict[str, Any]) -> None:
    manifests = install_manifests(options)
    stale = apply.stale_objects(manifests, _other_modes(options), options.namespace)
    if flags["uninstall"]:
        click.echo(f"removing Tether from {client.server}")
        # what another mode left behind goes too (managed namespaces' Roles need their flags)
        everything = manifests + stale
        await apply.uninstall(client, everything, delete_crds=flags["delete_crds"], echo=click.echo)
        return
    dry_run = flags["dry_run"]
    click.echo(f"installing Tether on {client.server}" + (" (dry run)" if dry_run else ""))
    await apply.check_namespaces_exist(client, options.managed_namespaces)
    await apply.install(
        client,
        manifests,
        adopt=flags["adopt"],
        dry_run=dry_run,
        timeout=flags["timeout"],
        stale=stale,
        echo=click.echo,
    )
    if dry_run:
        return
    generated = None
    if flags["wait"]:
        click.echo(f"waiting for {CONTROLLER_NAME} to write the admin password ...")
        generated = await apply.wait_for_admin_password(
            client, options.namespace, flags["wait_timeout"]
        )
    click.echo("\n".join(sign_in_lines(options.namespace, generated, flags["wait"])))


def _other_modes(options: InstallOptions) -> list[dict[str, Any]]:
    """What the other install modes of this namespace apply (for switching between them)."""
    namespaced = replace(options, namespaced=True, managed_namespaces=())
    cluster_wide = replace(options, namespaced=False, secrets_controller=True)
    return install_manifests(namespaced) + install_manifests(cluster_wide)


def _options(
    namespace: str, image: str, namespaced: bool, managed: tuple[str, ...], secrets: bool
) -> InstallOptions:
    if managed and not namespaced:
        raise click.UsageError("--managed-namespace needs --namespaced")
    if namespaced and not managed:
        raise click.UsageError(
            "--namespaced needs at least one --managed-namespace (where applications deploy)"
        )
    return InstallOptions(
        namespace=namespace,
        image=image,
        namespaced=namespaced,
        managed_namespaces=tuple(dict.fromkeys(managed)),
        secrets_controller=secrets,
    )


@click.command("install")
@click.option("--kubeconfig", type=click.Path(dir_okay=False), help="Kubeconfig file.")
@click.option("--context", help="Kubeconfig context (default: the current one).")
@click.option(
    "--namespace",
    "-n",
    default=DEFAULT_NAMESPACE,
    show_default=True,
    help="Control namespace: where Applications, AppProjects and the controller live.",
)
@click.option(
    "--image",
    default=DEFAULT_IMAGE,
    show_default=True,
    help="Tether's image (build one: docs/image.md). A new one upgrades in place.",
)
@click.option(
    "--namespaced",
    is_flag=True,
    help="Manage only the --managed-namespace namespaces, with Roles there (no cluster-wide "
    "write access; no Sealed Secrets controller).",
)
@click.option(
    "--managed-namespace",
    "managed",
    multiple=True,
    metavar="NAMESPACE",
    help="A namespace the namespaced controller deploys to (repeatable; it must exist).",
)
@click.option(
    "--secrets-controller/--no-secrets-controller",
    default=True,
    show_default=True,
    help="Install the Sealed Secrets controller and its CRD.",
)
@click.option("--adopt", is_flag=True, help="Take over objects that are not Tether's (Argo CD's).")
@click.option("--dry-run", is_flag=True, help="Validate with the API server; change nothing.")
@click.option("--print", "print_only", is_flag=True, help="Write the YAML to stdout instead.")
@click.option(
    "--uninstall", is_flag=True, help="Remove what tether install applies (CRDs and data kept)."
)
@click.option(
    "--delete-crds",
    is_flag=True,
    help="With --uninstall: also delete the CRDs and the control namespace, and with them "
    "every Application, AppProject and SealedSecret.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(0, 3600),
    default=60.0,
    show_default=True,
    help="Seconds to wait for the CRDs.",
)
@click.option(
    "--wait/--no-wait",
    default=True,
    show_default=True,
    help="Wait for the controller to write the initial admin password.",
)
@click.option(
    "--wait-timeout",
    type=click.FloatRange(0, 3600),
    default=300.0,
    show_default=True,
    help="Seconds to wait for the admin password (the image is pulled and started first).",
)
def install_command(
    kubeconfig: str | None,
    context: str | None,
    namespace: str,
    image: str,
    namespaced: bool,
    managed: tuple[str, ...],
    secrets_controller: bool,
    print_only: bool,
    **flags: Any,
) -> None:
    """Install (or upgrade, or --uninstall) Tether: CRDs, RBAC, controller, on a cluster."""
    options = _options(namespace, image, namespaced, managed, secrets_controller)
    if flags["delete_crds"] and not flags["uninstall"]:
        raise click.UsageError("--delete-crds goes with --uninstall")
    if print_only:
        click.echo(manifests_yaml(install_manifests(options)), nl=False)
        return

    async def main() -> None:
        settings = ClientSettings(field_manager=apply.FIELD_MANAGER)
        async with ClusterClient.from_kubeconfig(kubeconfig, context, settings) as client:
            await _run(client, options, flags)

    try:
        asyncio.run(main())
    except TetherError as exc:
        raise click.ClickException(exc.message) from None
