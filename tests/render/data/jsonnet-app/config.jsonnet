// A kind: List, flattened by the renderer.
{
  apiVersion: 'v1',
  kind: 'List',
  items: [
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'guestbook-settings' },
      data: { env: std.extVar('env') },
    },
  ],
}
