"""The ImageUpdateAutomation update step against the real loopback git server (git http-backend
behind Basic auth), and the commit message templates."""

from __future__ import annotations

import base64
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.source.conftest import PASSWORD, USER, Remote, git, make_remote
from tether.images.automation import (
    AutomationObject,
    Change,
    ChangeSet,
    CheckoutRef,
    GitAccess,
    ObjectIdentifier,
    PushRejectedError,
    TemplateData,
    UpdateAutomationError,
    UpdateSpec,
    UpdateStatus,
    check_message_template,
    prepare_update,
    push_update,
    run_update,
)
from tether.images.errors import SetterError
from tether.images.setters import LatestImage
from tether.images.template import (
    DEFAULT_MESSAGE_TEMPLATE,
    InvalidTemplateError,
    TemplateLimits,
    parse_template,
    render_message,
)
from tether.source import AuthenticationError, RepoCredentials
from tether.source.gitserver import GitHTTPServer

APP = "apps/payment-service/production"
MARKER = '{"$imagepolicy": "argocd:payment-service:tag"}'
KUSTOMIZATION = f"""apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - deployment.yaml
images:
  - name: registry.example/payment-service
    newTag: 1.4.0 # {MARKER}
"""
DEPLOYMENT = """apiVersion: v1
kind: Service
metadata:
  name: payment-service
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: payment-service
  namespace: payments
spec:
  template:
    spec:
      containers:
        - name: app
          image: registry.example/worker:0.9.0 # {"$imagepolicy": "argocd:worker"}
"""
CHANGES = "{{ range .Changed.Changes }}{{ print .OldValue }} -> {{ println .NewValue }}{{ end }}"
BRANCH = "image-updates"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitHTTPServer]:
    with GitHTTPServer(tmp_path_factory.mktemp("served"), (USER, PASSWORD)) as server:
        yield server


@pytest.fixture
def repo(served: GitHTTPServer, tmp_path: Path) -> Remote:
    """A repository whose main holds one app, with a setter marker on its newTag."""
    remote = make_remote(served.root, tmp_path, served.url("{name}"))
    remote.commit_and_push("payment-service", {f"{APP}/kustomization.yaml": KUSTOMIZATION})
    return remote


@pytest.fixture
def credentials() -> RepoCredentials:
    return RepoCredentials(url="http://127.0.0.1/", username=USER, password=PASSWORD)


def spec_for(remote: Remote, **changes: Any) -> UpdateSpec:
    settings: dict[str, Any] = {
        "url": remote.url,
        "checkout": CheckoutRef(branch="main"),
        "author_email": "tether-bot@example.com",
        "author_name": "Tether Bot",
        "message_template": CHANGES,
        "push_branch": BRANCH,
        "update_path": APP,
        "automation": AutomationObject("argocd", "payment-images"),
    }
    return UpdateSpec(**{**settings, **changes})


def latest(tag: str, **others: LatestImage) -> dict[tuple[str, str], LatestImage | None]:
    policies: dict[tuple[str, str], LatestImage | None] = {
        ("argocd", "payment-service"): LatestImage("registry.example/payment-service", tag)
    }
    policies.update({("argocd", name): image for name, image in others.items()})
    return policies


def tip(remote: Remote, branch: str) -> str:
    """The commit a branch of the served repository points at ("" when it does not exist)."""
    return git(remote.bare, "for-each-ref", "--format=%(objectname)", f"refs/heads/{branch}")


def fresh_clone(remote: Remote, tmp_path: Path) -> Path:
    clone = tmp_path / "fresh"
    git(tmp_path, "clone", "-q", "--no-checkout", str(remote.bare), str(clone))
    return clone


def changed_lines(clone: Path, base: str, head: str) -> list[str]:
    diff = git(clone, "diff", "--unified=0", base, head)
    return [
        line for line in diff.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")
    ]


