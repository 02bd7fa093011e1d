// Segment's Node.js library (@segment/analytics-node) as a server uses it, run by tests/clients against a live
// Pertinent: `node analytics-node-client.mjs <host> <writeKey> <userId>`. It sends six calls, flushes, and prints
// one JSON line: the calls sent (with their properties) and the delivery errors the library reported.
import { Analytics } from '@segment/analytics-node'

const [host, writeKey, userId] = process.argv.slice(2)
const analytics = new Analytics({ writeKey, host, flushAt: 4, flushInterval: 200, maxRetries: 3 })
const errors = []
analytics.on('error', (err) => errors.push(String(err?.reason ?? err?.message ?? err)))

const calls = [
  ['identify', { userId, traits: { plan: 'pro', seats: 3 } }],
  ['track', { userId, event: 'Product Viewed', properties: { product_id: 'mug', price: 12.5, tags: ['kitchen'] } }],
  ['page', { userId, category: 'Docs', name: 'Pricing', properties: { path: '/pricing', section: 'plans' } }],
  ['screen', { userId, name: 'Cart', properties: { items: 2 } }],
  ['group', { userId, groupId: 'acme', traits: { name: 'Acme Inc', employees: 50 } }],
  [
    'track',
    {
      userId,
      event: 'Order Completed',
      properties: { order_id: 'o-1', revenue: 42.5, currency: 'EUR', products: [{ product_id: 'mug', quantity: 2 }] },
    },
  ],
]
for (const [method, message] of calls) analytics[method](message)
await analytics.closeAndFlush({ timeout: 15000 })
console.log(JSON.stringify({ calls, errors }))
