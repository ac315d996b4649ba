// A TradingPartners agent on the SSE alert stream with the npm `eventsource` package, as a real-time
// client should be; and its mutants (`--defect NAME`). The same behaviour as
// fixtures/clients/tradingpartners_agent.py (its docstring says it in full):
//
//   node js/clients/tradingpartners_agent.mjs [--defect NAME]
//
// - the library reopens a stream the server ended (or a broken connection) after the stream's
//   `retry:` (3 s until one came), with `Last-Event-ID` once ids came; eventsource 5 has no
//   `headers` option, so a custom `fetch` adds `Authorization: Bearer <jwt>`;
// - a stream on which nothing arrived for 2.5 ping intervals (learnt from the pings; 15 s until two
//   came) is closed and a new one opened 3 s later, with the last id: a stream without pings is
//   dead although TCP says nothing;
// - the library gives up on any answer but 200: then this program waits as long as Retry-After
//   says, else backs off (2 s, x2, up to 60 s; reset once a stream opens); on 401 it logs in
//   again (TRADINGPARTNERS_EMAIL / _PASSWORD) and tries at once (once; then with the backoff);
//   on 402 (the stream's last message `event: error`, or an answer) it stops for good;
// - each alert's events are processed once and in lifecycle order (an event whose predecessor has
//   not come yet waits for it up to 10 s; a stage after a later one is dropped); each is printed
//   and said on MOCK_OBSERVE: {"api": "tradingpartners", "kind": "processed", "id": <alert id>,
//   "event": <type>};
// - on SIGTERM it closes its stream and exits 0.
//
// Defects, one rule each: slow-reconnect (a minute before reopening an ended stream),
// ignores-retry (reopens it 0.1 s after it ends), no-last-event-id, no-watchdog, no-backoff
// (0.1 s after every refusal, Retry-After or not), retries-after-402, keeps-token (goes on with a
// refused token), no-reorder-guard (processes events as they arrive), double-process (processes an
// event the stream delivers twice, twice).

import {appendFileSync} from 'node:fs'
import {EventSource} from 'eventsource'

const DEFECTS = [
  'slow-reconnect', 'ignores-retry', 'no-last-event-id', 'no-watchdog', 'no-backoff',
  'retries-after-402', 'keeps-token', 'no-reorder-guard', 'double-process',
]
const RANK = {working: 0, onGoing: 1, aborted: 2, closed: 2}
const NEEDS = {working: -1, onGoing: 0, aborted: 0, closed: 1}
const HOLD = 10_000

const flag = process.argv.indexOf('--defect')
const defect = flag >= 0 ? process.argv[flag + 1] : null
if (defect !== null && !DEFECTS.includes(defect)) {
  console.error(`--defect: one of ${DEFECTS.join(', ')}`)
  process.exit(2)
}

const base = (process.env.TRADINGPARTNERS_BASE_URL || '').replace(/\/+$/, '')
const email = process.env.TRADINGPARTNERS_EMAIL || ''
const password = process.env.TRADINGPARTNERS_PASSWORD || ''
const observe = process.env.MOCK_OBSERVE
let token = process.env.TRADINGPARTNERS_TOKEN || ''

// -- what it does with the alerts -----------------------------------------------------------------
function processed(event, data) {
  const line = {api: 'tradingpartners', kind: 'processed', id: data.id, event}
  process.stdout.write(JSON.stringify({...line, ticker: data.ticker ?? null}) + '\n')
  if (observe) appendFileSync(observe, JSON.stringify(line) + '\n')
}

const stage = new Map() // alert id -> the latest stage processed
const seen = new Set()
const pending = new Map() // alert id -> [[event, data]] waiting for their predecessor

function done(alert, event, data) {
  stage.set(alert, Math.max(stage.get(alert) ?? -1, RANK[event]))
  processed(event, data)
}

function flush(alert) {
  for (;;) {
    const ready = (pending.get(alert) ?? []).filter(([e]) => NEEDS[e] <= (stage.get(alert) ?? -1))
    if (!ready.length) return
    const next = ready.reduce((a, b) => (RANK[b[0]] < RANK[a[0]] ? b : a))
    pending.get(alert).splice(pending.get(alert).indexOf(next), 1)
    if (RANK[next[0]] >= (stage.get(alert) ?? -1)) done(alert, ...next)
  }
}

function release(alert) {
  const waiting = (pending.get(alert) ?? []).sort((a, b) => RANK[a[0]] - RANK[b[0]])
  pending.delete(alert)
  for (const [event, data] of waiting) if (RANK[event] >= (stage.get(alert) ?? -1)) done(alert, event, data)
}

