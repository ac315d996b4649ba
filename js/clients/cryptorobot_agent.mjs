// A Cryptorobot agent that does what the realtime guide asks, and its mutants (`--defect NAME`).
//
//   node js/clients/cryptorobot_agent.mjs [--defect NAME]
//
// The Feathers client from npm (`@feathersjs/client`, `@feathersjs/socketio-client`,
// `@feathersjs/authentication-client`, `socket.io-client`), built as the guide's `createClient(url)`
// with `transports: ['websocket']`. It logs in (strategy local) before anything else, fetches the
// initial state over REST (`GET /traders`, Bearer token) and its strategies over the socket, then
// listens to the service events. socket.io-client reconnects by itself after a lost transport
// (1 s doubling to 5 s, randomized) and the authentication client re-authenticates at once with the
// stored JWT; after a server disconnect (JWT expiry, a kick), which socket.io-client does not
// recover from, it reconnects itself with the same backoff. When the stored JWT is refused
// (expired), it logs in again with its credentials. It honours TooManyRequests' retryAfter. On
// SIGTERM it disconnects cleanly (a Socket.IO DISCONNECT). It reads the client environment only
// (CRYPTOROBOT_URL, CRYPTOROBOT_EMAIL, CRYPTOROBOT_PASSWORD) and runs on its own clock (time warp
// makes that the mock's). Each defect breaks exactly one rule of the conformance suite:
//
//   calls-first    finds strategies before it authenticates        cryptorobot.sio.authenticates-first
//   never-reauth   logs in once, by hand: no re-authentication     cryptorobot.sio.reauthenticates-after-reconnect
//   no-reconnect   never connects again once a connection is lost cryptorobot.sio.reconnects
//   tight-loop     reconnects every 100 ms, no backoff             cryptorobot.sio.reconnect-backoff
//   dead-jwt       retries the expired JWT every 5 s forever       cryptorobot.jwt.relogin-after-expiry
//   burst          70 calls at once, retried at once when refused  cryptorobot.plan.respects-limits
//   polls          finds traders every 10 s instead of listening  cryptorobot.events.no-polling
//   two-sessions   a second client logged in as the same user       cryptorobot.stream.one-session
//   no-close       exits on SIGTERM without disconnecting           cryptorobot.stream.closes-on-sigterm
//   get-missing    gets a strategy that does not exist (NotFound)   cryptorobot.protocol.no-client-errors
//   bad-frame      emits a `subscribe` event (there is none)        cryptorobot.contract.frames-match-asyncapi
//   bad-request    GET /traders?$limit=all (a number is expected)   cryptorobot.contract.requests-match-openapi

import {feathers} from '@feathersjs/client'
import socketio from '@feathersjs/socketio-client'
import authentication from '@feathersjs/authentication-client'
import {io} from 'socket.io-client'

const DEFECTS = [
  'calls-first', 'never-reauth', 'no-reconnect', 'tight-loop', 'dead-jwt', 'burst', 'polls',
  'two-sessions', 'no-close', 'get-missing', 'bad-frame', 'bad-request'
]
const flag = process.argv.indexOf('--defect')
const defect = flag >= 0 ? process.argv[flag + 1] : null
if (defect !== null && !DEFECTS.includes(defect)) {
  console.error(`unknown defect ${defect}; one of: ${DEFECTS.join(', ')}`)
  process.exit(2)
}

const url = process.env.CRYPTOROBOT_URL
const email = process.env.CRYPTOROBOT_EMAIL
const password = process.env.CRYPTOROBOT_PASSWORD
if (!url || !email || !password) {
  console.error('CRYPTOROBOT_URL, CRYPTOROBOT_EMAIL and CRYPTOROBOT_PASSWORD are required')
  process.exit(2)
}

const log = (...args) => console.log(new Date().toISOString(), ...args)
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const tight = defect === 'tight-loop'

// -- createClient(url), as the guide's SDK does it --------------------------------------------------
const socket = io(url, {
  transports: ['websocket'],
  reconnection: defect !== 'no-reconnect',
  ...(tight ? {reconnectionDelay: 100, reconnectionDelayMax: 100, randomizationFactor: 0} : {})
})
const client = feathers()
client.configure(socketio(socket))
if (defect !== 'never-reauth') client.configure(authentication())

let token = null // the last access token we were given (the authentication client keeps its own copy)
let stopping = false
let lost = 0 // reconnects since the last good connection (the backoff after a server disconnect)
let connectedOnce = false

// What a caller should wait after a TooManyRequests (seconds), or null.
function retryAfter(error) {
  return error?.name === 'TooManyRequests' && typeof error.data?.retryAfter === 'number' ? error.data.retryAfter : null
}

// A service call that honours retryAfter (the burst mutant retries at once).
async function call(promiseFactory, attempts = 5) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await promiseFactory()
    } catch (error) {
      const wait = retryAfter(error)
      if (wait === null || attempt >= attempts) throw error
      log(`refused (${error.message}); retrying ${defect === 'burst' ? 'at once' : `in ${wait} s`}`)
      if (defect !== 'burst') await sleep(wait * 1000)
    }
  }
}

