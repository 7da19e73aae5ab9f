"""ApplicationSets from Argo CD's documented examples produce exactly the Applications the docs
say: List (and elementsYaml), Cluster (selector, values), Git directories (exclude), Git files
(flattened JSON, pathParamPrefix), Matrix, Merge, selectors, Go templates with
missingkey=error and templatePatch; and bad input is one clear error."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from tests.appsets.conftest import Repo
from tether.appsets.applications import generate_applications
from tether.appsets.errors import AppSetError
from tether.appsets.generators.context import ClusterInfo, Context

IN_CLUSTER = ClusterInfo("in-cluster", "https://kubernetes.default.svc", local=True)
STAGING = ClusterInfo(
    "staging-eu", "https://10.0.0.1", "", {"env": "staging", "region": "eu"}, {"team": "a"}
)
PROD = ClusterInfo("prod_us", "https://10.0.0.2", "", {"env": "prod", "region": "us"})


def no_git(url: str, revision: str) -> Any:
    raise AssertionError("no Git here")


def appset(spec: str) -> dict[str, Any]:
    return {"metadata": {"name": "set", "namespace": "argocd"}, "spec": yaml.safe_load(spec)}


def names(apps: list[dict[str, Any]]) -> list[str]:
    return [a["metadata"]["name"] for a in apps]


GUESTBOOK = """
generators:
- list:
    elements:
    - cluster: engineering-dev
      url: https://1.2.3.4
    - cluster: engineering-prod
      url: https://2.4.6.8
template:
  metadata:
    name: '{{cluster}}-guestbook'
  spec:
    project: my-project
    source:
      repoURL: https://github.com/argoproj/argo-cd.git
      targetRevision: HEAD
      path: applicationset/examples/list-generator/guestbook/{{cluster}}
    destination:
      server: '{{url}}'
      namespace: guestbook
"""


def test_the_list_example() -> None:
    apps = generate_applications(appset(GUESTBOOK), Context(no_git))
    assert names(apps) == ["engineering-dev-guestbook", "engineering-prod-guestbook"]
    dev = apps[0]
    assert dev["metadata"]["namespace"] == "argocd"
    assert (
        dev["spec"]["source"]["path"]
        == "applicationset/examples/list-generator/guestbook/engineering-dev"
    )
    assert dev["spec"]["destination"] == {"server": "https://1.2.3.4", "namespace": "guestbook"}


def test_elements_yaml_and_go_templates_with_structured_values() -> None:
    spec = """
goTemplate: true
goTemplateOptions: ["missingkey=error"]
generators:
- list:
    elementsYaml: |
      - cluster: dev
        replicas: 1
        tags: [a, b]
