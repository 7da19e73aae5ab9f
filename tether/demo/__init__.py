"""The embedded demo: a local cluster, a local Git server with a demo repository, the controller."""
