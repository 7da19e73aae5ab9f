"""Building an Application from the flags of ``tether app create`` and ``tether app set``.

Flags are the names argocd uses; ``create`` starts from a file when one is given and puts the
flags on top of it, ``set`` changes only the fields given.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import click

from tether.cli.api import CliError, object_to_create
from tether.cli.options import parse_pairs
from tether.names import APPLICATION, DEFAULT_PROJECT

#: ``--sync-policy`` values: argocd's ``automated`` and ``none`` (``manual`` is ``none``, or
#: with ``--self-heal`` the production mode)
SYNC_POLICIES = ("automated", "manual", "none")
NEEDS_AUTOMATED = (
    "--auto-prune and --self-heal need automated sync or manual sync with auto-revert: add "
    "--sync-policy automated (new commits deploy, drift is reverted) or --sync-policy manual "
    "--self-heal (new commits wait for tether app sync, drift is reverted to the last sync)"
)
NONE_WITH_SELF_HEAL = (
    "--sync-policy none turns off automated sync and drift revert alike; for manual sync with "
    "drift reverted to the last sync use --sync-policy manual --self-heal"
)


@dataclass
class SpecChanges:
    """Spec fields given on the command line (``None``: leave as it is)."""

    repo: str | None = None
    path: str | None = None
    revision: str | None = None
    dest_server: str | None = None
    dest_name: str | None = None
    dest_namespace: str | None = None
    project: str | None = None
    sync_policy: str | None = None
    auto_prune: bool | None = None
    self_heal: bool | None = None
    sync_options: tuple[str, ...] = ()
    helm_parameters: tuple[tuple[str, str], ...] = ()

    def empty(self) -> bool:
        return self == SpecChanges()

    def apply(self, app: dict[str, Any]) -> None:
        """Write the given fields into ``app["spec"]`` (in place)."""
        spec = app.setdefault("spec", {})
        if self.project is not None:
            spec["project"] = self.project
        source = spec.setdefault("source", {}) if not spec.get("sources") else spec["sources"][0]
        for key, value in (
            ("repoURL", self.repo),
            ("path", self.path),
            ("targetRevision", self.revision),
        ):
            if value is not None:
                source[key] = value
        if self.helm_parameters:
            params = source.setdefault("helm", {}).setdefault("parameters", [])
            for key, value in self.helm_parameters:
                params[:] = [p for p in params if p.get("name") != key]
                params.append({"name": key, "value": value})
        self._apply_destination(spec)
        self._apply_sync_policy(spec)

    def _apply_destination(self, spec: dict[str, Any]) -> None:
        dest = spec.setdefault("destination", {})
        # server and name are alternatives: setting one drops the other, as argocd does
        if self.dest_server is not None:
            dest["server"] = self.dest_server
            dest.pop("name", None)
        if self.dest_name is not None:
            dest["name"] = self.dest_name
            dest.pop("server", None)
        if self.dest_namespace is not None:
            dest["namespace"] = self.dest_namespace

    def _apply_sync_policy(self, spec: dict[str, Any]) -> None:
        policy = spec.get("syncPolicy") or {}
        self._apply_automated(policy)
        if self.sync_options:
            options = policy.setdefault("syncOptions", [])
            for option in self.sync_options:
                key = option.partition("=")[0]
                options[:] = [o for o in options if o.partition("=")[0] != key]
                options.append(option)
        if policy:
            spec["syncPolicy"] = policy
        else:
            spec.pop("syncPolicy", None)

    def _apply_automated(self, policy: dict[str, Any]) -> None:
        """``syncPolicy.automated`` from ``--sync-policy``, ``--auto-prune`` and ``--self-heal``.

        ``manual`` is argocd's ``none`` unless ``--self-heal`` comes with it: then it is the
        production mode, ``automated: {enabled: false, selfHeal: true}`` (new commits wait for
        a sync, drift is reverted to the revision of the last sync)."""
        auto_revert = self.sync_policy == "manual" and bool(self.self_heal)
        if self.sync_policy == "none" and self.self_heal:
            raise CliError(NONE_WITH_SELF_HEAL)
        if self.sync_policy in ("none", "manual") and not auto_revert:
            policy.pop("automated", None)
        elif self.sync_policy is not None:
            automated = policy.get("automated") or {}
            policy["automated"] = automated
            if auto_revert:
                automated["enabled"] = False
            else:
                # Argo CD: a missing ``enabled`` means on
                automated.pop("enabled", None)
        automated = policy.get("automated")
        if automated is None:
            # turning prune or self-heal off where nothing is automated changes nothing
            if self.auto_prune or self.self_heal:
                raise CliError(NEEDS_AUTOMATED)
            return
        if self.auto_prune is not None:
            automated["prune"] = self.auto_prune
        if self.self_heal is not None:
            automated["selfHeal"] = self.self_heal


def spec_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The spec flags shared by ``app create`` and ``app set``."""
    options = [
        click.option("--repo", help="Git repository URL."),
        click.option("--path", help="Path of the manifests in the repository."),
        click.option("--revision", help="Target revision: branch, tag or commit (default HEAD)."),
        click.option("--dest-server", help="Destination cluster API URL."),
        click.option("--dest-name", help="Destination cluster name (instead of --dest-server)."),
        click.option("--dest-namespace", help="Destination namespace."),
        click.option("--project", help="AppProject (create: default 'default')."),
        click.option(
            "--sync-policy",
            type=click.Choice(SYNC_POLICIES),
            help="automated: deploy new commits; none or manual: wait for a sync (manual "
            "--self-heal: and revert drift to the last sync).",
        ),
        click.option("--auto-prune/--no-auto-prune", default=None, help="Automated prune."),
        click.option(
            "--self-heal/--no-self-heal",
            default=None,
            help="Revert drift (automated: to the target; manual: to the last sync).",
        ),
        click.option("--sync-option", "sync_options", multiple=True, help="Sync option KEY=VALUE."),
        click.option(
            "-p",
            "--parameter",
            "parameters",
            multiple=True,
            metavar="KEY=VALUE",
            help="Helm parameter (repeatable).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def changes_from_flags(kwargs: dict[str, Any]) -> SpecChanges:
    """The SpecChanges of the flags added by :func:`spec_options` (removed from ``kwargs``)."""
    return SpecChanges(
        repo=kwargs.pop("repo"),
        path=kwargs.pop("path"),
        revision=kwargs.pop("revision"),
        dest_server=kwargs.pop("dest_server"),
        dest_name=kwargs.pop("dest_name"),
        dest_namespace=kwargs.pop("dest_namespace"),
        project=kwargs.pop("project"),
        sync_policy=kwargs.pop("sync_policy"),
        auto_prune=kwargs.pop("auto_prune"),
        self_heal=kwargs.pop("self_heal"),
        sync_options=tuple(kwargs.pop("sync_options")),
        helm_parameters=tuple(parse_pairs(kwargs.pop("parameters"), "--parameter")),
    )


def build_application(name: str | None, file: str | None, changes: SpecChanges) -> dict[str, Any]:
    """The Application to create: the file's (if any), then the flags on top of it."""
    if changes.dest_server is not None and changes.dest_name is not None:
        raise click.UsageError("use either --dest-server or --dest-name")
    app = object_to_create(file, APPLICATION, name, "application")
    changes.apply(app)
    spec = app["spec"]
    spec.setdefault("project", DEFAULT_PROJECT)
    if not spec.get("sources"):
        source = spec.get("source") or {}
        if not source.get("repoURL"):
            raise click.UsageError("--repo is required")
        if not source.get("path") and not source.get("chart"):
            raise click.UsageError("--path is required")
    dest = spec.get("destination") or {}
    if not dest.get("server") and not dest.get("name"):
        raise click.UsageError("--dest-server or --dest-name is required")
    return app


def parse_resource(text: str) -> dict[str, str]:
    """argocd's ``GROUP:KIND:NAME`` or ``GROUP:KIND:NAMESPACE/NAME`` (GROUP empty for core)."""
    parts = text.split(":")
    if len(parts) != 3 or not parts[1] or not parts[2]:
        raise click.BadParameter(
            f"{text!r} is not GROUP:KIND:NAME or GROUP:KIND:NAMESPACE/NAME", param_hint="--resource"
        )
    group, kind, name = parts
    namespace, _, short = name.rpartition("/")
    if not short:
        raise click.BadParameter(f"{text!r} has no object name", param_hint="--resource")
    return {"group": group, "kind": kind, "namespace": namespace, "name": short}
