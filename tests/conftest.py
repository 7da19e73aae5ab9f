pytest_plugins = ["tether.localcluster.testing"]
