"""The update step of Flux's ImageUpdateAutomation (image.toolkit.fluxcd.io/v1): check out a
repository, set the image setter markers under ``spec.update.path`` to the policies' latest
images, commit with the automation's author and message template, and push.

All git work runs the ``git`` CLI through :func:`tether.source.gitcli.run_git`: bounded in time,
credentials in the environment (``http.extraHeader`` or an SSH key file), never in argv or a
message. The checkout is a shallow fetch (depth 1) into a temporary directory, deleted after.

What Flux does, and where Tether differs:

* ``git.checkout.ref``: ``commit`` (a full SHA) wins over ``name`` (a full ref), ``semver``
  (newest matching tag), ``tag`` and ``branch``. ``git.push.branch`` defaults to the checkout
  branch; a push branch that does not exist yet starts at the checkout commit.
* A push branch that exists and differs from the checkout branch is, as with Flux's default
  ``GitForcePushBranch``, rebuilt: the checkout commit plus this update replaces it. Flux forces
  blindly; here the push carries ``--force-with-lease`` on the commit read at the start, so a
  branch someone else moved meanwhile is never overwritten. A rebuilt branch whose files would
  not change is left alone ("no changes"; Flux pushes a new identical commit each run).
  ``force_push_branch=False`` (Flux's gate turned off) commits on top of the existing branch.
* Pushing to the checkout branch itself is a fast-forward on the commit that was checked out.
  Any push the remote refuses because it moved gives :class:`PushRejectedError`; nothing is
  pushed then (``push.refspec`` goes in the same ``--atomic`` push), and the next run starts
  again from the new state (Flux's opt-in push retry is the caller's to do).
* ``push.refspec`` (``src:dst``, no ``+``, no deletion) is pushed as well, as Flux does; its
  source names local refs: the push branch, or the checkout branch when it is a branch.
* Every setter marker problem is an error before anything is committed (Flux skips them).
* No commit signing yet: a caller given ``spec.git.commit.signingKey`` must refuse it rather
  than push unsigned commits. ``sign_off`` adds a ``Signed-off-by`` trailer. ``push.options``
  are not sent. The author name defaults to the email's local part (git refuses an empty name;
  go-git writes one).
* The commit message template's data is :class:`TemplateData` below; see
  :mod:`tether.images.template` for the language.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import posixpath
import re
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from tether.images.errors import ImageError
from tether.images.setters import (
    DEFAULT_SETTER_LIMITS,
    ImageEdit,
    LatestImage,
    SetterLimits,
    SkippedFile,
    UpdatePlan,
    apply_plan,
    plan_updates,
)
from tether.images.template import DEFAULT_TEMPLATE_LIMITS, TemplateLimits, render_message
from tether.safeyaml import KubernetesLoader, YamlError, YamlLimits, iter_documents
from tether.source.credentials import GitEnvironment, RepoCredentials, git_environment
from tether.source.errors import GitCommandError, GitError, InvalidSemverConstraintError
from tether.source.gitcli import run_git
from tether.source.limits import GitTimeouts
from tether.source.policy import RepoPolicy, check_repo_location
from tether.source.revisions import parse_constraint, resolve_revision
from tether.source.trust import RepoTrust
from tether.source.urls import scrub_url

_BAD_REF = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]|\.\.|//|@\{|^[-/]|/$|\.$|\.lock$|(^|/)\.")
_FULL_SHA = re.compile(r"[0-9a-f]{40}")
_CHECKOUT_REF = "refs/tether/checkout"
_PUSH_REF = "refs/tether/push"
# local commands only: no housekeeping, hooks, signing or line-ending conversion of their own
_LOCAL_CONFIG = ("-c", "gc.auto=0", "-c", "maintenance.auto=false", "-c", "core.hooksPath=/dev/null",
                 "-c", "commit.gpgSign=false", "-c", "core.autocrlf=false")  # fmt: skip


class UpdateAutomationError(ImageError):
    """The automation's git settings cannot be used: no push branch, a malformed branch, ref,
    refspec or author, a checkout ref the repository does not have."""


class PushRejectedError(UpdateAutomationError):
    """The remote refused the push (it moved since the automation read it); nothing was pushed."""


# ---- the commit message's data: Flux's TemplateData (Go's ``OldValue`` is ``old_value``) ------


@dataclass(frozen=True)
class AutomationObject:
    """The automation's ``types.NamespacedName``; prints ``namespace/name``."""

    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True, order=True)
