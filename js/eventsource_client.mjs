// The npm `eventsource` package (5.x) against TradingPartners' SSE alert stream.
//
//   BASE_URL=http://127.0.0.1:PORT EMAIL=... PASSWORD=... node eventsource_client.mjs [MAX_EVENTS]
//   BASE_URL=... TOKEN=<jwt> node eventsource_client.mjs
//
// Logs in (POST /api/v1/users/login) unless TOKEN is given, opens GET /api/v1/alerts with
// `Authorization: Bearer <jwt>` (eventsource 5.x has no `headers` option: a custom `fetch`
// adds it), and prints one JSON line per event on stdout:
//   {"type": "<event>", "id": "<lastEventId>", "data": "<raw data>"}   every stream event
//   {"type": "open"} / {"type": "error", "code", "message", "readyState"}
//   {"type": "request", "lastEventId": "<Last-Event-ID sent or null>"}   each (re)connection
// It leaves reconnecting (delay: the server's `retry:`) and Last-Event-ID to the library.
// Exits 0 after MAX_EVENTS (argv[2] or env MAX_EVENTS; 0 = never) non-ping events or on
// SIGTERM/SIGINT, 1 when the library gives up (a non-200 answer) or login fails.

import {EventSource} from 'eventsource'

const TYPES = ['ping', 'working', 'aborted', 'onGoing', 'closed', 'error', 'message']

function emit(record) {
  process.stdout.write(JSON.stringify(record) + '\n')
}

function finish(es, code) {
  es?.close()
  clearInterval(keepAlive)
  emit({type: 'exit', code})
  process.exit(code) // stdout to a pipe or file is synchronous in Node on POSIX: nothing is lost
}

// eventsource unref()s its reconnect timer: keep the process alive while it waits to reconnect.
const keepAlive = setInterval(() => {}, 1 << 30)

const base = (process.env.BASE_URL || '').replace(/\/+$/, '')
if (!base) {
  console.error('BASE_URL is required')
  finish(undefined, 2)
} else {
  main().catch((err) => {
    console.error(err)
    finish(undefined, 1)
  })
}

async function main() {
  const maxEvents = Number(process.argv[2] ?? process.env.MAX_EVENTS ?? 0)
  let token = process.env.TOKEN
  if (!token) {
    const response = await fetch(`${base}/api/v1/users/login`, {
      method: 'POST',
      headers: {'content-type': 'application/json'},
      body: JSON.stringify({email: process.env.EMAIL, password: process.env.PASSWORD}),
    })
    const body = await response.json()
    if (response.status !== 200 || !body.accessToken) {
      throw new Error(`login failed: ${response.status} ${JSON.stringify(body)}`)
    }
    token = body.accessToken
  }

  const es = new EventSource(`${base}/api/v1/alerts`, {
    fetch: (input, init) => {
      const headers = new Headers(init?.headers)
      headers.set('Authorization', `Bearer ${token}`)
      emit({type: 'request', lastEventId: headers.get('last-event-id')})
      return fetch(input, {...init, headers})
    },
  })

  let seen = 0
  for (const type of TYPES) {
    es.addEventListener(type, (event) => {
      // the stream's own `event: error` (credits gone) is a MessageEvent; the library's error event is not
      if (type === 'error' && !(event instanceof MessageEvent)) return
      emit({type, id: event.lastEventId, data: event.data})
      if (type !== 'ping' && maxEvents > 0 && ++seen >= maxEvents) finish(es, 0)
    })
  }
  es.addEventListener('open', () => emit({type: 'open'}))
  es.addEventListener('error', (event) => {
    if (event instanceof MessageEvent) return // an `event: error` frame, printed above
    emit({type: 'error', code: event.code ?? null, message: event.message ?? null, readyState: es.readyState})
    if (es.readyState === es.CLOSED) finish(es, 1) // the library will not reconnect
  })

  for (const signal of ['SIGTERM', 'SIGINT']) {
    process.on(signal, () => finish(es, 0))
  }
}
