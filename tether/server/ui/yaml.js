// JSON → YAML, in the layout `kubectl get -o yaml` uses (sequences not indented under their key),
// so manifests read the same in the UI as in a terminal. Only printing is needed: the UI never
// parses YAML.

const RESERVED = /^(true|false|yes|no|on|off|y|n|null|~)$/i;
const NUMBER = /^[-+]?(\.[0-9]+|[0-9][0-9_]*(\.[0-9_]*)?)([eE][-+]?[0-9]+)?$/;
const OTHER_NUMBER = /^(0x[0-9a-fA-F]+|0o[0-7]+|[-+]?\.(inf|nan))$/i;
const TIMESTAMP = /^\d{4}-\d\d?-\d\d?/;
const INDICATOR = /^[-?:,[\]{}#&*!|>'"%@`]/;
// Control characters other than tab and newline can only be written double-quoted.
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f]/;

/** True when a plain (unquoted) scalar would be read back as something else. */
function needsQuotes(text) {
  return (
    text === '' ||
    RESERVED.test(text) ||
    NUMBER.test(text) ||
    OTHER_NUMBER.test(text) ||
    TIMESTAMP.test(text) ||
    INDICATOR.test(text) ||
    /^\s|\s$/.test(text) ||
    text.includes(': ') ||
    text.includes(' #') ||
    text.endsWith(':') ||
    text.includes('\t')
  );
}

function quoted(text) {
  if (CONTROL.test(text) || text.includes('\n')) return JSON.stringify(text);
  return `'${text.replace(/'/g, "''")}'`;
}

function key(text) {
  return needsQuotes(text) || text.includes('\n') ? quoted(text) : text;
}

/** A block literal (`|`), chosen for multi-line strings such as embedded config files. */
function block(text, indent) {
  const chomp = text.endsWith('\n') ? (/\n\n$/.test(text) ? '+' : '') : '-';
  const body = text.endsWith('\n') ? text.slice(0, -1) : text;
  // A first line starting with a space needs an explicit indentation indicator.
  const indicator = body.startsWith(' ') ? '2' : '';
  const pad = ' '.repeat(indent + 2);
  const lines = body.split('\n').map((line) => (line ? pad + line : ''));
  return `|${indicator}${chomp}\n${lines.join('\n')}`;
}

function scalar(value, indent) {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'boolean' || typeof value === 'number') return String(value);
  const text = String(value);
  if (text.includes('\n') && !CONTROL.test(text)) return block(text, indent);
  return needsQuotes(text) || CONTROL.test(text) ? quoted(text) : text;
}

const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
const isEmpty = (v) => (Array.isArray(v) ? v.length === 0 : Object.keys(v).length === 0);
const isCollection = (v) => v !== null && typeof v === 'object';

function writeMapping(obj, indent, out) {
  const pad = ' '.repeat(indent);
  for (const [k, v] of Object.entries(obj)) {
    if (!isCollection(v)) {
      out.push(`${pad}${key(k)}: ${scalar(v, indent)}`);
    } else if (isEmpty(v)) {
      out.push(`${pad}${key(k)}: ${Array.isArray(v) ? '[]' : '{}'}`);
    } else if (Array.isArray(v)) {
      out.push(`${pad}${key(k)}:`);
      writeSequence(v, indent, out);
    } else {
      out.push(`${pad}${key(k)}:`);
      writeMapping(v, indent + 2, out);
    }
  }
}

function writeSequence(items, indent, out) {
  const pad = ' '.repeat(indent);
  for (const item of items) {
    if (!isCollection(item)) {
      out.push(`${pad}- ${scalar(item, indent)}`);
    } else if (isEmpty(item)) {
      out.push(`${pad}- ${Array.isArray(item) ? '[]' : '{}'}`);
    } else {
      // Write the item two columns deeper, then put the dash into its first line's indent.
      const start = out.length;
      if (isObject(item)) writeMapping(item, indent + 2, out);
      else writeSequence(item, indent + 2, out);
      out[start] = `${pad}- ${out[start].slice(indent + 2)}`;
    }
  }
}

/** One value as a YAML document (no leading `---`). */
export function toYaml(value) {
  if (!isCollection(value)) return `${scalar(value, 0)}\n`;
  if (isEmpty(value)) return Array.isArray(value) ? '[]\n' : '{}\n';
  const out = [];
  if (Array.isArray(value)) writeSequence(value, 0, out);
  else writeMapping(value, 0, out);
  return `${out.join('\n')}\n`;
}

const MASK = /^\++$/;
const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

function maskValue(v) {
  return v === null || v === undefined || (typeof v === 'string' && MASK.test(v)) ? v : '++++++++';
}

/**
 * Secret values arrive masked by the server; this hides any value that somehow did not, so a
 * Secret's content can never be shown by the UI, whatever the API answered. The server's rule:
 * everything under data and stringData, whatever its shape, and the last-applied annotation.
 */
export function maskSecret(obj) {
  if (!isObject(obj) || obj.kind !== 'Secret') return obj;
  const copy = { ...obj };
  for (const section of ['data', 'stringData']) {
    if (!(section in obj)) continue;
    const value = obj[section];
    copy[section] = isObject(value)
      ? Object.fromEntries(Object.entries(value).map(([k, v]) => [k, maskValue(v)]))
      : maskValue(value);
  }
  const annotations = isObject(obj.metadata) ? obj.metadata.annotations : null;
  if (isObject(annotations) && LAST_APPLIED in annotations) {
    copy.metadata = {
      ...obj.metadata,
      annotations: { ...annotations, [LAST_APPLIED]: maskValue(annotations[LAST_APPLIED]) },
    };
  }
  return copy;
}
