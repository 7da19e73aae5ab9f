// A deployment and service; image tag from an external variable, replicas from a TLA.
local app = import 'lib/app.libsonnet';

function(replicas=1)
  local name = 'guestbook-' + std.extVar('env');
  [
    app.deployment(name, 'gcr.io/heptio-images/ks-guestbook-demo:' + std.extVar('tag'), replicas),
    app.service(name),
  ]
