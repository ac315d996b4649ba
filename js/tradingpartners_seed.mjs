// The TradingPartners seed's real-time listener ("Receive alerts in real time"), with the npm
// `eventsource` package: connect to GET /api/v1/alerts with `Authorization: Bearer <token>` and
// receive the five event types (ping, working, aborted, onGoing, closed). The seed gives the
// endpoint, the header and the events, no code: this is the listener a user writes from it.
//
//   TRADINGPARTNERS_BASE_URL=http://127.0.0.1:PORT TRADINGPARTNERS_TOKEN=<jwt> node js/tradingpartners_seed.mjs
//
// The token is the one the user is logged in with (the seed: "the user needs to be logged in");
// eventsource 5 has no `headers` option, so a custom `fetch` adds the header (its README's way).
// Reconnecting, `retry:` and `Last-Event-ID` are the library's. Each event is printed as
// `<type> <data>`. Nothing else: no login, no watchdog, no handling of the stream's `error`
// event, no signal handler; README "The seeds' examples, graded" says what that costs.
//
// One line stands for the rest of an agent: a timer that keeps the process alive. eventsource
// unref()s its reconnect timer, so a bare listener's process exits the first time its stream
// ends (or not, when a short `retry:` fires before Node has wound down: a race).

import {EventSource} from 'eventsource'

const url = `${process.env.TRADINGPARTNERS_BASE_URL}/api/v1/alerts`
const token = process.env.TRADINGPARTNERS_TOKEN

const es = new EventSource(url, {
  fetch: (input, init) => fetch(input, {...init, headers: {...init.headers, Authorization: `Bearer ${token}`}}),
})

for (const type of ['ping', 'working', 'aborted', 'onGoing', 'closed']) {
  es.addEventListener(type, (event) => console.log(type, event.data))
}
es.addEventListener('error', (event) => console.error('error', event.code ?? '', event.message ?? ''))

setInterval(() => {}, 1 << 30) // the rest of the agent
