"""Every name Tether shares with Argo CD (and its own annotations), in one place.

Manifests written for Argo CD work unchanged only if Tether spells these exactly as Argo CD does;
code imports them from here instead of writing the strings again.
"""

from __future__ import annotations

from typing import Final

# ---- Argo CD's API ---------------------------------------------------------------------------

ARGO_GROUP: Final = "argoproj.io"
ARGO_VERSION: Final = "v1alpha1"
ARGO_API_VERSION: Final = f"{ARGO_GROUP}/{ARGO_VERSION}"
APPLICATION: Final = "Application"
APP_PROJECT: Final = "AppProject"
APPLICATION_SET: Final = "ApplicationSet"
DEFAULT_PROJECT: Final = "default"
#: the control namespace Argo CD installs into, and Tether's default
DEFAULT_NAMESPACE: Final = "argocd"

# ---- finalizers ------------------------------------------------------------------------------

RESOURCES_FINALIZER: Final = "resources-finalizer.argocd.argoproj.io"
BACKGROUND_RESOURCES_FINALIZER: Final = f"{RESOURCES_FINALIZER}/background"
HOOK_FINALIZER: Final = "argocd.argoproj.io/hook-finalizer"

# ---- annotations and labels on Applications and on the objects they manage --------------------

REFRESH_ANNOTATION: Final = "argocd.argoproj.io/refresh"
TRACKING_ANNOTATION: Final = "argocd.argoproj.io/tracking-id"
INSTANCE_LABEL: Final = "app.kubernetes.io/instance"
SYNC_WAVE_ANNOTATION: Final = "argocd.argoproj.io/sync-wave"
HOOK_ANNOTATION: Final = "argocd.argoproj.io/hook"
HOOK_DELETE_POLICY_ANNOTATION: Final = "argocd.argoproj.io/hook-delete-policy"
HELM_HOOK_ANNOTATION: Final = "helm.sh/hook"
HELM_HOOK_WEIGHT_ANNOTATION: Final = "helm.sh/hook-weight"
HELM_HOOK_DELETE_POLICY_ANNOTATION: Final = "helm.sh/hook-delete-policy"
SYNC_OPTIONS_ANNOTATION: Final = "argocd.argoproj.io/sync-options"
COMPARE_OPTIONS_ANNOTATION: Final = "argocd.argoproj.io/compare-options"
IGNORE_HEALTHCHECK_ANNOTATION: Final = "argocd.argoproj.io/ignore-healthcheck"
IGNORE_RESTART_POLICY_ANNOTATION: Final = "argocd.argoproj.io/ignore-restart-policy"

# ---- Secrets and ConfigMaps of the control namespace -----------------------------------------

SECRET_TYPE_LABEL: Final = "argocd.argoproj.io/secret-type"
SECRET_TYPE_CLUSTER: Final = "cluster"
SECRET_TYPE_REPOSITORY: Final = "repository"
SECRET_TYPE_REPO_CREDS: Final = "repo-creds"
SETTINGS_CONFIGMAP: Final = "argocd-cm"
#: ``argocd-cm`` keys Tether reads (besides ``resource.customizations.*``)
INSTANCE_LABEL_KEY_SETTING: Final = "application.instanceLabelKey"
TRACKING_METHOD_SETTING: Final = "application.resourceTrackingMethod"
RBAC_CONFIGMAP: Final = "argocd-rbac-cm"
IN_CLUSTER_SERVER: Final = "https://kubernetes.default.svc"
IN_CLUSTER_NAME: Final = "in-cluster"

# ---- Tether's own names ----------------------------------------------------------------------

#: field manager of the controller's writes (applies, status), as kubectl's managedFields show
CONTROLLER_FIELD_MANAGER: Final = "tether"
#: field manager of the API server's writes (Applications, Secrets it creates for users)
SERVER_FIELD_MANAGER: Final = "tether-server"
#: field manager of the Sealed Secrets controller's writes
SECRETS_FIELD_MANAGER: Final = "tether-secrets"
#: Application annotation: the Secret holding age keys for SOPS files
SOPS_SECRET_ANNOTATION: Final = "tether.io/sops-secret"
#: Secret annotation: comma-separated globs of the projects whose Applications may use it
SECRET_PROJECTS_ANNOTATION: Final = "tether.io/projects"
#: AppProject annotation: comma-separated globs of the projects its child Applications may name
CHILD_PROJECTS_ANNOTATION: Final = "tether.io/child-projects"
#: the API server's Secret in the control namespace: signing key, accounts, password hashes
SERVER_SECRET: Final = "tether-secret"