class ObjectIdentifier:
    """The object a change was made in (a kustomization.yaml has no name); ordered as Go sorts
    Flux's identifiers: apiVersion, kind, name, namespace."""

    api_version: str = ""
    kind: str = ""
    name: str = ""
    namespace: str = ""

    def __str__(self) -> str:  # Go prints the embedded structs: {{{apiVersion kind} {name ns}}}
        return f"{{{{{self.api_version} {self.kind}}} {{{self.name} {self.namespace}}}}}"


@dataclass(frozen=True)
class Change:
    """One value set by a setter marker."""

    old_value: str
    new_value: str
    setter: str


@dataclass(frozen=True)
class ChangeSet:
    """Flux's ``update.Result``: file (relative to the update path) → object → changes. Where
    Flux follows Go's random map order this is stable: files by path, changes in file order."""

    file_changes: Mapping[str, Mapping[ObjectIdentifier, tuple[Change, ...]]]

    def changes(self) -> list[Change]:
        """Every distinct change, in file order."""
        seen: dict[Change, None] = {}
        for objects in self.file_changes.values():
            for changes in objects.values():
                seen.update(dict.fromkeys(changes))
        return list(seen)

    def objects(self) -> dict[ObjectIdentifier, list[Change]]:
        """The changes of each object, merged over the files it appears in (Flux keeps one)."""
        merged: dict[ObjectIdentifier, list[Change]] = {}
        for objects in self.file_changes.values():
            for identifier, changes in objects.items():
                merged.setdefault(identifier, []).extend(changes)
        return merged


@dataclass(frozen=True)
class TemplateData:
    """What a commit message template sees: ``.AutomationObject``, ``.Changed``, ``.Values``."""

    automation_object: AutomationObject
    changed: ChangeSet
    values: Mapping[str, str] = field(default_factory=dict)


def check_message_template(
    template: str | None,
    values: Mapping[str, str] | None = None,
    limits: TemplateLimits = DEFAULT_TEMPLATE_LIMITS,
) -> None:
    """Raise :class:`~tether.images.template.InvalidTemplateError` unless the template renders
    with data shaped like a real update's, so that a typo shows when the automation is read
    rather than at its first commit (branches the sample does not take are parsed, not run)."""
    identifier = ObjectIdentifier("apps/v1", "Deployment", "app", "default")
    change = Change("registry.example/app:1.0.0", "registry.example/app:1.0.1", "default:app")
    changed = ChangeSet({"deployment.yaml": {identifier: (change,)}})
    sample = TemplateData(AutomationObject("default", "automation"), changed, dict(values or {}))
    render_message(template, sample, limits)


# ---- what to do, and what was done ------------------------------------------------------------


@dataclass(frozen=True)
class CheckoutRef:
    """``spec.git.checkout.ref`` (or the GitRepository's ``spec.ref``)."""

    branch: str = ""
    tag: str = ""
    semver: str = ""
    name: str = ""  # a full ref, refs/...
    commit: str = ""  # a full SHA-1


@dataclass(frozen=True)
class UpdateSpec:
    """One ImageUpdateAutomation's update, as plain data."""

    url: str
    checkout: CheckoutRef
    author_email: str
    author_name: str = ""
    message_template: str = ""  # empty: Flux's default message
    template_values: Mapping[str, str] = field(default_factory=dict)
    sign_off: bool = False
    push_branch: str = ""  # empty: the checkout branch
    push_refspec: str = ""
    update_path: str = ""  # relative to the repository root; empty: the root
    automation: AutomationObject = AutomationObject("", "")
    force_push_branch: bool = True  # Flux's GitForcePushBranch (see the module docstring)


@dataclass(frozen=True)
class GitAccess:
    """How the repository is reached, besides its credentials (as `tether.source` does)."""

    timeouts: GitTimeouts = field(default_factory=GitTimeouts)
    policy: RepoPolicy = field(default_factory=RepoPolicy)
    trust: RepoTrust | None = None
    known_hosts_file: Path | None = None
    scratch_dir: Path | None = None  # where the temporary checkout goes (default: the system's)


class UpdateStatus(StrEnum):
    PUSHED = "pushed"
    NO_CHANGES = "no changes"