function receive(event, data) {
  const alert = data.id
  const key = `${alert}:${event}`
  if (seen.has(key) && defect !== 'double-process') return // delivered again: processed (or waiting) already
  seen.add(key)
  if (defect === 'no-reorder-guard') return done(alert, event, data)
  const current = stage.get(alert) ?? -1
  if (RANK[event] < current) return // an earlier stage after a later one was processed: stale
  if (NEEDS[event] > current) { // its predecessor has not come yet: wait for it a while
    if (!pending.has(alert)) pending.set(alert, [])
    pending.get(alert).push([event, data])
    setTimeout(() => release(alert), HOLD)
    return
  }
  done(alert, event, data)
  flush(alert)
}

// -- the credential -------------------------------------------------------------------------------
async function login() {
  try {
    const response = await fetch(`${base}/api/v1/users/login`, {
      method: 'POST',
      headers: {'content-type': 'application/json'},
      body: JSON.stringify({email, password}),
    })
    const body = await response.json()
    if (response.status === 200 && body.accessToken) token = body.accessToken
    return response.status === 200
  } catch {
    return false
  }
}

// -- the stream -------------------------------------------------------------------------------------
let es = null
let lastId = null // the last event id received (a new EventSource does not know it)
let answer = null // the last answer to an attempt: {status, retryAfter}
let backoff = 0
let relogged = false // logged in again since the last stream opened
let loginFirst = false
let pingGap = null
let lastPing = null
let watchdog = null
let stopped = false

// eventsource unref()s its reconnect timer: keep the process alive however long nothing is pending
const keepAlive = setInterval(() => {}, 1 << 30)

function arm() {
  clearTimeout(watchdog)
  if (defect === 'no-watchdog' || stopped) return
  watchdog = setTimeout(() => {
    process.stdout.write(JSON.stringify({watchdog: 'no frame', seconds: 2.5 * (pingGap ?? 15)}) + '\n')
    reopen(3000)
  }, 2500 * (pingGap ?? 15))
}

function failed() {
  if (defect === 'no-backoff') return 100
  backoff = backoff === 0 ? 2000 : Math.min(60_000, backoff * 2)
  return backoff
}

let reopening = null
function reopen(delay) {
  es?.close()
  es = null
  clearTimeout(watchdog)
  clearTimeout(reopening)
  reopening = setTimeout(async () => {
    if (loginFirst) {
      loginFirst = false
      await login()
    }
    connect()
  }, delay)
}

function stop() {
  stopped = true
  es?.close()
  es = null
  clearTimeout(watchdog)
  process.stdout.write(JSON.stringify({stopped: 'payment required'}) + '\n')
}

async function refused(status) {
  if (status === 402 && defect !== 'retries-after-402') return stop()
  if (status === 401 && defect !== 'keeps-token') {
    if (!relogged) {
      relogged = true
      await login()
      return reopen(0)
    }
    loginFirst = true
    return reopen(failed())
  }
  if (answer?.retryAfter != null && defect !== 'no-backoff') return reopen(answer.retryAfter * 1000)
  reopen(failed())
}

function connect() {
  const source = new EventSource(`${base}/api/v1/alerts`, {
    fetch: async (input, init) => {
      const headers = new Headers(init?.headers)
      headers.set('Authorization', `Bearer ${token}`)
      if (defect === 'no-last-event-id') headers.delete('last-event-id')
      else if (lastId !== null && !headers.has('last-event-id')) headers.set('Last-Event-ID', lastId)
      const response = await fetch(input, {...init, headers})
      const wait = response.headers.get('retry-after')
      answer = {status: response.status, retryAfter: wait !== null && /^\d+$/.test(wait) ? Number(wait) : null}
      return response
    },
  })
  es = source
  source.addEventListener('open', () => {
    backoff = 0
    relogged = false
    lastPing = null
    arm()
  })
  for (const type of ['ping', ...Object.keys(RANK)]) {
    source.addEventListener(type, (event) => {
      if (source !== es) return
      arm()
      if (event.lastEventId) lastId = event.lastEventId
      if (type === 'ping') {
        const now = performance.now()
        if (lastPing !== null && now - lastPing > 1000) pingGap = Math.min(pingGap ?? Infinity, (now - lastPing) / 1000)
        lastPing = now
        return
      }
      const data = JSON.parse(event.data)
      if (data && typeof data === 'object') receive(type, data)
    })
  }
  source.addEventListener('error', (event) => {
    if (source !== es) return
    if (event instanceof MessageEvent) { // the stream's own `event: error`: the credits ran out, its last message
      if (defect !== 'retries-after-402') stop()
      return
    }
    clearTimeout(watchdog)
    if (source.readyState === source.CONNECTING) { // the stream ended or broke: the library reconnects after retry:
      if (defect === 'slow-reconnect') reopen(60_000)
      else if (defect === 'ignores-retry') reopen(100)
      return
    }
    refused(event.code ?? answer?.status ?? null) // any answer but 200 (or no answer): the library gave up
  })
}

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    es?.close()
    clearInterval(keepAlive)
    setTimeout(() => process.exit(0), 100)
  })
}

if (!base) {
  console.error('TRADINGPARTNERS_BASE_URL is required')
  process.exit(2)
}
if (!token) await login()
connect()