# ---- what an Argo CD install holds --------------------------------------------------------------

#: the Secret holding the generated admin password in clear text, key ``password``
INITIAL_ADMIN_SECRET: Final = "argocd-initial-admin-secret"
INITIAL_ADMIN_PASSWORD_KEY: Final = "password"
#: the ConfigMap of command-line parameters every Argo CD component reads at start
CMD_PARAMS_CONFIGMAP: Final = "argocd-cmd-params-cm"
#: the Argo CD workloads whose presence means a running Argo CD owns the namespace
ARGOCD_WORKLOADS: Final = ("argocd-server", "argocd-application-controller")
#: the SSH host keys git checks repositories against (key ``ssh_known_hosts``)
SSH_KNOWN_HOSTS_CONFIGMAP: Final = "argocd-ssh-known-hosts-cm"
SSH_KNOWN_HOSTS_KEY: Final = "ssh_known_hosts"
#: per-server CA certificates for https repositories (keys: server names)
TLS_CERTS_CONFIGMAP: Final = "argocd-tls-certs-cm"
#: argocd-cm key turning on sync impersonation (AppProject destinationServiceAccounts)
IMPERSONATION_ENABLED_SETTING: Final = "application.sync.impersonation.enabled"

# ---- sharding across controller replicas (tether/controller/shards.py) -------------------------

#: Application label pinning it to a shard (a number below the shard count; else ignored)
SHARD_LABEL: Final = "tether.io/shard"
#: the Lease whose annotation holds the membership record (replicas, generation, shard owners)
SHARD_RECORD_LEASE: Final = "tether-shards"
#: annotation of that Lease holding the record (JSON)
SHARD_RECORD_ANNOTATION: Final = "tether.io/shard-record"
#: each replica's own Lease is named this prefix plus its identity (made a valid name)
REPLICA_LEASE_PREFIX: Final = "tether-replica-"
#: label on each replica's own Lease (so they are listed together)
REPLICA_LEASE_LABEL: Final = "tether.io/controller-replica"
#: annotation of a replica's own Lease: the shards it works on (comma-separated), for people
HELD_SHARDS_ANNOTATION: Final = "tether.io/held-shards"
#: annotation of the record's Lease: repositories a replica received a webhook for, so every
#: replica checks them for its own apps (JSON: URL -> sequence number)
PUSHED_REPOSITORIES_ANNOTATION: Final = "tether.io/pushed-repositories"

# ---- Flux's image automation API (tether/images/) ----------------------------------------------

FLUX_IMAGE_GROUP: Final = "image.toolkit.fluxcd.io"
FLUX_IMAGE_VERSION: Final = "v1"
FLUX_IMAGE_API_VERSION: Final = f"{FLUX_IMAGE_GROUP}/{FLUX_IMAGE_VERSION}"
IMAGE_REPOSITORY: Final = "ImageRepository"
IMAGE_POLICY: Final = "ImagePolicy"
IMAGE_UPDATE_AUTOMATION: Final = "ImageUpdateAutomation"
#: the plural (resource) names of those kinds, as their CRDs are named ``<plural>.<group>``
IMAGE_REPOSITORIES: Final = "imagerepositories"
IMAGE_POLICIES: Final = "imagepolicies"
IMAGE_UPDATE_AUTOMATIONS: Final = "imageupdateautomations"
# ---- Flux's notification API (tether/notify/flux/) -------------------------------------------

FLUX_NOTIFICATION_GROUP: Final = "notification.toolkit.fluxcd.io"
FLUX_NOTIFICATION_VERSION: Final = "v1beta3"
FLUX_NOTIFICATION_API_VERSION: Final = f"{FLUX_NOTIFICATION_GROUP}/{FLUX_NOTIFICATION_VERSION}"
FLUX_ALERT: Final = "Alert"
FLUX_PROVIDER: Final = "Provider"
FLUX_ALERTS: Final = "alerts"
FLUX_PROVIDERS: Final = "providers"

