// Package events is devbot's transport for Pub/Sub: it decodes every form in
// which Google Cloud delivers a message to an HTTP consumer, applies the
// ack/retry rule in one place, publishes with ordering keys, and records
// processed messages in an inbox so that at-least-once delivery produces
// exactly-once effects.
//
// # Delivery forms
//
// A consumer accepts, on one endpoint:
//   - a Pub/Sub push request, wrapped (the JSON envelope {"message":{...},
//     "subscription":..., "deliveryAttempt":...});
//   - a Pub/Sub push request, unwrapped with write_metadata (the body is the
//     message data; metadata in X-Goog-Pubsub-* headers, each attribute as a
//     plain header);
//   - an Eventarc CloudEvent google.cloud.pubsub.topic.v1.messagePublished, in
//     binary mode (ce-* headers) or structured mode
//     (application/cloudevents+json).
//
// All decode to one [Message]; the handler never knows which transport
// brought it. See Decode for the order in which the forms are recognised.
//
// # Ack or retry
//
// [Consumer.ServeHTTP] maps the handler's result to a status code:
//   - nil: 204 (ack);
//   - a permanent error (fault.IsPermanent): 200 (ack), logged and recorded
//     in the inbox as rejected unless the handler's [Inbox] already did;
//   - any other error, a panic (recovered, logged with its stack) or the
//     deadline: 503 (nack, Pub/Sub redelivers with backoff), with
//     Retry-After when the error carries one;
//   - a retryable error on the last delivery attempt (DeliveryAttempt >=
//     MaxAttempts): the consumer gives up cleanly, calling GiveUp (fail the
//     job, release its credits, tell the user), records it and acks, so the
//     dead-letter topic is not the only safety net. When the attempt is
//     unknown (the emulator and subscriptions without a dead-letter policy
//     send none) the consumer never guesses that it is the last one: the
//     dead-letter policy ends the loop, and [Consumer.DeadLetterHandler],
//     pushed from the dead-letter topic, calls the same GiveUp.
//
// # Why a malformed request is answered 400 (a nack), not acked
//
// Pub/Sub treats every non-2xx answer as a nack, so a body that can never
// decode comes back until the subscription's dead-letter policy moves it to
// the dead-letter topic. That is the intended outcome. Only our own webhooks
// publish to these topics and only Pub/Sub (authenticated, when push auth is
// on) pushes to these endpoints, so a request that does not decode is far
// more likely a misconfiguration (a subscription switched to no_wrapper
// without write_metadata, an Eventarc change, a decoder bug in a new
// release) than a garbage message. Acking would silently lose every message
// until someone read the logs; nacking keeps each one, bounded by the
// dead-letter policy, in a place where an operator can inspect and replay it
// after the fix. The cost is a few wasted deliveries per bad message. The
// error is logged at ERROR level on every attempt.
//
// A request that fails push authentication is answered 401 or 403: it did
// not come from our subscription, so there is nothing to lose.
package events
