// The server's unified diff (`--- live` / `+++ desired`) shown side by side: live on the left,
// desired on the right, removed and added lines paired up row by row inside each hunk.

import { html } from './html.js';

const HUNK = /^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@(.*)$/;

/** Rows of `{hunk}` headers and `{left, right}` line pairs (a side is null where it has none). */
export function sideBySide(unified) {
  const rows = [];
  let removed = [];
  let added = [];
  let leftNo = 0;
  let rightNo = 0;
  const flush = () => {
    for (let i = 0; i < Math.max(removed.length, added.length); i++) {
      rows.push({ left: removed[i] || null, right: added[i] || null });
    }
    removed = [];
    added = [];
  };
  for (const line of unified.split('\n')) {
    if (line.startsWith('--- ') || line.startsWith('+++ ') || line.startsWith('\\')) continue;
    const hunk = HUNK.exec(line);
    if (hunk) {
      flush();
      leftNo = Number(hunk[1]);
      rightNo = Number(hunk[2]);
      rows.push({ hunk: line });
    } else if (line.startsWith('-')) {
      removed.push({ no: leftNo++, text: line.slice(1), change: 'del' });
    } else if (line.startsWith('+')) {
      added.push({ no: rightNo++, text: line.slice(1), change: 'add' });
    } else if (line.startsWith(' ')) {
      flush();
      rows.push({
        left: { no: leftNo++, text: line.slice(1), change: '' },
        right: { no: rightNo++, text: line.slice(1), change: '' },
      });
    }
  }
  flush();
  return rows;
}

function cells(side) {
  if (!side) return html`<td class="ln empty"></td><td class="code empty"></td>`;
  return html`<td class="ln ${side.change}">${side.no}</td><td class="code ${side.change}">${side.text}</td>`;
}

export function sideBySideHtml(unified) {
  const rows = sideBySide(unified);
  return html`<table class="diff-table" aria-label="Differences, live on the left and desired on the right">
    <colgroup><col class="ln-col"><col><col class="ln-col"><col></colgroup>
    <thead><tr><th colspan="2" scope="col">Live</th><th colspan="2" scope="col">Desired</th></tr></thead>
    <tbody>${rows.map((row) =>
      row.hunk
        ? html`<tr class="hunk"><td colspan="4">${row.hunk}</td></tr>`
        : html`<tr>${cells(row.left)}${cells(row.right)}</tr>`,
    )}</tbody>
  </table>`;
}

export function unifiedHtml(unified) {
  const lines = unified.split('\n').filter((line) => line && !line.startsWith('\\'));
  return html`<pre class="diff-unified">${lines.map((line) => {
    const kind = line.startsWith('@@')
      ? 'hunk'
      : line.startsWith('+++') || line.startsWith('---')
        ? 'file'
        : line.startsWith('+')
          ? 'add'
          : line.startsWith('-')
            ? 'del'
            : '';
    return html`<span class="line ${kind}">${line}</span>\n`;
  })}</pre>`;
}