#: annotation asking Flux (and Tether) to reconcile now; its value is echoed in
#: ``status.lastHandledReconcileAt``
FLUX_RECONCILE_REQUEST_ANNOTATION: Final = "reconcile.fluxcd.io/requestedAt"
#: annotations of an ImageUpdateAutomation asking Tether to open a pull request for its push
#: branch (Tether's addition, docs/images.md): the provider (github, gitlab, gitea, forgejo; or
#: ``true`` to guess it from the host), the Secret (key ``token``) and a self-hosted API's URL
PULL_REQUEST_ANNOTATION: Final = "images.tether.io/pull-request"
PULL_REQUEST_SECRET_ANNOTATION: Final = "images.tether.io/pull-request-secret"
PULL_REQUEST_API_URL_ANNOTATION: Final = "images.tether.io/pull-request-api-url"

# ---- Argo CD Image Updater's Application annotations (tether/images/imageupdater.py) ----------

IMAGE_UPDATER_PREFIX: Final = "argocd-image-updater.argoproj.io"
#: ``[alias=]image[:constraint]``, comma-separated; its presence marks the Application
IMAGE_UPDATER_IMAGE_LIST: Final = f"{IMAGE_UPDATER_PREFIX}/image-list"
IMAGE_UPDATER_WRITE_BACK_METHOD: Final = f"{IMAGE_UPDATER_PREFIX}/write-back-method"
IMAGE_UPDATER_WRITE_BACK_TARGET: Final = f"{IMAGE_UPDATER_PREFIX}/write-back-target"
IMAGE_UPDATER_GIT_BRANCH: Final = f"{IMAGE_UPDATER_PREFIX}/git-branch"
IMAGE_UPDATER_GIT_REPOSITORY: Final = f"{IMAGE_UPDATER_PREFIX}/git-repository"
#: options written ``<prefix>/<alias>.<option>`` (an alias's ``/`` spelled ``_``)
IMAGE_UPDATER_IMAGE_OPTIONS: Final = (
    "update-strategy", "allow-tags", "ignore-tags", "force-update", "pull-secret",
    "helm.image-name", "helm.image-tag", "helm.image-spec", "kustomize.image-name",
    "platforms", "tag-match",
)  # fmt: skip
#: the options also written ``<prefix>/<option>``: the default of every image
IMAGE_UPDATER_APP_WIDE_OPTIONS: Final = (
    "update-strategy", "allow-tags", "ignore-tags", "force-update", "pull-secret",
)  # fmt: skip
#: Image Updater's default Helm parameters of an image's name and tag
IMAGE_UPDATER_HELM_NAME_DEFAULT: Final = "image.name"
IMAGE_UPDATER_HELM_TAG_DEFAULT: Final = "image.tag"
#: Image Updater's default write-back file, a parameter override file Tether does not write
IMAGE_UPDATER_OVERRIDE_FILE: Final = ".argocd-source-{app}.yaml"
#: label of the ImageRepositories and ImagePolicies Tether makes for an Application's Image
#: Updater annotations (its value: the Application's name)
IMAGE_UPDATER_APP_LABEL: Final = "images.tether.io/application"
#: Flux's source API (GitRepository), read when an ImageUpdateAutomation names one
FLUX_SOURCE_API_VERSION: Final = "source.toolkit.fluxcd.io/v1"

#: Application annotation: the Applications (same namespace) whose readiness its syncs wait for
DEPENDS_ON_ANNOTATION: Final = "tether.io/depends-on"
#: AppProject annotation: globs of the other projects its apps may depend on
DEPENDENCY_PROJECTS_ANNOTATION: Final = "tether.io/dependency-projects"

# ---- Flux's kustomize API (tether/flux/) ------------------------------------------------------