template:
  metadata:
    name: '{{.cluster}}-app'
    labels:
      tags: '{{ join "-" .tags }}'
  spec:
    project: default
    source: {repoURL: https://example.com/r.git, path: 'apps/{{.cluster | upper}}'}
    destination: {server: https://kubernetes.default.svc, namespace: '{{.cluster}}'}
"""
    (app,) = generate_applications(appset(spec), Context(no_git))
    assert app["metadata"]["name"] == "dev-app"
    assert app["metadata"]["labels"] == {"tags": "a-b"}
    assert app["spec"]["source"]["path"] == "apps/DEV"


def test_missingkey_error_names_the_template() -> None:
    spec = GUESTBOOK.replace("'{{cluster}}-guestbook'", "'{{.cluster}}-{{.nope}}'")
    spec = 'goTemplate: true\ngoTemplateOptions: ["missingkey=error"]\n' + spec.replace(
        "'{{url}}'", "'{{.url}}'"
    )
    with pytest.raises(AppSetError, match="nope") as failed:
        generate_applications(appset(spec), Context(no_git))
    assert "spec.generators[0]" in failed.value.message or "template" in failed.value.message


def test_the_cluster_generator_with_selector_and_values() -> None:
    spec = """
generators:
- clusters:
    selector:
      matchLabels: {env: staging}
    values:
      revision: '{{metadata.labels.region}}-branch'
template:
  metadata: {name: '{{nameNormalized}}-guestbook'}
  spec:
    project: default
    source: {repoURL: https://example.com/r.git, targetRevision: '{{values.revision}}', path: gb}
    destination: {server: '{{server}}', namespace: guestbook}
"""
    ctx = Context(no_git, (IN_CLUSTER, STAGING, PROD))
    (app,) = generate_applications(appset(spec), ctx)
    assert app["metadata"]["name"] == "staging-eu-guestbook"
    assert app["spec"]["source"]["targetRevision"] == "eu-branch"
    everything = appset(spec.replace("    selector:\n      matchLabels: {env: staging}\n", ""))
    # no selector: the local cluster too; a name with "_" normalized
    assert names(generate_applications(everything, ctx)) == [
        "in-cluster-guestbook", "staging-eu-guestbook", "prod-us-guestbook"
    ]  # fmt: skip


ADDONS = {
    "cluster-addons/argo-workflows/kustomization.yaml": "resources: []\n",
    "cluster-addons/prometheus-operator/Chart.yaml": "name: p\n",
    "cluster-addons/exclude-helm-guestbook/Chart.yaml": "name: g\n",
    "cluster-addons/.hidden/kustomization.yaml": "resources: []\n",
}


def test_git_directories_with_exclude(repo: Repo) -> None:
    url, ctx = repo(ADDONS)
    spec = f"""
generators:
- git:
    repoURL: {url}
    revision: HEAD
    directories:
    - path: cluster-addons/*
    - path: cluster-addons/exclude-helm-guestbook
      exclude: true
template:
  metadata: {{name: '{{{{path.basename}}}}'}}
  spec:
    project: my-project
    source: {{repoURL: {url}, targetRevision: HEAD, path: '{{{{path}}}}'}}
    destination: {{server: https://kubernetes.default.svc, namespace: '{{{{path[1]}}}}'}}
"""
    apps = generate_applications(appset(spec), ctx)
    assert names(apps) == ["argo-workflows", "prometheus-operator"]
    assert apps[1]["spec"]["source"]["path"] == "cluster-addons/prometheus-operator"
    assert apps[1]["spec"]["destination"]["namespace"] == "prometheus-operator"


def test_git_files_flattened_with_path_params(repo: Repo) -> None:
    config = {"aws_account": "123456", "asset_id": "11223344",
              "cluster": {"owner": "cluster-admin@company.com", "name": "engineering-dev",
                          "address": "https://1.2.3.4"}}  # fmt: skip
    prod = {**config, "cluster": {**config["cluster"], "name": "engineering-prod"}}
    url, ctx = repo({
        "cluster-config/engineering/dev/config.json": json.dumps(config),
        "cluster-config/engineering/prod/config.json": json.dumps(prod),
        "apps/guestbook/kustomization.yaml": "resources: []\n",
    })  # fmt: skip
    spec = f"""
generators:
- git:
    repoURL: {url}
    revision: HEAD
    files:
    - path: "cluster-config/**/config.json"
template:
  metadata: {{name: '{{{{cluster.name}}}}-guestbook'}}
  spec:
    project: default
    source: {{repoURL: {url}, targetRevision: HEAD, path: apps/guestbook}}
    destination: {{server: '{{{{cluster.address}}}}', namespace: '{{{{path.basename}}}}'}}
    info: []
"""
    apps = generate_applications(appset(spec.replace("    info: []\n", "")), ctx)
    assert names(apps) == ["engineering-dev-guestbook", "engineering-prod-guestbook"]
    assert apps[0]["spec"]["destination"] == {"server": "https://1.2.3.4", "namespace": "dev"}
    # Go templates with pathParamPrefix: .prefix.path.* beside the file's own keys
    go = spec.replace("generators:", "goTemplate: true\ngenerators:").replace(
        "revision: HEAD\n    files:", "revision: HEAD\n    pathParamPrefix: cfg\n    files:"
    )
    go = go.replace("{{cluster.name}}", "{{.cluster.name}}-{{.cfg.path.filenameNormalized}}")
    go = go.replace("'{{cluster.address}}'", "'{{.cluster.address}}'")
    go = go.replace("'{{path.basename}}'", "'{{index .cfg.path.segments 2}}'")
    apps = generate_applications(appset(go.replace("    info: []\n", "")), ctx)
    assert names(apps) == ["engineering-dev-config.json-guestbook",
                           "engineering-prod-config.json-guestbook"]  # fmt: skip
    assert apps[1]["spec"]["destination"]["namespace"] == "prod"


def test_matrix_of_git_directories_and_clusters(repo: Repo) -> None:
    url, ctx = repo(ADDONS)
    ctx = Context(ctx.tree, (IN_CLUSTER, STAGING, PROD))
    spec = f"""
goTemplate: true
goTemplateOptions: ["missingkey=error"]
generators:
- matrix:
    generators:
    - git:
        repoURL: {url}
        revision: HEAD
        directories:
        - path: cluster-addons/*
        - path: cluster-addons/exclude-helm-guestbook
          exclude: true
    - clusters:
        selector:
          matchLabels: {{env: staging}}
template:
  metadata: {{name: '{{{{.path.basename}}}}-{{{{.name}}}}'}}
  spec:
    project: default
    source: {{repoURL: {url}, targetRevision: HEAD, path: '{{{{.path.path}}}}'}}
    destination: {{server: '{{{{.server}}}}', namespace: '{{{{.path.basename}}}}'}}
"""
    apps = generate_applications(appset(spec), ctx)
    assert names(apps) == ["argo-workflows-staging-eu", "prometheus-operator-staging-eu"]


def test_merge_overrides_by_merge_key() -> None:
    spec = """
generators:
- merge:
    mergeKeys: [server]
    generators:
    - clusters:
        values: {kafka: 'true', redis: 'false'}
    - clusters:
        selector: {matchLabels: {env: staging}}
        values: {redis: 'true'}
    - list:
        elements:
        - server: https://10.0.0.2
          values.redis: 'true'
template:
  metadata: {name: '{{nameNormalized}}-{{values.kafka}}-{{values.redis}}'}
  spec:
    project: default
    source: {repoURL: https://example.com/r.git, path: p}
    destination: {server: '{{server}}', namespace: ns}
"""
    apps = generate_applications(appset(spec), Context(no_git, (IN_CLUSTER, STAGING, PROD)))
    assert names(apps) == ["in-cluster-true-false", "staging-eu-true-true", "prod-us-true-true"]


def test_a_generator_selector_post_filters() -> None:
    spec = GUESTBOOK.replace(
        "- list:",
        "- selector: {matchExpressions: [{key: cluster, operator: NotIn, "
        "values: [engineering-prod]}]}\n  list:",
    )
    assert names(generate_applications(appset(spec), Context(no_git))) == [
        "engineering-dev-guestbook"
    ]


def test_template_patch_adds_what_string_templates_cannot() -> None:
    spec = """
goTemplate: true
generators:
- list:
    elements:
    - {name: web, autoSync: true, prune: false}
    - {name: api, autoSync: false}
template:
  metadata: {name: '{{.name}}'}
  spec:
    project: default
    source: {repoURL: https://example.com/r.git, path: '{{.name}}'}
    destination: {server: https://kubernetes.default.svc, namespace: '{{.name}}'}
templatePatch: |
  {{- if .autoSync }}
  spec:
    syncPolicy:
      automated:
        prune: {{ .prune }}
  {{- end }}
"""
    web, api = generate_applications(appset(spec), Context(no_git))
    assert web["spec"]["syncPolicy"] == {"automated": {"prune": False}}
    assert "syncPolicy" not in api["spec"]


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (
            lambda s: s.replace("'{{cluster}}-guestbook'", "'guestbook'"),
            "both render Application guestbook",
        ),
        (lambda s: s.replace("'{{cluster}}-guestbook'", "'{{cluster}}_Bad'"), "not a valid name"),
        (lambda s: s.replace("- list:", "- plugin: {}\n  x:"), "exactly one generator"),
        (lambda s: s.replace("- list:", "- plugin:"), "not supported by Tether yet"),
        (lambda s: s.replace("- list:", "- lists:"), "'lists' is not a generator"),
        (lambda s: s.replace("project: my-project", "project: 5\n    sources: 3"), "invalid"),
    ],
)
def test_bad_input_is_one_clear_error(change: Any, words: str) -> None:
    with pytest.raises(AppSetError) as failed:
        generate_applications(appset(change(GUESTBOOK)), Context(no_git))
    assert words in failed.value.message


def test_ten_thousand_elements_are_refused() -> None:
    elements = "\n".join(f"    - {{cluster: c{i}, url: https://x}}" for i in range(10_000))
    spec = (
        GUESTBOOK.split("    elements:\n")[0]
        + "    elements:\n"
        + elements
        + "\ntemplate:"
        + (GUESTBOOK.split("template:")[1])
    )
    with pytest.raises(AppSetError, match="produced 10000 parameter sets, more than 5000"):
        generate_applications(appset(spec), Context(no_git))


def test_pull_requests_by_label_and_branch_filters() -> None:
    from tether.appsets.generators.pullrequests import slug, source_of
    from tether.githost.models import PullRequest

    spec = yaml.safe_load("""
github:
  owner: acme
  repo: shop
  tokenRef: {secretName: gh, key: token}
  labels: [preview]
filters:
- branchMatch: "^feature-"
- targetBranchMatch: "^release$"
""")
    source = source_of(spec, "g")
    assert (source.api, source.repo, source.labels) == ("https://api.github.com", "acme/shop",
                                                        ("preview",))  # fmt: skip

    def pull(number: int, head: str, base: str, labels: tuple[str, ...]) -> PullRequest:
        return PullRequest(number, "", head, base, "t", "", "open", False, "a1b2c3d4e5f6" * 3,
                           labels, "dev")  # fmt: skip

    pulls = (pull(1, "feature-A_b", "main", ("preview",)),   # branchMatch
             pull(2, "fix", "release", ("preview", "x")),     # targetBranchMatch
             pull(3, "fix", "main", ("preview",)),            # no filter lets it through
             pull(4, "feature-c", "main", ()))  # no label  # fmt: skip
    template = """
goTemplate: true
generators:
- pullRequest: PR
template:
  metadata: {name: 'pr-{{.number}}-{{.branch_slug}}-{{.head_short_sha_7}}'}
  spec:
    project: default
    source: {repoURL: https://example.com/r.git, targetRevision: '{{.head_sha}}', path: p}
    destination: {server: https://kubernetes.default.svc, namespace: '{{index .labels 0}}'}
"""
    doc = appset(template)
    doc["spec"]["generators"][0]["pullRequest"] = spec
    ctx = Context(no_git, (), {source.cache_key: pulls})
    assert names(generate_applications(doc, ctx)) == [
        "pr-1-feature-a-b-a1b2c3d",
        "pr-2-fix-a1b2c3d",
    ]
    assert slug("Feature/ÜBER__long") == "feature-ber-long"
    with pytest.raises(AppSetError, match="were not read"):
        generate_applications(doc, Context(no_git))
    with pytest.raises(AppSetError, match="not supported by Tether yet"):
        source_of({"azuredevops": {}}, "g")


@pytest.mark.parametrize("call", ['env "HOME"', 'expandenv "$HOME"', 'getHostByName "example.com"'])
def test_templates_cannot_read_the_environment_or_the_network(call: str) -> None:
    spec = GUESTBOOK.replace("'{{cluster}}-guestbook'", f"'{{{{ {call} }}}}-{{{{.cluster}}}}'")
    spec = "goTemplate: true\n" + spec.replace("'{{url}}'", "'{{.url}}'")
    with pytest.raises(AppSetError) as refused:
        generate_applications(appset(spec), Context(no_git))
    assert call.split()[0] in refused.value.message


def test_cluster_decisions_choose_known_clusters_with_their_keys() -> None:
    from tether.appsets.generators.decisions import source_of

    spec = {"configMapRef": "ocm-placement", "labelSelector": {"matchLabels": {"duck": "spotted"}},
            "values": {"tier": "{{clusterName}}-tier"}}  # fmt: skip
    source = source_of(spec, "g")
    entries = ({"clusterName": "staging-eu", "score": 7}, {"clusterName": "unknown"},
               {"clusterName": "in-cluster", "score": 3})  # fmt: skip
    ctx = Context(
        no_git, (IN_CLUSTER, STAGING, PROD), {}, {source.cache_key: ("clusterName", entries)}
    )
    doc = appset("""
generators:
- clusterDecisionResource: SPEC
template:
  metadata: {name: '{{name}}-{{score}}-{{values.tier}}'}
  spec:
    project: default
    source: {repoURL: https://example.com/r.git, path: p}
    destination: {server: '{{server}}', namespace: ns}
""")
    doc["spec"]["generators"][0]["clusterDecisionResource"] = spec
    apps = generate_applications(doc, ctx)
    assert names(apps) == ["staging-eu-7-staging-eu-tier", "in-cluster-3-in-cluster-tier"]
    assert apps[0]["spec"]["destination"]["server"] == STAGING.server
    with pytest.raises(AppSetError, match="either name or labelSelector"):
        source_of({"configMapRef": "x"}, "g")


def test_scm_filters_as_argo_cd_applies_them() -> None:
    from tether.appsets.generators.scm import ScmCandidate, filter_paths, passes, source_of
    from tether.githost.scm import ScmBranch, ScmRepository

    def candidate(name: str, branch: str, topics: tuple[str, ...], *paths: str) -> ScmCandidate:
        repo = ScmRepository("acme", name, 1, f"https://h/acme/{name}.git", "", "main", topics)
        return ScmCandidate(repo, ScmBranch(branch, "f" * 40), frozenset(paths))

    filters = [{"repositoryMatch": "^shop", "pathsExist": ["deploy/"], "pathsDoNotExist": ["FROZEN"]},
               {"labelMatch": "^always$"}]  # fmt: skip
    assert filter_paths({"filters": filters}) == {"deploy", "FROZEN"}
    assert passes(candidate("shop-web", "main", (), "deploy"), filters, "g")
    assert not passes(candidate("shop-web", "main", (), "deploy", "FROZEN"), filters, "g")
    assert not passes(candidate("docs", "main", (), "deploy"), filters, "g")
    assert passes(candidate("docs", "main", ("always",)), filters, "g")  # any filter may pass
    assert passes(candidate("x", "dev", ()), [], "g")  # no filter: everything
    source = source_of({"gitea": {"owner": "acme", "api": "https://gitea.example",
                                  "tokenRef": {"secretName": "t", "key": "k"}}}, "g")  # fmt: skip
    assert (source.api, source.organization) == ("https://gitea.example/api/v1", "acme")
    with pytest.raises(AppSetError, match="not supported by Tether yet"):
        source_of({"bitbucketServer": {}}, "g")


def test_bitbucket_server_pull_requests_need_a_login_and_have_no_labels() -> None:
    from tether.appsets.generators.pullrequests import source_of

    source = source_of({"bitbucketServer": {
        "project": "SHOP", "repo": "web", "api": "https://bitbucket.example.com",
        "basicAuth": {"username": "bot", "passwordRef": {"secretName": "bb", "key": "password"}}}},
        "g")  # fmt: skip
    assert (source.repo, source.username, source.key) == ("SHOP/web", "bot", "password")
    with pytest.raises(AppSetError, match="no labels"):
        source_of({"bitbucketServer": {"project": "S", "repo": "w", "api": "https://b",
                                       "labels": ["x"]}}, "g")  # fmt: skip
    with pytest.raises(AppSetError, match=r"bearerToken\.tokenRef or basicAuth"):
        source_of({"bitbucketServer": {"project": "S", "repo": "w", "api": "https://b"}}, "g")
