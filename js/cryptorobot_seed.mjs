// The Cryptorobot seed's JavaScript examples, run with the real Feathers client from npm.
//
//   CRYPTOROBOT_URL=http://127.0.0.1:PORT CRYPTOROBOT_EMAIL=... CRYPTOROBOT_PASSWORD=... node cryptorobot_seed.mjs
//
// `@cryptorobot.ai/client` is not published: `createClient(url)` below stands in for it with the
// few lines that build a Feathers client from `@feathersjs/socketio-client`,
// `@feathersjs/authentication-client` and `socket.io-client` (websocket transport, as the docs
// recommend), and forwards the socket's `disconnect` and the manager's `reconnect` to the app,
// as the docs' "Reconnection Handling" example expects. The rest is the seed's examples as
// written; their console.log lines are the output. Extra lines for the test harness start with
// `@@ ` and carry JSON: `@@ {"ready":true}` once the service-method examples are done,
// `@@ {"error":...}` when one fails, `@@ {"service":..., "page":...}` for a find on every service.
// Runs until SIGTERM.

import {feathers} from '@feathersjs/client'
import socketio from '@feathersjs/socketio-client'
import authentication from '@feathersjs/authentication-client'
import {io} from 'socket.io-client'

function harness(record) {
  process.stdout.write('@@ ' + JSON.stringify(record) + '\n')
}

function createClient(url) {
  const socket = io(url, {transports: ['websocket']})
  const client = feathers()
  client.configure(socketio(socket))
  client.configure(authentication())
  socket.on('disconnect', (reason) => client.emit('disconnect', reason))
  socket.io.on('reconnect', () => client.emit('reconnect'))
  return client
}

const client = createClient(process.env.CRYPTOROBOT_URL ?? 'https://api.cryptorobot.ai')

process.on('SIGTERM', () => process.exit(0))
process.on('unhandledRejection', (error) => harness({error: error?.message ?? String(error), name: error?.name}))

// -- Connecting ----------------------------------------------------------------------------------
await client.authenticate({
  strategy: 'local',
  email: process.env.CRYPTOROBOT_EMAIL ?? 'you@example.com',
  password: process.env.CRYPTOROBOT_PASSWORD ?? 'your-password'
})

// Listen for events
client.service('traders/pods/events').on('created', (event) => {
  console.log('Pod event:', event)
})

client.service('exchanges/ticker').on('patched', (ticker) => {
  console.log('Price update:', ticker)
})

// -- Listening to Events -----------------------------------------------------------------------
// Listen for all pod events (trades, errors, status changes)
client.service('traders/pods/events').on('created', (event) => {
  console.log(`[${event.type}] ${event.message}`)
})

// Bot status changes
client.service('traders').on('patched', (trader) => {
  console.log(`Bot ${trader.name} is now ${trader.status}`)
})

// Real-time ticker updates
client.service('exchanges/ticker').on('patched', (ticker) => {
  console.log(`${ticker.symbol}: ${ticker.last}`)
})

// New trades executed by your bots
client.service('trades').on('created', (trade) => {
  console.log(`${trade.side} ${trade.amount} ${trade.symbol} @ ${trade.price}`)
})

// ML model signal alerts
client.service('models/signals').on('created', (signal) => {
  console.log(`Signal: ${signal.type} ${signal.pair} - confidence: ${signal.confidence}`)
})

// -- Reconnection Handling -----------------------------------------------------------------------
client.on('disconnect', () => {
  console.log('Connection lost — attempting to reconnect...')
})

client.on('reconnect', () => {
  console.log('Reconnected successfully')
})

// -- Service Methods via WebSocket -------------------------------------------------------------------
try {
  // Find strategies (equivalent to GET /strategies)
  const strategies = await client.service('strategies').find({
    query: { type: 'momentum' }
  })
  console.log(strategies.data)
  harness({find: strategies})

  // Create a resource (equivalent to POST /strategies)
  const newStrategy = await client.service('strategies').create({
    name: 'New Strategy',
    type: 'momentum',
    pair: 'BTC/USDT'
  })
  console.log(newStrategy._id)
  harness({created: newStrategy})

  // Patch a resource (equivalent to PATCH /strategies/:id)
  const updated = await client.service('strategies').patch('strat-456', {
    name: 'Updated Name'
  })
  console.log(updated)
  harness({patched: updated})

  // The same find, in the seed's query style, on every service the docs name.
  const queries = {
    'strategies': { type: 'momentum' },
    'traders': { status: 'stopped' },
    'traders/pods/events': { type: 'trade_executed' },
    'exchanges/ticker': { symbol: 'BTC/USDT' },
    'trades': { side: 'buy' },
    'models/signals': { type: 'buy' },
    'messages': { read: false },
    'events': {},
    'users': {}
  }
  for (const [path, query] of Object.entries(queries)) {
    harness({service: path, page: await client.service(path).find({ query })})
  }
} catch (error) {
  harness({error: error.message, name: error.name, code: error.code})
}
harness({ready: true})

// Keep running (the socket keeps the loop alive; this keeps it alive while reconnecting too).
setInterval(() => {}, 1 << 30)