def someone_pushes(remote: Remote, branch: str) -> str:
    """Another writer moves ``branch`` of the served repository; the new commit."""
    git(remote.work, "fetch", "-q", "origin")
    start = f"origin/{branch}" if tip(remote, branch) else "origin/main"
    git(remote.work, "checkout", "-q", "-B", "someone", start)
    remote.commit("someone else's work", {"NOTES.md": "moved\n"})
    remote.push(f"HEAD:refs/heads/{branch}")
    return tip(remote, branch)


# ---- the update against the loopback server -------------------------------------------------


def test_update_pushes_one_line_change_to_the_push_branch(
    repo: Remote, credentials: RepoCredentials, tmp_path: Path
) -> None:
    main = tip(repo, "main")
    result = run_update(spec_for(repo), latest("1.5.0"), credentials=credentials)

    assert result.status is UpdateStatus.PUSHED
    assert (result.branch, result.checkout_commit) == (BRANCH, main)
    assert result.commit == tip(repo, BRANCH) and tip(repo, "main") == main
    [edit] = result.edits
    assert (edit.marker.path, edit.marker.line) == (f"{APP}/kustomization.yaml", 7)
    assert (edit.marker.value, edit.new) == ("1.4.0", "1.5.0")
    assert result.message == "1.4.0 -> 1.5.0\n"
    clone = fresh_clone(repo, tmp_path)
    assert changed_lines(clone, "origin/main", f"origin/{BRANCH}") == [
        f"-    newTag: 1.4.0 # {MARKER}",
        f"+    newTag: 1.5.0 # {MARKER}",
    ]
    shown = git(clone, "log", "-1", "--format=%P|%an <%ae>|%cn <%ce>|%B", f"origin/{BRANCH}")
    bot = "Tether Bot <tether-bot@example.com>"
    assert shown == f"{main}|{bot}|{bot}|1.4.0 -> 1.5.0"


def test_commit_message_template_sees_objects_files_values_and_signs_off(
    repo: Remote, credentials: RepoCredentials
) -> None:
    repo.commit_and_push("worker", {f"{APP}/deployment.yaml": DEPLOYMENT})
    template = (
        "Automated image update by {{ .AutomationObject }} for {{ .Values.cluster }}\n\n"
        "Files:\n{{ range $file, $_ := .Changed.FileChanges -}}\n- {{ $file }}\n{{ end -}}\n"
        "Objects:\n{{ range $resource, $changes := .Changed.Objects -}}\n"
        "- {{ $resource.Kind }} {{ $resource.Namespace }}/{{ $resource.Name }}\n"
        "{{- range $changes }}: {{ .OldValue }} -> {{ .NewValue }}{{ end }}\n{{ end -}}"
    )
    spec = spec_for(repo, message_template=template, template_values={"cluster": "prod"},
                    sign_off=True)  # fmt: skip
    worker = LatestImage("registry.example/worker", "1.0.0")
    result = run_update(spec, latest("1.5.0", worker=worker), credentials=credentials)

    assert result.message == (
        "Automated image update by argocd/payment-images for prod\n\nFiles:\n"
        "- deployment.yaml\n- kustomization.yaml\nObjects:\n"
        "- Deployment payments/payment-service: registry.example/worker:0.9.0 -> "
        "registry.example/worker:1.0.0\n"
        "- Kustomization /: 1.4.0 -> 1.5.0\n"
        "\nSigned-off-by: Tether Bot <tether-bot@example.com>\n"
    )
    assert git(repo.bare, "log", "-1", "--format=%B", BRANCH) == result.message.strip()


def test_second_run_rebuilds_the_push_branch_from_main_as_flux_does(
    repo: Remote, credentials: RepoCredentials, tmp_path: Path
) -> None:
    main = tip(repo, "main")
    first = run_update(spec_for(repo), latest("1.5.0"), credentials=credentials)
    second = run_update(spec_for(repo), latest("1.5.1"), credentials=credentials)

    assert second.status is UpdateStatus.PUSHED and second.commit not in (None, first.commit)
    assert tip(repo, BRANCH) == second.commit
    assert git(repo.bare, "rev-parse", f"{second.commit}^") == main
    assert second.message == "1.4.0 -> 1.5.1\n"
    clone = fresh_clone(repo, tmp_path)
    assert changed_lines(clone, "origin/main", f"origin/{BRANCH}") == [
        f"-    newTag: 1.4.0 # {MARKER}",
        f"+    newTag: 1.5.1 # {MARKER}",
    ]


