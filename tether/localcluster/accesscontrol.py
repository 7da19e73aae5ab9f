"""Controllers of access objects, as kube-controller-manager runs them.

* ClusterRole aggregation: a ClusterRole with an ``aggregationRule`` gets the rules of every
  ClusterRole its ``clusterRoleSelectors`` match (in name order, each rule once), rewritten
  whenever one of them changes;
* the ServiceAccount token controller: a Secret of type ``kubernetes.io/service-account-token``
  naming an existing account gets ``data.token`` (a legacy token), ``data.ca.crt`` and
  ``data.namespace`` and the account's uid annotation; when the account goes, so do its token
  Secrets.

Work is queued from store events and done by one task on the server's event loop, never inside
another write, as the real controllers work from informers.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from typing import Any

from tether.localcluster.api import ClusterApi, WriteContext
from tether.localcluster.apierrors import ApiError
from tether.localcluster.authn import SECRETS, SERVICE_ACCOUNTS
from tether.localcluster.rbac import CLUSTER_ROLES
from tether.localcluster.selectors import match_label_selector_object
from tether.localcluster.store import Event, Key, deep_copy
from tether.localcluster.tokens import TokenIssuer

log = logging.getLogger(__name__)

TOKEN_TYPE = "kubernetes.io/service-account-token"
SA_NAME = "kubernetes.io/service-account.name"
SA_UID = "kubernetes.io/service-account.uid"
AGGREGATION_MANAGER = "clusterrole-aggregation-controller"
TOKEN_MANAGER = "kube-controller-manager"


class AccessControllers:
    """ClusterRole aggregation and the ServiceAccount token controller."""

    def __init__(self, api: ClusterApi, issuer: TokenIssuer, ca_pem: bytes) -> None:
        self.api = api
        self.store = api.store
        self.issuer = issuer
        self.ca_pem = ca_pem
        self._queue: asyncio.Queue[tuple[str, str, str]] = asyncio.Queue()
        self._pending: set[tuple[str, str, str]] = set()
        self.store.listeners.append(self._on_event)

    def _enqueue(self, item: tuple[str, str, str]) -> None:
        if item not in self._pending:
            self._pending.add(item)
            self._queue.put_nowait(item)

    def _on_event(self, event: Event) -> None:
        meta = event.obj["metadata"]
        if event.key == CLUSTER_ROLES:
            self._enqueue(("aggregate", "", ""))
        elif event.key == SECRETS and event.type != "DELETED":
            if event.obj.get("type") == TOKEN_TYPE:
                self._enqueue(("secret", meta.get("namespace", ""), meta["name"]))
        elif event.key == SERVICE_ACCOUNTS and event.type == "DELETED":
            self._enqueue(("account-gone", meta.get("namespace", ""), meta["name"]))

    async def run(self) -> None:
        """Handle queued work forever; a failure is logged and the next item goes on."""
        self._enqueue(("aggregate", "", ""))
        for secret in self.store.objects(SECRETS):
            if secret.get("type") == TOKEN_TYPE:
                meta = secret["metadata"]
                self._enqueue(("secret", meta.get("namespace", ""), meta["name"]))
        while True:
            item = await self._queue.get()
            self._pending.discard(item)
            try:
                self._handle(item)
            except ApiError as exc:
                log.debug("access controller %s: %s", item, exc.message)
            except Exception:
                log.exception("access controller failed on %s", item)

    async def drain(self) -> None:
        """Wait until queued work is done."""
        while self._pending:
            await asyncio.sleep(0.005)

    def _handle(self, item: tuple[str, str, str]) -> None:
        what, namespace, name = item
        if what == "aggregate":
            self.aggregate_all()
        elif what == "secret":
            self.fill_token_secret(namespace, name)
        elif what == "account-gone":
            self._delete_token_secrets(namespace, name)

    # ---- aggregation ---------------------------------------------------------------------------

    def aggregate_all(self) -> None:
        """Bring every aggregated ClusterRole's rules up to date."""
        roles = self.store.objects(CLUSTER_ROLES)
        for role in roles:
            if isinstance(role.get("aggregationRule"), dict):
                rules = aggregated_rules(role, roles)
                if rules != (role.get("rules") or []):
                    self._write(CLUSTER_ROLES, role, {"rules": rules}, AGGREGATION_MANAGER)

    def _write(self, key: Key, old: dict[str, Any], changes: dict[str, Any], manager: str) -> None:
        types = self.api.registry.by_key(key)
        if not types:
            return
        new = deep_copy(old)
        new.update(changes)
        self.api._commit(types[0], old, new, WriteContext(manager=manager))

    # ---- ServiceAccount tokens -----------------------------------------------------------------

    def fill_token_secret(self, namespace: str, name: str) -> None:
        """Give a token Secret the token, CA and namespace of the account it names."""
        secret = self.store.get(SECRETS, namespace, name)
        if secret is None or secret.get("type") != TOKEN_TYPE:
            return
        annotations = secret["metadata"].get("annotations") or {}
        account = self.store.get(SERVICE_ACCOUNTS, namespace, annotations.get(SA_NAME, ""))
        data = secret.get("data") or {}
        if account is None or data.get("token"):
            return
        uid = account["metadata"]["uid"]
        token = self.issuer.issue_legacy(namespace, account["metadata"]["name"], uid, name)
        filled = {
            **data,
            "token": _b64(token.encode()),
            "ca.crt": _b64(self.ca_pem),
            "namespace": _b64(namespace.encode()),
        }
        meta = deep_copy(secret["metadata"])
        meta.setdefault("annotations", {})[SA_UID] = uid
        self._write(SECRETS, secret, {"data": filled, "metadata": meta}, TOKEN_MANAGER)

    def _delete_token_secrets(self, namespace: str, account: str) -> None:
        types = self.api.registry.by_key(SECRETS)
        for secret in self.store.objects(SECRETS, namespace):
            annotations = secret["metadata"].get("annotations") or {}
            if secret.get("type") == TOKEN_TYPE and annotations.get(SA_NAME) == account:
                try:
                    self.api.delete(types[0], namespace, secret["metadata"]["name"], {}, False)
                except ApiError as exc:
                    if exc.code != 404:
                        raise


def aggregated_rules(role: dict[str, Any], roles: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rules an aggregated ClusterRole should hold: those of the roles its selectors match,
    in name order, each distinct rule once (kube's aggregation controller)."""
    selectors = role["aggregationRule"].get("clusterRoleSelectors") or []
    own = role["metadata"]["name"]
    rules: list[dict[str, Any]] = []
    for other in sorted(roles, key=lambda r: r["metadata"]["name"]):
        if other["metadata"]["name"] == own:
            continue
        labels = other["metadata"].get("labels") or {}
        if not any(
            isinstance(s, dict) and match_label_selector_object(s, labels) for s in selectors
        ):
            continue
        for rule in other.get("rules") or []:
            if rule not in rules:
                rules.append(rule)
    return rules


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
