"""A Kubernetes-compatible API server for tests and the zero-setup demo.

Start one with :class:`tether.localcluster.cluster.LocalCluster` (in-process) or
:class:`tether.localcluster.cluster.ClusterProcess` (``tether cluster up`` in a child process).
"""