def test_second_run_adds_a_commit_on_the_branch_without_force_push(
    repo: Remote, credentials: RepoCredentials, tmp_path: Path
) -> None:
    spec = spec_for(repo, force_push_branch=False)
    first = run_update(spec, latest("1.5.0"), credentials=credentials)
    second = run_update(spec, latest("1.5.1"), credentials=credentials)

    assert tip(repo, BRANCH) == second.commit
    assert git(repo.bare, "rev-parse", f"{second.commit}^") == first.commit
    assert git(repo.bare, "rev-list", "--count", f"main..{BRANCH}") == "2"
    assert second.message == "1.5.0 -> 1.5.1\n"
    clone = fresh_clone(repo, tmp_path)
    assert changed_lines(clone, first.commit or "", second.commit or "") == [
        f"-    newTag: 1.5.0 # {MARKER}",
        f"+    newTag: 1.5.1 # {MARKER}",
    ]


@pytest.mark.parametrize("force_push_branch", [True, False])
def test_nothing_to_change_makes_no_commit(
    repo: Remote, credentials: RepoCredentials, force_push_branch: bool
) -> None:
    spec = spec_for(repo, force_push_branch=force_push_branch)
    unchanged = run_update(spec, latest("1.4.0"), credentials=credentials)
    assert unchanged.status is UpdateStatus.NO_CHANGES and unchanged.commit is None
    assert tip(repo, BRANCH) == ""  # not even created

    pushed = run_update(spec, latest("1.5.0"), credentials=credentials)
    again = run_update(spec, latest("1.5.0"), credentials=credentials)
    assert again.status is UpdateStatus.NO_CHANGES and again.edits == ()
    assert tip(repo, BRANCH) == pushed.commit


def test_missing_policy_marker_is_an_error_and_the_branch_stays(
    repo: Remote, credentials: RepoCredentials
) -> None:
    pushed = run_update(spec_for(repo), latest("1.5.0"), credentials=credentials)
    marker = '{"$imagepolicy": "argocd:no-such-policy"}'
    repo.commit_and_push("other app", {f"{APP}/other.yaml": f"image: other:1 # {marker}\n"})
    refs = git(repo.bare, "for-each-ref")

    with pytest.raises(SetterError) as raised:
        run_update(spec_for(repo), latest("1.5.1"), credentials=credentials)
    assert f"{APP}/other.yaml:1" in str(raised.value)
    assert "argocd:no-such-policy" in str(raised.value)
    assert tip(repo, BRANCH) == pushed.commit and git(repo.bare, "for-each-ref") == refs


def test_template_error_stops_the_update_before_any_commit(
    repo: Remote, credentials: RepoCredentials
) -> None:
    with pytest.raises(InvalidTemplateError, match=r"removed '\.Updated' field"):
        run_update(spec_for(repo, message_template="{{ range .Updated.Images }}{{ end }}"),
                   latest("1.5.0"), credentials=credentials)  # fmt: skip
    assert tip(repo, BRANCH) == ""


@pytest.mark.parametrize("push_branch", [BRANCH, "", "brand-new"])
def test_push_is_rejected_when_the_branch_moved_after_checkout(
    repo: Remote, credentials: RepoCredentials, push_branch: str
) -> None:
    if push_branch == BRANCH:  # an existing push branch, rebuilt with a lease
        run_update(spec_for(repo), latest("1.5.0"), credentials=credentials)
    branch = push_branch or "main"
    with prepare_update(spec_for(repo, push_branch=push_branch), latest("1.5.1"),
                        credentials=credentials) as prepared:  # fmt: skip
        ours = prepared.result.commit
        theirs = someone_pushes(repo, branch)
        with pytest.raises(PushRejectedError, match=f"branch '{branch}'.* moved") as raised:
            push_update(prepared)

    assert "nothing was pushed" in str(raised.value)
    assert tip(repo, branch) == theirs
    with pytest.raises(AssertionError):
        git(repo.bare, "cat-file", "-e", f"{ours}^{{commit}}")


