// Number formatting for labels, tables and the status line.

export function fmtRate(v) {
  if (v === undefined || v === null || !isFinite(v)) return '–';
  if (v === 0) return '0';
  if (v < 0.01) return '<0.01';
  if (v < 0.1) return v.toFixed(2);
  if (v < 100) return v.toFixed(1);
  if (v < 10000) return v.toFixed(0);
  return (v / 1000).toFixed(1) + 'k';
}

export function fmtPct(v) {
  if (v === undefined || v === null || !isFinite(v)) return '–';
  if (v === 0) return '0%';
  if (v < 0.1) return '<0.1%';
  if (v < 10) return v.toFixed(1) + '%';
  return v.toFixed(0) + '%';
}

// fmtShare shows a ratio (0–1) as a percentage rounded down to 0.1, so
// that a share just under a threshold never shows as the threshold.
export function fmtShare(r) {
  if (r === undefined || r === null || !isFinite(r)) return '–';
  if (r >= 1) return '100%';
  return String(Math.floor(r * 1000 + 1e-6) / 10) + '%';
}

export function fmtMs(v) {
  if (v === undefined || v === null || !isFinite(v)) return '–';
  const a = Math.abs(v);
  let t;
  if (a >= 999.5) t = (v / 1000).toFixed(a >= 9950 ? 0 : 1) + ' s';
  else if (a >= 9.95) t = v.toFixed(0) + ' ms';
  else if (a >= 0.995) t = v.toFixed(1) + ' ms';
  else if (a === 0) t = '0 ms';
  else t = v.toPrecision(2) + ' ms';
  return t;
}

// fmtCount shows a count; fractions (traffic of an unknown callee is
// folded into edges in proportion, see the topology docs) are estimates.
export function fmtCount(v) {
  if (v === undefined || v === null || !isFinite(v)) return '–';
  if (Math.abs(v - Math.round(v)) < 1e-9) return Math.round(v).toLocaleString('en-US');
  return '≈' + (Math.abs(v) < 10 ? v.toFixed(1) : Math.round(v).toLocaleString('en-US'));
}

export function fmtBytes(v) {
  if (!v) return '0 B';
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return (v < 10 && i > 0 ? v.toFixed(1) : v.toFixed(0)) + ' ' + units[i];
}
