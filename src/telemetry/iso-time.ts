// ISO 8601 UTC times for records ("2026-11-30T14:40:05.123Z"): the part up
// to the second is made once a second, not once a record (a Date and its
// toISOString cost several µs per request on slow machines).
let second = NaN
let prefix = ''

export function isoTime(ms: number): string {
  const s = Math.floor(ms / 1000)
  if (s !== second) {
    const iso = new Date(s * 1000).toISOString()
    // Years past 9999 (or before 0) are written with a sign and six digits: no shortcut for those.
    if (iso.length !== 24) return new Date(ms).toISOString()
    second = s
    prefix = iso.slice(0, 20)
  }
  const frac = Math.floor(ms - s * 1000)
  return prefix + (frac < 10 ? '00' : frac < 100 ? '0' : '') + frac + 'Z'
}

/** "2026-11-30". */
export const isoDay = (ms: number): string => isoTime(ms).slice(0, 10)