def test_refspec_is_pushed_with_the_branch_and_all_or_nothing(
    repo: Remote, credentials: RepoCredentials
) -> None:
    spec = spec_for(repo, push_refspec=f"refs/heads/{BRANCH}:refs/heads/review")
    result = run_update(spec, latest("1.5.0"), credentials=credentials)
    assert tip(repo, BRANCH) == tip(repo, "review") == result.commit

    unrelated = someone_pushes(repo, "unrelated")
    repo.push(f"{unrelated}:refs/heads/review", force=True)
    before = git(repo.bare, "for-each-ref")
    with pytest.raises(PushRejectedError, match="refused, nothing was pushed"):
        run_update(spec, latest("1.5.1"), credentials=credentials)
    assert git(repo.bare, "for-each-ref") == before  # the branch did not move either


@pytest.mark.parametrize(
    "checkout", [CheckoutRef(tag="v1.1.0"), CheckoutRef(semver="~1.0"), "commit"]
)
def test_checkout_by_tag_semver_or_commit(
    repo: Remote, credentials: RepoCredentials, checkout: CheckoutRef | str
) -> None:
    old = tip(repo, "main")
    repo.push(f"{old}:refs/tags/v1.0.3")
    newer = repo.commit_and_push("later", {"README.md": "later\n"})
    repo.push(f"{newer}:refs/tags/v1.1.0")
    expected = newer if isinstance(checkout, CheckoutRef) and checkout.tag else old
    ref = checkout if isinstance(checkout, CheckoutRef) else CheckoutRef(commit=old)
    result = run_update(spec_for(repo, checkout=ref), latest("1.5.0"), credentials=credentials)

    assert result.checkout_commit == expected
    assert git(repo.bare, "rev-parse", f"{BRANCH}^") == expected
    with pytest.raises(UpdateAutomationError, match="no branch to push to"):
        run_update(spec_for(repo, checkout=ref, push_branch=""), latest("1.5.0"))


def test_credentials_never_reach_argv_and_the_checkout_is_removed(
    repo: Remote, credentials: RepoCredentials, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    commands: list[list[str]] = []
    real_popen = subprocess.Popen

    def spy(args: list[str], *rest: Any, **options: Any) -> Any:
        commands.append(list(args))
        return real_popen(args, *rest, **options)

    monkeypatch.setattr("tether.source.gitcli.subprocess.Popen", spy)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    result = run_update(spec_for(repo), latest("1.5.0"), credentials=credentials,
                        access=GitAccess(scratch_dir=scratch))  # fmt: skip

    assert result.status is UpdateStatus.PUSHED and list(scratch.iterdir()) == []
    verbs = [next(word for word in command[1:] if not word.startswith("-") and "=" not in word)
             for command in commands]  # fmt: skip
    assert {"ls-remote", "fetch", "commit", "push"} <= set(verbs)
    basic = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    assert not [
        command for command in commands if PASSWORD in str(command) or basic in str(command)
    ]


def test_wrong_credentials_are_refused_without_showing_them(repo: Remote) -> None:
    wrong = RepoCredentials(url="http://127.0.0.1/", username=USER, password="not-the-Passw0rd")
    with pytest.raises(AuthenticationError) as raised:
        run_update(spec_for(repo), latest("1.5.0"), credentials=wrong)
    assert "not-the-Passw0rd" not in str(raised.value) and tip(repo, BRANCH) == ""


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"push_branch": "-evil"}, "push branch '-evil' is not a valid git ref name"),
        ({"push_branch": "a..b"}, "not a valid git ref name"),
        ({"push_refspec": "+HEAD:refs/heads/x"}, "no '\\+' forcing"),
        ({"push_refspec": f"HEAD:refs/heads/{BRANCH}"}, "repeats the push branch"),
        ({"author_email": ""}, "needs an email"),
        ({"author_name": "a <b>"}, "cannot hold '<'"),
        ({"checkout": CheckoutRef(commit="abc123")}, "not a full SHA-1"),
        ({"checkout": CheckoutRef(name="heads/main")}, "must start with refs/"),
    ],
)
def test_unusable_settings_fail_before_any_git(changes: dict[str, Any], message: str) -> None:
    spec = spec_for(
        Remote(Path("/nowhere"), Path("/nowhere"), "http://127.0.0.1:9/x.git"), **changes
    )
    with pytest.raises(UpdateAutomationError, match=message):
        run_update(spec, latest("1.5.0"))


