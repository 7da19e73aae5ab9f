"""Multi-source Applications (``spec.sources``), as Argo CD runs them: every source resolved to a
revision of its own, rendered, and the objects combined (a later source's object wins over an
earlier one's of the same identity); a source with ``ref`` lends its files to the others' Helm
value files (``$ref/path``) and renders nothing unless it has a ``path``.

Inside the controller an app's revision stays one string: the revisions of its sources joined
with ``|`` (no Git SHA, chart version or digest holds one). The status shows them as Argo CD
does: ``sync.revisions``, ``comparedTo.sources``, ``syncResult.revisions``/``sources`` and
``revisions``/``sources`` in history entries.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from tether.controller import models

SEPARATOR = "|"
_REF = re.compile(r"[A-Za-z0-9_-]{1,63}")
#: between an app's name and a source's index in the names the Git poller knows sources by (a
#: character no Kubernetes name holds)
SOURCE_MARK = "#"


def source_key(app: str, index: int) -> str:
    """The name the Git poller knows source ``index`` of a multi-source app by."""
    return f"{app}{SOURCE_MARK}{index}"


def app_of(key: str) -> str:
    """The app a poller name belongs to (the name itself for a single-source app)."""
    return key.partition(SOURCE_MARK)[0]


def join_revisions(revisions: tuple[str, ...] | list[str]) -> str:
    return SEPARATOR.join(revisions)


def split_revisions(revision: str, count: int) -> tuple[str, ...]:
    """The revision of each of ``count`` sources (missing ones empty: resolved again)."""
    parts = revision.split(SEPARATOR) if revision else []
    return tuple(parts[:count]) + ("",) * max(0, count - len(parts))


def check_sources(sources: tuple[models.AppSource, ...]) -> None:
    """Argo CD's rules for ``spec.sources``: a ``ref`` names one source (a name of letters,
    digits, ``-`` and ``_``) and is not a chart; InvalidSpecError naming the source."""
    seen: set[str] = set()
    for index, source in enumerate(sources):
        if not source.ref:
            continue
        where = f"spec.sources[{index}].ref"
        if not _REF.fullmatch(source.ref):
            raise models.InvalidSpecError(f"{where}: {source.ref!r} is not a valid reference name")
        if source.ref in seen:
            raise models.InvalidSpecError(f"{where}: {source.ref!r} names two sources")
        if source.chart:
            raise models.InvalidSpecError(f"{where}: a source with a ref cannot be a chart")
        seen.add(source.ref)


def renders(source: models.AppSource) -> bool:
    """Whether a source produces objects: a ``ref`` source only with a ``path`` (or a chart)."""
    return not source.ref or bool(source.path) or bool(source.chart)


def revision_document(app: models.Application, commit: str) -> dict[str, Any]:
    """What the status records of the revision ``commit`` of ``app``: ``revision`` and
    ``source`` for one source, ``revisions`` and ``sources`` for several."""
    if app.spec.sources:
        count = len(app.spec.sources)
        return {
            "revisions": list(split_revisions(commit, count)),
            "sources": [dict(s.raw) for s in app.spec.sources],
        }
    assert app.spec.source is not None
    return {"revision": commit, "source": dict(app.spec.source.raw)}


def as_recorded(app: models.Application, part: dict[str, Any], commit: str) -> dict[str, Any]:
    """``part`` (a ``sync``, ``syncResult`` or history entry written with ``revision`` and
    ``source``) as recorded for ``app``: unchanged for one source; ``revisions`` and
    ``sources`` for several (``comparedTo.sources`` in a ``sync``)."""
    if not app.spec.sources:
        return part
    out = {k: v for k, v in part.items() if k not in ("revision", "source")}
    recorded = revision_document(app, commit)
    out["revisions"] = recorded["revisions"]
    if "source" in part:
        out["sources"] = recorded["sources"]
    compared = part.get("comparedTo")
    if isinstance(compared, Mapping):
        compared_out = {k: v for k, v in compared.items() if k != "source"}
        compared_out["sources"] = recorded["sources"]
        out["comparedTo"] = compared_out
        out["revision"] = ""  # an app that had one source: its old revision is not read
    return out


def read_revision(part: Mapping[str, Any]) -> str:
    """The revision a status part records: ``revision``, else its ``revisions`` joined."""
    revision = part.get("revision")
    if isinstance(revision, str) and revision:
        return revision
    revisions = part.get("revisions")
    if isinstance(revisions, list) and revisions:
        return join_revisions([str(r) for r in revisions])
    return ""


def _identity(obj: Mapping[str, Any]) -> tuple[str, str, str, str]:
    api_version = str(obj.get("apiVersion") or "")
    group = api_version.rpartition("/")[0]
    meta = obj.get("metadata") or {}
    return (
        group,
        str(obj.get("kind") or ""),
        str(meta.get("namespace") or ""),
        str(meta.get("name") or ""),
    )


def last_wins(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The objects of several sources combined: when two share an identity (group, kind,
    namespace, name), the later source's is kept, in the place of the first (Argo CD's rule)."""
    kept: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    for obj in objects:
        kept[_identity(obj)] = obj
    return list(kept.values())


def operation_revision(sync: models.SyncOperation) -> str | None:
    """The revision an operation asks for (its ``revisions`` joined for several sources);
    None: the targets."""
    if sync.revision:
        return sync.revision
    return join_revisions(sync.revisions) if sync.revisions else None


def sync_operation_revision(app: models.Application, commit: str) -> dict[str, Any]:
    """The ``SyncOperation`` fields that ask for ``commit`` of ``app``."""
    if app.spec.sources:
        return {"revisions": split_revisions(commit, len(app.spec.sources))}
    return {"revision": commit}


def target_text(app: models.Application) -> str:
    """The target revision(s) of an app, for messages."""
    return ", ".join(s.target_revision or "HEAD" for s in app.spec.all_sources)


def repo_urls(app_obj: Mapping[str, Any]) -> list[str]:
    """The repository URLs an Application dict names (its source's, or every source's)."""
    spec = app_obj.get("spec") or {}
    sources = spec.get("sources") or [spec.get("source") or {}]
    if not isinstance(sources, list):
        return []
    return [str(s["repoURL"]) for s in sources if isinstance(s, Mapping) and s.get("repoURL")]


def oci_repositories(app_obj: Mapping[str, Any]) -> list[str]:
    """The OCI repositories (``host/path``) an Application dict takes a chart or an artifact
    from, as a registry's push notification names them."""
    spec = app_obj.get("spec") or {}
    sources = spec.get("sources") or [spec.get("source") or {}]
    out = []
    for source in sources if isinstance(sources, list) else []:
        url = str(source.get("repoURL") or "") if isinstance(source, Mapping) else ""
        if not url.lower().startswith("oci://"):
            continue
        repository = url[len("oci://") :].rstrip("/")
        chart = source.get("chart")
        out.append(f"{repository}/{chart}" if chart else repository)
    return out
