package events

import "time"

// Message is one delivery of a Pub/Sub message, whatever form brought it.
type Message struct {
	// ID is the Pub/Sub message id: stable across redeliveries of the same
	// message, new when a message is dead-lettered or published again.
	ID          string
	Data        []byte
	Attributes  map[string]string
	OrderingKey string
	PublishTime time.Time
	// DeliveryAttempt counts deliveries from 1; 0 means unknown (the
	// subscription has no dead-letter policy, or the sender does not say).
	DeliveryAttempt int
	// Subscription is the full subscription name when the sender names it.
	Subscription string
}

// Outgoing is a message to publish.
type Outgoing struct {
	Data []byte
	// OrderingKey orders messages with the same key (a chat, a file).
	OrderingKey string
	Attributes  map[string]string
}
