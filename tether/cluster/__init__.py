"""Cluster access for Tether: an async API client over dicts, discovery, the live cache, tracking.

```python
async with ClusterClient.from_kubeconfig(path) as client:
    info = await client.resource_for("apps/v1", "Deployment")
    cache = LiveCache(client)
    await cache.track([info])
    cache.subscribe(lambda app, event, key: ...)
```
"""

from tether.cluster.cache import ChangeCallback, LiveCache, ObjectKey, WatchStats
from tether.cluster.client import ClusterClient, ObjectList, RequestStats, WatchEvent
from tether.cluster.config import (
    ClientSettings,
    ClusterConfigError,
    auto_config,
    in_cluster_config,
    load_kubeconfig,
)
from tether.cluster.crds import is_established, wait_established
from tether.cluster.discovery import DiscoveryIndex, ResourceInfo
from tether.cluster.errors import (
    AlreadyExists,
    BadRequest,
    CacheSyncError,
    Cause,
    ClusterError,
    Conflict,
    Expired,
    Forbidden,
    Invalid,
    NotEstablished,
    NotFound,
    ServerError,
    TooManyRequests,
    Unauthorized,
    UnknownKind,
    Unreachable,
)
from tether.cluster.ratelimit import TokenBucket
from tether.cluster.tracking import (
    INSTANCE_LABEL,
    TRACKING_ANNOTATION,
    Tracking,
    TrackingId,
    TrackingMethod,
    is_managed_by,
    owning_app,
    stamp,
    tracking_id,
)

__all__ = [
    "INSTANCE_LABEL",
    "TRACKING_ANNOTATION",
    "AlreadyExists",
    "BadRequest",
    "CacheSyncError",
    "Cause",
    "ChangeCallback",
    "ClientSettings",
    "ClusterClient",
    "ClusterConfigError",
    "ClusterError",
    "Conflict",
    "DiscoveryIndex",
    "Expired",
    "Forbidden",
    "Invalid",
    "LiveCache",
    "NotEstablished",
    "NotFound",
    "ObjectKey",
    "ObjectList",
    "RequestStats",
    "ResourceInfo",
    "ServerError",
    "TokenBucket",
    "TooManyRequests",
    "Tracking",
    "TrackingId",
    "TrackingMethod",
    "Unauthorized",
    "UnknownKind",
    "Unreachable",
    "WatchEvent",
    "WatchStats",
    "auto_config",
    "in_cluster_config",
    "is_established",
    "is_managed_by",
    "load_kubeconfig",
    "owning_app",
    "stamp",
    "tracking_id",
    "wait_established",
]