#: label or annotation on a rendered object; the value ``disabled`` keeps Flux's post-build
#: variable substitution (``spec.postBuild``) away from that object
FLUX_SUBSTITUTE_KEY: Final = "kustomize.toolkit.fluxcd.io/substitute"
FLUX_SUBSTITUTE_DISABLED: Final = "disabled"
#: labels Flux's kustomize-controller stamps on every object a Kustomization applies (its name
#: and namespace): what it prunes must still carry them
FLUX_KUSTOMIZATION_NAME_LABEL: Final = "kustomize.toolkit.fluxcd.io/name"
FLUX_KUSTOMIZATION_NAMESPACE_LABEL: Final = "kustomize.toolkit.fluxcd.io/namespace"
#: label or annotation ``disabled`` on an applied object: never pruned (nor deleted with it)
FLUX_PRUNE_KEY: Final = "kustomize.toolkit.fluxcd.io/prune"
#: label or annotation ``disabled`` on an object in Git: never applied or pruned by Flux
FLUX_RECONCILE_KEY: Final = "kustomize.toolkit.fluxcd.io/reconcile"
#: annotation choosing how an object is applied: Override (default), Merge, IfNotPresent, Ignore
FLUX_SSA_KEY: Final = "kustomize.toolkit.fluxcd.io/ssa"
#: the field manager of Flux's kustomize-controller, taken over so ownership moves cleanly
FLUX_KUSTOMIZE_FIELD_MANAGER: Final = "kustomize-controller"
FLUX_KUSTOMIZE_API_VERSION: Final = "kustomize.toolkit.fluxcd.io/v1"
FLUX_KUSTOMIZATION: Final = "Kustomization"
FLUX_GIT_REPOSITORY: Final = "GitRepository"
#: Flux's Helm API (tether/flux/helm*.py): sources and the release
FLUX_HELM_REPOSITORY: Final = "HelmRepository"
FLUX_OCI_REPOSITORY: Final = "OCIRepository"
#: source-watcher's ArtifactGenerator and the ExternalArtifacts it writes
FLUX_ARTIFACT_GENERATOR: Final = "ArtifactGenerator"
FLUX_GENERATOR_API_VERSION: Final = "source.extensions.fluxcd.io/v1beta1"
FLUX_EXTERNAL_ARTIFACT: Final = "ExternalArtifact"
FLUX_HELM_CHART: Final = "HelmChart"
FLUX_HELM_RELEASE: Final = "HelmRelease"
FLUX_HELM_GROUP: Final = "helm.toolkit.fluxcd.io"
FLUX_HELM_API_VERSION: Final = f"{FLUX_HELM_GROUP}/v2"
#: the field manager of Flux's helm-controller (the generated HelmCharts)
FLUX_HELM_FIELD_MANAGER: Final = "helm-controller"

# ---- what Flux's kustomize-controller writes into a source folder (tether/flux/kustomizations.py)

#: the file Flux creates in a folder that has no kustomization of its own
GENERATED_KUSTOMIZATION_FILE: Final = "kustomization.yaml"
#: what Flux writes as a kustomization's type when the file does not say
KUSTOMIZE_API_VERSION: Final = "kustomize.config.k8s.io/v1beta1"
KUSTOMIZE_KIND: Final = "Kustomization"
#: the namespace Flux gives a generated kustomization listing no resource, so that kustomize
#: (>= 5.3) does not refuse it as empty; nothing is built, so no object ever carries it
PLACEHOLDER_NAMESPACE: Final = "_placeholder"
#: the file extensions Flux lists as resources of a generated kustomization
MANIFEST_EXTENSIONS: Final = (".yaml", ".yml")

# ---- kustomize buildMetadata options ---------------------------------------------------------

ORIGIN_ANNOTATIONS: Final = "originAnnotations"
TRANSFORMER_ANNOTATIONS: Final = "transformerAnnotations"
#: the options the Kustomization API's ``spec.buildMetadata`` enumerates
BUILD_METADATA_OPTIONS: Final = (ORIGIN_ANNOTATIONS, TRANSFORMER_ANNOTATIONS)

# ---- remote references ------------------------------------------------------------------------

#: prefixes (compared case-insensitively) that make a component remote in Flux's eyes; taken by
#: Flux from kustomize's repository-spec parser, without ``file://``
REMOTE_PREFIXES: Final = (
    "git::",
    "gh:",
    "ssh://",
    "https://",
    "http://",
    "git@",
    "github.com:",
    "github.com/",
)
FILE_URL_PREFIX: Final = "file://"

#: Flux's Receiver (notification.toolkit.fluxcd.io/v1): a webhook asking objects to reconcile
FLUX_RECEIVER: Final = "Receiver"
FLUX_RECEIVERS: Final = "receivers"
FLUX_RECEIVER_VERSION: Final = "v1"
FLUX_RECEIVER_API_VERSION: Final = f"{FLUX_NOTIFICATION_GROUP}/{FLUX_RECEIVER_VERSION}"