async function login() {
  const data = {strategy: 'local', email, password}
  const result = defect === 'never-reauth'
    ? await client.service('authentication').create(data)
    : await client.authenticate(data)
  token = result.accessToken
  log(`logged in as ${result.user.email} (${result.user.plan} plan)`)
  return result
}

// The initial state: REST for the traders (the guide's best practice), the socket for the strategies.
async function fetchState(first) {
  const response = await fetch(`${url}/traders`, {headers: {Authorization: `Bearer ${token}`}})
  const traders = await response.json()
  log(`GET /traders: ${response.status}, ${traders.total ?? '?'} traders`)
  if (first) {
    const strategies = await call(() => client.service('strategies').find({query: {$limit: 25}}))
    log(`${strategies.total} strategies`)
  }
}

function listen() {
  const events = [
    ['traders/pods/events', 'created'], ['traders', 'created'], ['traders', 'patched'], ['strategies', 'created'],
    ['strategies', 'patched'], ['strategies', 'removed'], ['exchanges/ticker', 'patched'], ['trades', 'created'],
    ['models/signals', 'created'], ['messages', 'created'], ['events', 'created']
  ]
  for (const [path, name] of events) {
    client.service(path).on(name, (record) => log(`${path} ${name}`, record._id ?? ''))
  }
}

// After every reconnect: the authentication client has re-sent the stored JWT; when it is refused, log in again.
async function reauthenticated() {
  if (defect === 'never-reauth') {
    await fetchState(false) // REST, with the token it still has
    return
  }
  try {
    await client.reAuthenticate()
    lost = 0
    log('re-authenticated with the stored JWT')
    await fetchState(false)
  } catch (error) {
    if (error.code !== 401) throw error
    log(`the stored JWT was refused (${error.message})`)
    if (defect === 'dead-jwt') {
      while (!stopping && socket.connected) {
        try {
          await client.authenticate({strategy: 'jwt', accessToken: token})
          return
        } catch (again) {
          log(`the JWT was refused again (${again.message})`)
          await sleep(5000)
        }
      }
      return
    }
    await login()
    lost = 0
    await fetchState(false)
  }
}

socket.on('connect', () => {
  log(`connected (${socket.id})`)
  if (connectedOnce) reauthenticated().catch((error) => log(`after reconnect: ${error.message}`))
  connectedOnce = true
})

// socket.io-client does not come back after a server disconnect (a JWT expiry, a kick): we do, with a backoff.
socket.on('disconnect', (reason) => {
  log(`disconnected: ${reason}`)
  if (reason !== 'io server disconnect' || stopping || defect === 'no-reconnect') return
  const base = tight ? 100 : Math.min(5000, 1000 * 2 ** lost)
  const delay = tight ? base : base * (0.5 + Math.random())
  lost += 1
  setTimeout(() => stopping || socket.connect(), delay)
})
socket.io.on('reconnect_attempt', (attempt) => log(`reconnect attempt ${attempt}`))

process.on('unhandledRejection', (error) => log(`unhandled: ${error?.name} ${error?.message}`))
const sockets = [socket] // every connection to close on SIGTERM (two with the two-sessions mutant)
process.on('SIGTERM', () => {
  stopping = true
  const exit = () => process.exit(0)
  const open = sockets.filter((each) => each.connected)
  if (defect === 'no-close' || open.length === 0) exit()
  let closing = open.length
  for (const each of open) {
    each.io.engine?.once('close', () => --closing === 0 && exit())
    each.disconnect() // a Socket.IO DISCONNECT, then the transport closes
  }
  setTimeout(exit, 5000).unref()
})

// -- the agent ---------------------------------------------------------------------------------------
listen()
if (defect === 'calls-first') {
  await client.service('strategies').find({query: {type: 'momentum'}}).catch((error) => log(`unauthenticated find: ${error.message}`))
}
await login()
await fetchState(true)
if (defect === 'burst') {
  await Promise.all(Array.from({length: 70}, (_, i) =>
    call(() => client.service('exchanges/ticker').find({query: {$limit: 1, $skip: i}})).catch((error) => log(error.message))))
  log('burst done')
}
if (defect === 'two-sessions') {
  const second = io(url, {transports: ['websocket'], forceNew: true})
  sockets.push(second)
  const other = feathers()
  other.configure(socketio(second))
  other.configure(authentication())
  const result = await other.authenticate({strategy: 'local', email, password})
  log(`a second session, logged in as ${result.user.email}`)
}
if (defect === 'get-missing') {
  await client.service('strategies').get('strat-000').catch((error) => log(`get strat-000: ${error.name}`))
}
if (defect === 'bad-frame') {
  socket.emit('subscribe', 'traders') // there are no subscribe messages: authentication joins the user's channel
}
if (defect === 'bad-request') {
  const response = await fetch(`${url}/traders?$limit=all`, {headers: {Authorization: `Bearer ${token}`}})
  log(`GET /traders?$limit=all: ${response.status}`)
}
if (defect === 'polls') {
  setInterval(() => client.service('traders').find({query: {}}).then((page) => log(`polled ${page.total} traders`), () => {}), 10000)
}
setInterval(() => {}, 1 << 30) // keep running while reconnecting too
