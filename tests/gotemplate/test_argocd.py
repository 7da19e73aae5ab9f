"""The templates Argo CD users write: the notification catalog's and the ApplicationSet
GoTemplate documentation's, rendered over realistic data.

Snippets follow argo-cd notifications_catalog/templates/*.yaml and
docs/operator-manual/applicationset/GoTemplate.md; expected outputs are what Go's
text/template with Sprig prints for the same data.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tether.gotemplate import TemplateError, TemplateOptions, parse

APP: dict[str, Any] = {
    "metadata": {"name": "guestbook", "labels": {"team": "web"}},
    "spec": {"source": {"repoURL": "https://github.com/example/guestbook.git"}},
    "status": {
        "sync": {"status": "Synced", "revision": "8f3ca7b1e0d24c59a1f4bb2e7c5d6a9e0f1b2c3d"},
        "health": {"status": "Degraded"},
        "operationState": {
            "phase": "Failed",
            "message": 'one or more objects failed to apply: "web" is invalid',
            "startedAt": "2026-12-05T10:00:00Z",
            "finishedAt": "2026-12-05T10:00:42Z",
        },
        "conditions": [
            {"type": "SyncError", "message": 'Deployment "web" is invalid:\n replicas < 0'},
            {"type": "ComparisonError", "message": "rpc error: timeout"},
        ],
        "resources": [{"kind": "Service", "name": "web"}, {"kind": "Deployment", "name": "web"}],
    },
}
MULTI_SOURCE_APP: dict[str, Any] = {
    **APP,
    "spec": {
        "sources": [
            {"repoURL": "https://github.com/example/charts.git"},
            {"repoURL": "https://github.com/example/values.git"},
        ]
    },
}


def notify(text: str, app: dict[str, Any] = APP, service: str = "slack") -> str:
    data = {"app": app, "context": {"argocdUrl": "https://argocd.example.com"}}
    return parse(text, "notification").execute({**data, "serviceType": service})


MESSAGES = [
    (
        "Application {{.app.metadata.name}} has been created.",
        "Application guestbook has been created.",
    ),
    (
        '{{if eq .serviceType "slack"}}:white_check_mark:{{end}} Application '
        "{{.app.metadata.name}} is now running new version of deployments manifests.",
        ":white_check_mark: Application guestbook is now running new version of deployments"
        " manifests.",
    ),
    (
        '{{if eq .serviceType "slack"}}:exclamation:{{end}}  The sync operation of application '
        "{{.app.metadata.name}} has failed at {{.app.status.operationState.finishedAt}} with the "
        "following error: {{.app.status.operationState.message}}\n"
        "Sync operation details are available at: {{.context.argocdUrl}}/applications/"
        "{{.app.metadata.name}}?operation=true .",
        ":exclamation:  The sync operation of application guestbook has failed at "
        '2026-12-05T10:00:42Z with the following error: one or more objects failed to apply: "web"'
        " is invalid\nSync operation details are available at: "
        "https://argocd.example.com/applications/guestbook?operation=true .",
    ),
    (
        "The sync operation of application {{.app.metadata.name}} has started at "
        "{{.app.status.operationState.startedAt}}.",
        "The sync operation of application guestbook has started at 2026-12-05T10:00:00Z.",
    ),
    (
        '{{if eq .serviceType "slack"}}:exclamation:{{end}} Application {{.app.metadata.name}}'
        " has degraded.\nApplication details: {{.context.argocdUrl}}/applications/"
        "{{.app.metadata.name}}.",
        ":exclamation: Application guestbook has degraded.\nApplication details: "
        "https://argocd.example.com/applications/guestbook.",
    ),
    ("{{.app.status.health.status}} {{.app.status.sync.status}}", "Degraded Synced"),
]


@pytest.mark.parametrize(("text", "expected"), MESSAGES)
def test_catalog_messages(text: str, expected: str) -> None:
    assert notify(text) == expected


def test_catalog_message_for_other_services_drops_the_emoji() -> None:
    text = '{{if eq .serviceType "slack"}}:exclamation:{{end}} {{.app.metadata.name}}'
    assert notify(text, service="email") == " guestbook"


def test_sync_status_unknown_lists_conditions_outside_slack() -> None:
    text = (
        '{{if ne .serviceType "slack"}}\n{{range $c := .app.status.conditions}}\n'
        "    * {{$c.message}}\n{{end}}\n{{end}}"
    )
    assert notify(text, service="email") == (
        '\n\n    * Deployment "web" is invalid:\n replicas < 0\n\n    * rpc error: timeout\n\n'
    )
    assert notify(text) == ""


ATTACHMENTS = """[{
  "title": "{{ .app.metadata.name}}",
  "title_link":"{{.context.argocdUrl}}/applications/{{.app.metadata.name}}",
  "fields": [
  {
    "title": {{- if .app.spec.source }} "Repository" {{- else if .app.spec.sources }} "Repositories" {{- end }},
    "value": {{- if .app.spec.source }} ":arrow_heading_up: {{ .app.spec.source.repoURL }}" {{- else if .app.spec.sources }} "{{- range $index, $source := .app.spec.sources }}{{ if $index }}\\n{{ end }}:arrow_heading_up: {{ $source.repoURL }}{{- end }}" {{- end }},
    "short": true
  },
  {
    "title": "Revision",
    "value": "{{.app.status.sync.revision}}",
    "short": true
  }
  {{range $index, $c := .app.status.conditions}}
  ,
  {
    "title": "{{$c.type}}",
    "value": {{$c.message | quote}},
    "short": true
  }
  {{end}}
  ]
}]"""


def test_catalog_slack_attachments_are_json_for_one_source() -> None:
    attachments = json.loads(notify(ATTACHMENTS))
    fields = attachments[0]["fields"]
    assert attachments[0]["title_link"] == "https://argocd.example.com/applications/guestbook"
    assert fields[0] == {
        "title": "Repository",
        "value": ":arrow_heading_up: https://github.com/example/guestbook.git",
        "short": True,
    }
    assert fields[2]["value"] == 'Deployment "web" is invalid:\n replicas < 0'
    assert [f["title"] for f in fields] == [
        "Repository",
        "Revision",
        "SyncError",
        "ComparisonError",
    ]


def test_catalog_slack_attachments_are_json_for_several_sources() -> None:
    attachments = json.loads(notify(ATTACHMENTS, MULTI_SOURCE_APP))
    assert attachments[0]["fields"][0] == {
        "title": "Repositories",
        "value": ":arrow_heading_up: https://github.com/example/charts.git\n"
        ":arrow_heading_up: https://github.com/example/values.git",
        "short": True,
    }


def test_catalog_open_repository_action_has_the_extra_end_go_rejects() -> None:
    # The catalog's teams potentialAction "uri" carries one {{- end }} too many; Go's parser
    # stops there, and so does Tether's.
    text = (
        '"uri":{{- if .app.spec.source }} ":arrow_heading_up: {{ .app.spec.source.repoURL }}" '
        '{{- else if .app.spec.sources }} "{{- range $index, $source := .app.spec.sources }}'
        '{{ if $index }}\\n{{ end }}:arrow_heading_up: {{ $source.repoURL }}{{- end }}" '
        '{{- end }},}}" {{- end }},'
    )
    with pytest.raises(TemplateError) as info:
        parse(text, "potentialAction")
    assert str(info.value) == "template: potentialAction:1: unexpected {{end}}"


def test_older_catalog_call_of_repo_helper_is_refused_by_name() -> None:
    with pytest.raises(TemplateError, match='function "call" is refused'):
        parse("{{.app.spec.source.repoURL | call .repo.RepoURLToHTTPS}}")


NOTIFICATION_IDIOMS = [
    ("{{ .app.status.sync.revision | trunc 7 }}", "8f3ca7b"),
    ('{{index .app.metadata.labels "team"}}', "web"),
    ('{{index .app.metadata.labels "missing"}}', "<no value>"),
    (
        "{{range $i, $r := .app.status.resources}}{{if $i}}, {{end}}{{$r.kind}}/{{$r.name}}{{end}}",
        "Service/web, Deployment/web",
    ),
    ('{{if eq .app.status.operationState.phase "Succeeded"}}ok{{else}}failed{{end}}', "failed"),
    ("{{len .app.status.conditions}} conditions", "2 conditions"),
    ("{{ .app.metadata.name | upper }}", "GUESTBOOK"),
    ('{{ printf "%s@%.7s" .app.metadata.name .app.status.sync.revision }}', "guestbook@8f3ca7b"),
    ("{{ .app.status.operationState.message | quote }}",
     '"one or more objects failed to apply: \\"web\\" is invalid"'),
    ("{{ (urlParse .app.spec.source.repoURL).path }}", "/example/guestbook.git"),
    (
        '{{ date "2006-01-02 15:04" (toDate "2006-01-02T15:04:05Z07:00" '
        ".app.status.operationState.finishedAt) }}",
        "2026-12-05 10:00",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), NOTIFICATION_IDIOMS)
def test_notification_idioms(text: str, expected: str) -> None:
    assert notify(text) == expected


STRICT = TemplateOptions(missing_key="error")


def appset(text: str, params: dict[str, Any]) -> str:
    return parse(text, "appset", options=STRICT).execute(params)


GIT_PARAMS: dict[str, Any] = {
    "path": {
        "path": "applicationset/examples/git-generator-directory/cluster-addons/Argo_Workflows",
        "basename": "Argo_Workflows",
        "basenameNormalized": "argo-workflows",
        "filename": "config.json",
        "filenameNormalized": "config.json",
        "segments": ["applicationset", "examples", "git-generator-directory", "cluster-addons",
                     "Argo_Workflows"],
    },
    "values": {"replicas": 2, "image": {"tag": "v1.2.3"}, "env": "prod"},
    "name": "In-Cluster",
    "server": "https://kubernetes.default.svc",
    "metadata": {"labels": {"my-label": "blue"}, "annotations": {"my/annotation": "x"}},
}  # fmt: skip

APPSET_CASES = [
    ("{{.path.basename}}", "Argo_Workflows"),
    ("{{.path.path}}", GIT_PARAMS["path"]["path"]),
    ("{{.path.basenameNormalized}}", "argo-workflows"),
    ("{{base .path.path}}", "Argo_Workflows"),
    ("{{normalize .path.path}}",
     "applicationset-examples-git-generator-directory-cluster-addons-argo-workflows"),
    ("{{normalize .path.filename}}", "config.json"),
    ("{{.path.filename}}", "config.json"),
    ("{{index .path.segments 1}}", "examples"),
    ('{{ index .metadata.labels "my-label" }}', "blue"),
    ('{{ index .metadata.annotations "my/annotation" }}', "x"),
    ("{{ .name | lower }}", "in-cluster"),
    ('{{ default "latest" .values.image.tag }}',
     "v1.2.3"),
    ('{{ dig "values" "foo" "fallback" . }}', "fallback"),
    ("{{ toYaml .values | nindent 4 }}",
     "\n    env: prod\n    image:\n      tag: v1.2.3\n    replicas: 2"),
    ("{{ toJson .values.image }}", '{"tag":"v1.2.3"}'),
    ("guestbook/{{.name}}", "guestbook/In-Cluster"),
    ('{{ if eq .values.env "prod" }}production{{ else }}staging{{ end }}', "production"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), APPSET_CASES)
def test_applicationset_go_templates(text: str, expected: str) -> None:
    assert appset(text, GIT_PARAMS) == expected


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"cluster": "engineering-dev", "url": "https://kubernetes.default.svc"},
         "engineering-dev"),
        ({"cluster": "engineering-prod", "url": "https://kubernetes.default.svc",
          "nameSuffix": "-my-name-suffix"}, "engineering-prod-my-name-suffix"),
    ],
)  # fmt: skip
def test_applicationset_fallback_for_unset_parameters(
    params: dict[str, Any], expected: str
) -> None:
    assert appset('{{.cluster}}{{dig "nameSuffix" "" .}}', params) == expected


def test_applicationset_list_generator_example() -> None:
    for cluster, url in [("engineering-dev", "https://1.2.3.4"), ("finance-preprod", "x")]:
        params = {"cluster": cluster, "url": url}
        assert appset("{{.cluster}}-guestbook", params) == f"{cluster}-guestbook"
        assert appset("guestbook/{{.cluster}}", params) == f"guestbook/{cluster}"
        assert appset("{{.url}}", params) == url


def test_applicationset_missingkey_error_names_the_parameter() -> None:
    with pytest.raises(TemplateError) as info:
        appset("{{.cluster}}{{.nameSuffix}}", {"cluster": "engineering-dev"})
    assert str(info.value) == (
        'template: appset:1:14: executing "appset" at <.nameSuffix>: '
        'map has no entry for key "nameSuffix"'
    )


def test_applicationset_control_keywords_across_fields_fail() -> None:
    # Each field is its own template: "{{range .parameters}}" alone does not parse.
    with pytest.raises(TemplateError, match="unexpected EOF"):
        parse("{{range .parameters}}", options=STRICT)
    with pytest.raises(TemplateError, match=r"unexpected \{\{end\}\}"):
        parse("{{end}}", options=STRICT)


def test_slugify_is_not_supported_yet() -> None:
    with pytest.raises(TemplateError, match='function "slugify" is not supported'):
        parse("{{ cat .branch | slugify 23 }}")