# ---- commit message templates -----------------------------------------------------------------

DEPLOY = ObjectIdentifier("apps/v1", "Deployment", "payment-service", "payments")
KUSTOMIZE = ObjectIdentifier("kustomize.config.k8s.io/v1beta1", "Kustomization")
TAG = Change("1.4.0", "1.5.0", "argocd:payment-service:tag")
WORKER = Change("worker:0.9", "worker:1.0", "argocd:worker")
DATA = TemplateData(
    AutomationObject("argocd", "payment-images"),
    ChangeSet(
        {"b/kustomization.yaml": {KUSTOMIZE: (TAG,)}, "a/deploy.yaml": {DEPLOY: (WORKER, TAG)}}
    ),
    {"cluster": "prod", "empty": ""},
)


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        (CHANGES, "1.4.0 -> 1.5.0\nworker:0.9 -> worker:1.0\n"),
        ("{{ range $r, $c := .Changed.Objects }}{{ $r.Kind }}={{ len $c }};{{ end }}",
         "Deployment=2;Kustomization=1;"),
        ("{{ range $f, $_ := .Changed.FileChanges }}{{ $f }} {{ end }}",
         "a/deploy.yaml b/kustomization.yaml "),
        ("{{ .AutomationObject }} {{ .AutomationObject.Name }}", "argocd/payment-images payment-images"),
        ("a\n  {{- \" b \" -}}  \n c {{- /* note */ -}} d {{/* x */}}", "a b cd "),
        ("{{ if eq .Values.cluster \"prod\" }}P{{ else if .Values.cluster }}Q{{ else }}R{{ end }}", "P"),
        ("{{ .Values.missing }}|{{ if .Values.missing }}y{{ else }}n{{ end }}|{{ .Values.empty }}|",
         "<no value>|n||"),
        ("{{ .Values.missing | default \"dev\" }} {{ .Values.cluster | upper | printf \"%-6s|\" }}",
         "dev PROD  |"),
        ("{{ print 1 2 }} {{ print \"a\" \"b\" }} {{ println \"x\" 3 }}", "1 2 ab x 3\n"),
        ("{{ printf \"%d%% %5s %q %v %s\" 42 \"ab\" \"q\" true 7 }}", '42%    ab "q" true %!s(int=7)'),
        ("{{ with .Values.cluster }}[{{ . }}]{{ else }}none{{ end }}{{ range .Values.x }}{{ else }}!{{ end }}",
         "[prod]!"),
        ("{{ $n := 0 }}{{ range $i, $c := .Changed.Changes }}{{ $n = $i }}{{ end }}{{ $n }}", "1"),
        ("{{ and .Values.cluster .Values.empty }}|{{ or .Values.empty \"x\" }}|{{ not 0 }}", "|x|true"),
        ("{{ (index .Changed.Changes 1).NewValue | replace \"worker\" \"w\" }}", "w:1.0"),
        ("{{ $c := index .Changed.Changes 0 }}{{ $c }}", "{1.4.0 1.5.0 argocd:payment-service:tag}"),
        ("{{ contains \"worker\" (index .Changed.Changes 1).OldValue }} {{ title \"image update\" }}",
         "true Image Update"),
        ("{{ range .Changed.Objects }}{{ . }}{{ end }}",
         "[{worker:0.9 worker:1.0 argocd:worker} {1.4.0 1.5.0 argocd:payment-service:tag}]"
         "[{1.4.0 1.5.0 argocd:payment-service:tag}]"),
        ("", DEFAULT_MESSAGE_TEMPLATE),
    ],
)  # fmt: skip
def test_templates_render_as_go_does(template: str, expected: str) -> None:
    assert render_message(template, DATA) == expected


