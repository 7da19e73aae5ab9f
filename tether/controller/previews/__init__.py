"""Pull-request previews: what merging a pull request would do to the cluster, told on the pull
request before anyone merges it (see docs/previews.md).

The narrow face: `Previews` (started by the webhook, kept for the UI), `PreviewSettings` and
`read_settings` (the server reads them from ``argocd-cm`` and ``tether-secret``), and the
frozen records `PullPreview`, `AppPreview`, `ObjectChange`.
"""

from tether.controller.previews.models import (
    AppPreview,
    ImageChange,
    ObjectChange,
    PullPreview,
    as_json,
)
from tether.controller.previews.runner import PreviewLimits, Previews
from tether.controller.previews.settings import PreviewSettings, read_settings

__all__ = [
    "AppPreview",
    "ImageChange",
    "ObjectChange",
    "PreviewLimits",
    "PreviewSettings",
    "Previews",
    "PullPreview",
    "as_json",
    "read_settings",
]