@dataclass(frozen=True)
class UpdateResult:
    """What an update did. ``commit`` is the pushed commit (None: no changes); ``edits`` say
    which file and line changed from ``edit.marker.value`` to ``edit.new``."""

    status: UpdateStatus
    branch: str
    checkout_commit: str
    commit: str | None = None
    edits: tuple[ImageEdit, ...] = ()
    message: str = ""
    refspec: str = ""
    skipped: tuple[SkippedFile, ...] = ()


@dataclass
class PreparedUpdate:
    """An update committed in its temporary checkout, not pushed yet (see :func:`push_update`)."""

    result: UpdateResult
    lease: str  # the push branch's commit when read; "" when it did not exist
    url: str = field(repr=False)
    git: _Git = field(repr=False)
    #: the edits the markers asked for, also when the push branch already holds them (then
    #: ``result`` says "no changes"): what a pull request for the branch shows
    edits: tuple[ImageEdit, ...] = ()

    @property
    def worktree(self) -> Path:
        """The temporary checkout; its ``HEAD`` holds the wanted files (the checkout commit when
        nothing changes), ``result.checkout_commit`` the base. Gone after the block."""
        return self.git.repo

    def head(self) -> str:
        """The commit of the wanted files in :attr:`worktree` (a full SHA)."""
        return self.git.local("rev-parse", "--verify", "HEAD^{commit}").strip()


# ---- checking the spec ------------------------------------------------------------------------


def _check_ref_name(name: str, what: str) -> str:
    if not name or name == "@" or _BAD_REF.search(name):
        raise UpdateAutomationError(f"{what} {name!r} is not a valid git ref name")
    return name


def _check_spec(spec: UpdateSpec) -> tuple[str, str]:
    """The push branch and the ref to fetch for the checkout (a SHA, or a ref to resolve)."""
    ref = spec.checkout
    push_branch = spec.push_branch or ref.branch
    if not push_branch:
        raise UpdateAutomationError(
            "no branch to push to: set git.push.branch (the checkout ref is not a branch)"
        )
    _check_ref_name(push_branch, "push branch")
    if ref.commit and not _FULL_SHA.fullmatch(ref.commit):
        raise UpdateAutomationError(f"checkout commit {ref.commit!r} is not a full SHA-1")
    if ref.name and not ref.name.startswith("refs/"):
        raise UpdateAutomationError(f"checkout ref name {ref.name!r} must start with refs/")
    for value, what in ((ref.branch, "checkout branch"), (ref.tag, "checkout tag"),
                        (ref.name, "checkout ref name")):  # fmt: skip
        if value:
            _check_ref_name(value, what)
    if spec.push_refspec:
        source, _, destination = spec.push_refspec.partition(":")
        if spec.push_refspec.startswith("+") or not source or not destination.startswith("refs/"):
            raise UpdateAutomationError(
                f"push refspec {spec.push_refspec!r} must be <source>:refs/<destination> "
                "(no '+' forcing, no deletion)"
            )
        _check_ref_name(source, "push refspec source")
        _check_ref_name(destination, "push refspec destination")
        if destination == f"refs/heads/{push_branch}":
            raise UpdateAutomationError(
                f"push refspec {spec.push_refspec!r} repeats the push branch"
            )
    if "<" in spec.author_email + spec.author_name or "\n" in spec.author_email + spec.author_name:
        raise UpdateAutomationError(
            "the commit author's name and email cannot hold '<' or newlines"
        )
    if not spec.author_email.strip() or ">" in spec.author_email + spec.author_name:
        raise UpdateAutomationError("the commit author needs an email (spec.git.commit.author)")
    return push_branch, ref.commit or ref.name or ref.semver or ref.tag or ref.branch


# ---- git --------------------------------------------------------------------------------------