def test_default_message_is_fluxs() -> None:
    assert render_message(None, DATA) == "Update from image update automation"


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("{{ .Updated.Images }}", "removed '.Updated' field; use '.Changed'"),
        ("{{ .Changed.ImageResult }}", "removed '.Changed.ImageResult'"),
        ("{{ .Changed.Nope }}", "can't evaluate field Nope in type ChangeSet"),
        ("{{ range .Changed.Changes }}{{ .Image }}{{ end }}", "field Image in type Change"),
        ('\n{{ sprigless "x" }}', 'line 2: function "sprigless" not defined'),
        ("{{ if .Values.cluster }}x", "missing {{end}}"),
        ("x{{ end }}", "unexpected {{end}}"),
        ("{{ $undefined }}", "undefined variable '\\$undefined'"),
        ('{{ define "x" }}{{ end }}', "{{define}} is not supported"),
        ("{{ print 1.5 }}", "only decimal integers"),
        ('{{ print "open', "unexpected"),
        ("{{ /* spaced */ }}", "unexpected '/'"),
        ("{{ }}", "missing value for command"),
        ("{{ len 3 }}", "len of type int"),
        ('{{ eq 1 "1" }}', "incompatible types for comparison"),
        ("{{ lower 1 }}", "expected a string argument"),
        ('{{ replace "a" }}', "wrong number of arguments for replace: want 3, got 1"),
        ("{{ .Changed.Changes 1 }}", "can't give an argument"),
        (
            "{{ range .AutomationObject }}{{ end }}",
            "range can't iterate over argocd/payment-images",
        ),
    ],
)
def test_template_errors_are_clear(template: str, problem: str) -> None:
    with pytest.raises(InvalidTemplateError, match=problem) as raised:
        render_message(template, DATA)
    assert str(raised.value).startswith("commit message template: ")


def test_templates_are_bounded() -> None:
    with pytest.raises(InvalidTemplateError, match="longer than 100 characters"):
        parse_template("x" * 101, TemplateLimits(max_template_chars=100))
    many = TemplateData(DATA.automation_object, DATA.changed, {str(n): "v" * 50 for n in range(99)})
    with pytest.raises(InvalidTemplateError, match="longer than 1000 characters"):
        render_message(
            "{{ range .Values }}{{ . }}{{ end }}", many, TemplateLimits(max_output_chars=1000)
        )
    with pytest.raises(InvalidTemplateError, match="step limit"):
        nested = "{{ range .Values }}{{ range $.Values }}x{{ end }}{{ end }}"
        render_message(nested, many, TemplateLimits(max_steps=5_000, max_output_chars=10**6))
    with pytest.raises(InvalidTemplateError, match="nested deeper than 3"):
        parse_template("{{ if 1 }}" * 4 + "{{ end }}" * 4, TemplateLimits(max_depth=3))
    with pytest.raises(InvalidTemplateError, match="message size limit"):
        render_message('{{ replace "" "xxxxxxxxxx" (printf "%900s" "") }}', DATA,
                       TemplateLimits(max_output_chars=5000))  # fmt: skip
    with pytest.raises(InvalidTemplateError, match="width or precision larger"):
        render_message('{{ printf "%99999999d" 1 }}', DATA)


def test_check_message_template_finds_typos_before_the_first_commit() -> None:
    check_message_template("{{ range .Changed.Changes }}{{ .NewValue }}{{ end }} {{ .Values.env }}")
    check_message_template("")
    with pytest.raises(InvalidTemplateError, match="field NewVersion"):
        check_message_template("{{ range .Changed.Changes }}{{ .NewVersion }}{{ end }}")
