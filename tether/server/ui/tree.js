// The resource tree of one application: Application → its objects → owned ReplicaSets → Pods,
// laid out left to right in columns (one per generation) and joined by SVG curves.
//
// The layout is a plain tidy-tree: leaves take the next free row, a parent sits midway between
// its first and last child. It is deterministic, so a live update never makes nodes jump around.

import { healthIcon, html, resourceKey, syncIcon, token } from './html.js';

const NODE_W = 264;
const NODE_H = 54;
const COL_GAP = 70;
const ROW_GAP = 14;

const KIND_LABELS = {
  Application: 'app',
  Deployment: 'deploy',
  ReplicaSet: 'rs',
  Pod: 'pod',
  Service: 'svc',
  ConfigMap: 'cm',
  Secret: 'secret',
  Namespace: 'ns',
  StatefulSet: 'sts',
  DaemonSet: 'ds',
  Ingress: 'ing',
  Job: 'job',
  CronJob: 'cj',
  ServiceAccount: 'sa',
  Role: 'role',
  RoleBinding: 'rb',
  ClusterRole: 'cr',
  ClusterRoleBinding: 'crb',
  PersistentVolumeClaim: 'pvc',
  HorizontalPodAutoscaler: 'hpa',
  CustomResourceDefinition: 'crd',
  Endpoints: 'ep',
  EndpointSlice: 'eps',
  NetworkPolicy: 'netpol',
};

// Kinds in the order a reader expects them (the order Argo CD applies them in, roughly).
const KIND_ORDER = [
  'Namespace', 'CustomResourceDefinition', 'ServiceAccount', 'Secret', 'ConfigMap',
  'PersistentVolumeClaim', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding', 'Service',
  'Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job', 'CronJob', 'Pod', 'Ingress',
];

const kindRank = (kind) => {
  const i = KIND_ORDER.indexOf(kind);
  return i < 0 ? KIND_ORDER.length : i;
};

const kindLabel = (kind) => KIND_LABELS[kind] || kind.toLowerCase().slice(0, 6);

function compareItems(a, b) {
  return kindRank(a.kind) - kindRank(b.kind) || a.kind.localeCompare(b.kind) || a.name.localeCompare(b.name);
}

/**
 * Joins the resource-tree nodes under the Application. Objects the application manages but that
 * are not live yet (status.resources without a node) still appear, marked Missing.
 */
export function buildTree(app, nodes) {
  const status = app.status || {};
  const managed = new Map((status.resources || []).map((r) => [resourceKey(r), r]));
  const root = {
    root: true,
    kind: 'Application',
    group: 'argoproj.io',
    version: 'v1alpha1',
    name: app.metadata.name,
    namespace: app.metadata.namespace || '',
    health: status.health?.status || 'Unknown',
    sync: status.sync?.status,
    children: [],
  };
  const byUid = new Map();
  const byKey = new Map();
  const items = nodes.map((node) => {
    const key = resourceKey(node);
    const entry = managed.get(key);
    const item = {
      ...node,
      key,
      health: node.health?.status || entry?.health?.status,
      healthMessage: node.health?.message || entry?.health?.message || '',
      sync: node.status || entry?.status || '',
      managed: Boolean(entry) || !(node.parentRefs || []).length,
      children: [],
    };
    if (node.uid) byUid.set(node.uid, item);
    byKey.set(key, item);
    return item;
  });
  for (const item of items) {
    const parent = (item.parentRefs || [])
      .map((ref) => byUid.get(ref.uid) || byKey.get(resourceKey(ref)))
      .find((candidate) => candidate && candidate !== item);
    (parent || root).children.push(item);
  }
  for (const [key, entry] of managed) {
    if (byKey.has(key)) continue;
    root.children.push({
      ...entry,
      key,
      health: entry.health?.status || 'Missing',
      healthMessage: entry.health?.message || '',
      sync: entry.status || 'OutOfSync',
      managed: true,
      notLive: true,
      children: [],
    });
  }
  const sortAll = (item) => {
    item.children.sort(compareItems);
    item.children.forEach(sortAll);
  };
  sortAll(root);
  return root;
}

function layout(root) {
  const placed = [];
  let row = 0;
  const place = (item, depth) => {
    item.x = depth * (NODE_W + COL_GAP);
    if (!item.children.length) {
      item.y = row * (NODE_H + ROW_GAP);
      row += 1;
    } else {
      item.children.forEach((child) => place(child, depth + 1));
      item.y = (item.children[0].y + item.children[item.children.length - 1].y) / 2;
    }
    placed.push(item);
  };
  place(root, 0);
  const width = Math.max(...placed.map((item) => item.x)) + NODE_W;
  const height = Math.max(row, 1) * (NODE_H + ROW_GAP) - ROW_GAP;
  return { placed, width, height };
}

function edgePath(parent, child) {
  const x1 = parent.x + NODE_W;
  const y1 = parent.y + NODE_H / 2;
  const x2 = child.x;
  const y2 = child.y + NODE_H / 2;
  const mid = (x1 + x2) / 2;
  return `M${x1} ${y1}C${mid} ${y1} ${mid} ${y2} ${x2} ${y2}`;
}

const showsSync = (item) => item.managed || item.root;

function nodeLabel(item) {
  const parts = [`${item.kind} ${item.name}`];
  if (item.health) parts.push(`health ${item.health}`);
  if (showsSync(item)) parts.push(`sync ${item.sync || 'Unknown'}`);
  return parts.join(', ');
}

function nodeHtml(item, index, selectedKey) {
  // Objects without a health rule (a ConfigMap) show no health icon, as in Argo CD.
  const health = item.health || '';
  const sync = showsSync(item) ? item.sync || 'Unknown' : '';
  const classes = [
    'tree-node',
    `border-${token(health)}`,
    item.root ? 'root' : '',
    item.notLive ? 'not-live' : '',
    !item.root && item.key === selectedKey ? 'selected' : '',
  ].join(' ');
  const title = [`${item.kind} ${item.name}`, item.healthMessage].filter(Boolean).join('\n');
  return html`<button type="button" class="${classes}" style="left:${item.x}px;top:${item.y}px"
      data-index="${index}" data-kind="${item.kind}" data-name="${item.name}"
      data-health="${health}" data-sync="${sync}" aria-label="${nodeLabel(item)}" title="${title}">
    <span class="kind-icon kind-${token(item.kind)}">${kindLabel(item.kind)}</span>
    <span class="node-text"><span class="node-kind">${item.kind}</span><span class="node-name">${item.name}</span></span>
    <span class="node-status">${health ? html`<span class="health-${token(health)}">${healthIcon(health)}</span>` : ''}${
      sync ? html`<span class="sync-${token(sync)}">${syncIcon(sync)}</span>` : ''
    }</span>
  </button>`;
}

/** Draws `root` into `container`; `onSelect(item)` runs when a node is clicked. */
export function renderTree(container, root, selectedKey, onSelect) {
  const { placed, width, height } = layout(root);
  const edges = [];
  for (const item of placed) {
    for (const child of item.children) edges.push(edgePath(item, child));
  }
  container.innerHTML = html`<div class="tree-canvas" style="width:${width}px;height:${height}px">
    <svg class="tree-edges" width="${width}" height="${height}" aria-hidden="true">
      ${edges.map((d) => html`<path d="${d}"/>`)}
    </svg>
    ${placed.map((item, i) => nodeHtml(item, i, selectedKey))}
  </div>`.value;
  container.onclick = (event) => {
    const button = event.target.closest('.tree-node');
    if (button) onSelect(placed[Number(button.dataset.index)]);
  };
}