@dataclass
class _Git:
    url: str
    environment: GitEnvironment
    repo: Path
    timeouts: GitTimeouts

    def network(self, *args: str, timeout: float | None = None) -> str:
        return run_git(list(args), self.url, self.environment, cwd=self.repo,
                       timeout=timeout or self.timeouts.fetch,
                       max_output=self.timeouts.max_output_bytes)  # fmt: skip

    def local(self, *args: str, env: Mapping[str, str] | None = None) -> str:
        environment = self.environment
        if env:
            environment = dataclasses.replace(environment, env={**environment.env, **env})
        return run_git([*_LOCAL_CONFIG, *args], self.url, environment, cwd=self.repo,
                       timeout=self.timeouts.local).strip()  # fmt: skip

    def remote_refs(self, *patterns: str) -> dict[str, str]:
        output = self.network("ls-remote", self.url, *patterns, timeout=self.timeouts.ls_remote)
        return {
            name: sha for sha, _, name in (line.partition("\t") for line in output.splitlines())
        }


def _resolve_checkout(refs: Mapping[str, str], spec: UpdateSpec, shown: str) -> str:
    """The remote ref (or SHA) the checkout fetches."""
    ref = spec.checkout
    if ref.commit:
        return ref.commit
    if ref.semver:
        try:
            parse_constraint(ref.semver)
            tags = {name: sha for name, sha in refs.items() if name.startswith("refs/tags/")}
            resolved = resolve_revision(tags, ref.semver)
        except InvalidSemverConstraintError as exc:
            raise UpdateAutomationError(f"checkout semver: {exc}") from None
        if resolved is None or resolved.ref is None:
            raise UpdateAutomationError(f"no tag of {shown} matches semver {ref.semver!r}")
        return resolved.ref
    wanted = ref.name or (f"refs/tags/{ref.tag}" if ref.tag else f"refs/heads/{ref.branch}")
    if wanted not in refs:
        raise UpdateAutomationError(f"{shown} has no {wanted} to check out")
    return wanted


def _check_out(git: _Git, spec: UpdateSpec, push_branch: str) -> tuple[str, str, str]:
    """Fetch and check out the commit to update; (checkout commit, base commit, lease)."""
    shown = scrub_url(git.url)
    git.local("init", "--quiet", "--template=", str(git.repo))
    refs = git.remote_refs()
    source = _resolve_checkout(refs, spec, shown)
    push_ref = f"refs/heads/{push_branch}"
    switch = push_branch != spec.checkout.branch
    refspecs = [f"+{source}:{_CHECKOUT_REF}"]
    if switch and push_ref in refs:
        refspecs.append(f"+{push_ref}:{_PUSH_REF}")
    git.network("fetch", "--quiet", "--depth=1", "--no-tags", "--no-recurse-submodules",
                "--no-write-fetch-head", git.url, *refspecs)  # fmt: skip
    checkout = git.local("rev-parse", "--verify", f"{_CHECKOUT_REF}^{{commit}}")
    if not switch:
        tip = refs.get(push_ref, "")
        if checkout != tip:
            raise UpdateAutomationError(
                f"checkout commit {checkout[:12]} is not the tip ({tip[:12] or 'absent'}) of "
                f"branch {push_branch!r} that the automation pushes to: set git.push.branch"
            )
        lease = base = checkout
    else:
        lease = git.local("rev-parse", "--verify", _PUSH_REF) if len(refspecs) > 1 else ""
        base = lease if lease and not spec.force_push_branch else checkout
        if spec.checkout.branch:
            git.local("update-ref", f"refs/heads/{spec.checkout.branch}", checkout)
    git.local("checkout", "--quiet", "--no-recurse-submodules", "-B", push_branch, base)
    return checkout, base, lease


# ---- the update -------------------------------------------------------------------------------


def _document_objects(data: bytes) -> list[tuple[int, ObjectIdentifier]]:
    """Each YAML document's first line and the object it is (empty when not an object)."""
    found: list[tuple[int, ObjectIdentifier]] = []
    try:
        text = data.decode("utf-8").removeprefix("\ufeff")
        limits = YamlLimits(max_bytes=len(data) + 1)
        for document, line in iter_documents(text, limits=limits, loader=KubernetesLoader):
            value = document if isinstance(document, dict) else {}
            meta = value.get("metadata")
            meta = meta if isinstance(meta, dict) else {}
            texts = [value.get("apiVersion"), value.get("kind"), meta.get("name"),
                     meta.get("namespace")]  # fmt: skip
            found.append(
                (line, ObjectIdentifier(*(v if isinstance(v, str) else "" for v in texts)))
            )
    except (UnicodeDecodeError, YamlError):
        pass  # the setters read it; an object that cannot be named is left unnamed
    return found


