"""The API and web UI server: REST API, webhooks, live updates, metrics, access control.

```python
server = await run_server(controller, listen="127.0.0.1:8080")
print(server.url, server.admin_password)  # the password only on the first start
await server.stop()
```
"""

from tether.server.app import RunningServer, create_app, run_server
from tether.server.settings import ServerSettings

__all__ = ["RunningServer", "ServerSettings", "create_app", "run_server"]