def template_data(plan: UpdatePlan, spec: UpdateSpec) -> TemplateData:
    """The commit message's data for a plan's edits (files relative to the update path)."""
    start = posixpath.normpath(spec.update_path or ".")
    files: dict[str, dict[ObjectIdentifier, list[Change]]] = {}
    objects: dict[str, list[tuple[int, ObjectIdentifier]]] = {}
    for edit in plan.edits:
        marker = edit.marker
        if marker.path not in objects:
            objects[marker.path] = _document_objects(plan.originals[marker.path])
        identifier = ObjectIdentifier()
        for line, candidate in objects[marker.path]:
            identifier = candidate if line <= marker.line else identifier
        relative = marker.path if start == "." else posixpath.relpath(marker.path, start)
        name = posixpath.basename(marker.path) if relative == "." else relative
        change = Change(marker.value, edit.new, marker.setter)
        files.setdefault(name, {}).setdefault(identifier, []).append(change)
    file_changes = {
        path: {key: tuple(changes) for key, changes in by_object.items()}
        for path, by_object in sorted(files.items())
    }
    return TemplateData(spec.automation, ChangeSet(file_changes), dict(spec.template_values))


def _commit(git: _Git, spec: UpdateSpec, plan: UpdatePlan, message: str) -> str:
    """Commit the applied plan; the commit's SHA, or "" when git sees nothing to commit."""
    literal = {"GIT_LITERAL_PATHSPECS": "1"}
    git.local("add", "--", *plan.files, env=literal)
    if not git.local("diff", "--cached", "--name-only", env=literal):
        return ""
    message_file = git.repo.parent / "message"
    message_file.write_text(message, encoding="utf-8")
    name = spec.author_name.strip() or spec.author_email.split("@", 1)[0]
    identity = {"GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": spec.author_email.strip(),
                "GIT_COMMITTER_NAME": name, "GIT_COMMITTER_EMAIL": spec.author_email.strip()}  # fmt: skip
    options = ["--no-verify", "--no-gpg-sign", "--cleanup=verbatim", "--allow-empty-message"]
    git.local("commit", "--quiet", *options, *(["--signoff"] if spec.sign_off else []),
              "-F", str(message_file), env=identity)  # fmt: skip
    return git.local("rev-parse", "--verify", "HEAD")


def _committed_message(git: _Git) -> str:
    raw = run_git(["cat-file", "commit", "HEAD"], git.url, git.environment, cwd=git.repo,
                  timeout=git.timeouts.local)  # fmt: skip
    return raw.partition("\n\n")[2]


@contextlib.contextmanager
def prepare_update(
    spec: UpdateSpec,
    latest: Mapping[tuple[str, str], LatestImage | None],
    *,
    credentials: RepoCredentials | None = None,
    access: GitAccess | None = None,
    limits: SetterLimits = DEFAULT_SETTER_LIMITS,
    template_limits: TemplateLimits = DEFAULT_TEMPLATE_LIMITS,
    planner: Callable[[Path], UpdatePlan] | None = None,
) -> Iterator[PreparedUpdate]:
    """Check out, update and commit in a temporary directory that lives as long as the block.

    ``latest`` maps each policy of the automation, ``(namespace, name)``, to its latest image
    (as :func:`~tether.images.setters.plan_updates` takes it). Marker problems
    (:class:`~tether.images.errors.SetterError`) and template errors
    (:class:`~tether.images.template.InvalidTemplateError`) are raised before any commit.
    ``planner``, given the checkout's root, computes the plan instead of the setter markers
    under ``spec.update_path`` (e.g. :func:`~tether.images.imageupdater_plan.plan_app_updates`;
    ``latest`` is then not read).
    """
    access = access or GitAccess()
    url = check_repo_location(spec.url, access.policy)
    push_branch, _ = _check_spec(spec)
    with (
        git_environment(url, credentials, access.known_hosts_file, access.timeouts,
                        allow_file=access.policy.allow_local, trust=access.trust) as environment,
        tempfile.TemporaryDirectory(prefix="tether-image-update-", dir=access.scratch_dir) as scratch,
    ):  # fmt: skip
        git = _Git(url, environment, Path(scratch) / "repo", access.timeouts)
        os.mkdir(git.repo, 0o700)
        checkout, _, lease = _check_out(git, spec, push_branch)
        if planner is None:
            plan = plan_updates(git.repo, spec.update_path, latest, limits=limits)
        else:
            plan = planner(git.repo)
        nothing = UpdateResult(UpdateStatus.NO_CHANGES, push_branch, checkout,
                               refspec=spec.push_refspec, skipped=plan.skipped)  # fmt: skip
        if plan.problems:
            apply_plan(plan)  # raises SetterError naming them; nothing is written
        message = ""
        if plan.edits:
            data = template_data(plan, spec)
            message = render_message(spec.message_template, data, template_limits)
        commit = _commit(git, spec, apply_plan(plan), message) if plan.edits else ""
        # lease != checkout: the push branch is another branch, rebuilt from the checkout
        if commit and lease and spec.force_push_branch and lease != checkout:
            same = git.local("rev-parse", "HEAD^{tree}") == git.local(
                "rev-parse", f"{lease}^{{tree}}"
            )
            commit = "" if same else commit  # the rebuilt branch would hold the same files
        result = nothing
        if commit:
            result = dataclasses.replace(nothing, status=UpdateStatus.PUSHED, commit=commit,
                                         edits=plan.edits, message=_committed_message(git))  # fmt: skip
        yield PreparedUpdate(result, lease, url, git, plan.edits)


def push_update(prepared: PreparedUpdate) -> UpdateResult:
    """Push a prepared update (nothing to do for "no changes"); all refs or none.

    Raises :class:`PushRejectedError` when the remote refuses: the push branch moved since it
    was read, or the refspec's destination cannot be fast-forwarded.
    """
    result, git = prepared.result, prepared.git
    if result.commit is None:
        return result
    push_ref = f"refs/heads/{result.branch}"
    refspecs = [f"HEAD:{push_ref}", *([result.refspec] if result.refspec else [])]
    try:
        git.network("push", "--quiet", "--porcelain", "--no-verify", "--atomic",
                    f"--force-with-lease={push_ref}:{prepared.lease}", git.url, *refspecs)  # fmt: skip
    except GitError as exc:
        now = git.remote_refs(push_ref).get(push_ref, "")
        if now == result.commit:
            return result  # the push went through; only its answer was lost
        where = f"branch {result.branch!r} of {scrub_url(git.url)}"
        if now != prepared.lease:
            was = prepared.lease[:12] or "absent"
            raise PushRejectedError(
                f"push to {where} rejected: the branch moved from {was} to {now[:12] or 'absent'}"
                " while the automation was updating it; nothing was pushed, the next run starts "
                "again from the new state"
            ) from None
        if not isinstance(exc, GitCommandError):
            raise  # authentication, TLS, a timeout: as git said
        raise PushRejectedError(f"push to {where} was refused, nothing was pushed: {exc}") from None
    return result


def run_update(
    spec: UpdateSpec,
    latest: Mapping[tuple[str, str], LatestImage | None],
    *,
    credentials: RepoCredentials | None = None,
    access: GitAccess | None = None,
    limits: SetterLimits = DEFAULT_SETTER_LIMITS,
    template_limits: TemplateLimits = DEFAULT_TEMPLATE_LIMITS,
    planner: Callable[[Path], UpdatePlan] | None = None,
) -> UpdateResult:
    """Check out, update, commit and push: :func:`prepare_update` then :func:`push_update`.

    Raises :class:`UpdateAutomationError` for unusable settings, ``SetterError`` for marker
    problems, ``InvalidTemplateError`` for the message template, a
    :class:`~tether.source.errors.GitError` when git cannot reach the repository, and
    :class:`PushRejectedError` when the remote moved; in every case nothing was pushed.
    ``planner`` is :func:`prepare_update`'s.
    """
    with prepare_update(spec, latest, credentials=credentials, access=access, limits=limits,
                        template_limits=template_limits, planner=planner) as prepared:  # fmt: skip
        return push_update(prepared)


__all__ = [
    "AutomationObject", "Change", "ChangeSet", "CheckoutRef", "GitAccess",
    "ObjectIdentifier", "PreparedUpdate", "PushRejectedError", "TemplateData",
    "UpdateAutomationError", "UpdateResult", "UpdateSpec", "UpdateStatus",
    "check_message_template", "prepare_update", "push_update", "run_update", "template_data",
]  # fmt: skip
