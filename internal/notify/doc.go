// Package notify tells people in chat what a deployment did and, when it did not simply
// succeed, why.
//
// It reads one result.Result per SNS message, finds the route's channels in the routes
// document, and for each channel whose outcome filter admits the result: claims the delivery
// in the ledger (so a redelivered message never posts twice), resolves the webhook URL from
// Secrets Manager, renders the platform's payload, and posts it with retries. Permanent
// failures go to a dead-letter queue with the result; retryable ones that outlive the
// Lambda's time are released for Lambda's own async retry. The Amazon Q Developer
// custom-notification form is published to a second SNS topic, once per result.
//
// Renderers, one file per platform (Flagger's notifier is the model): Slack (Block Kit),
// Microsoft Teams (Workflows webhook, Adaptive Card 1.4), Google Chat (cardsV2), Discord
// (embeds), a generic JSON webhook (the Result itself, HMAC-signed) and Amazon Q Developer.
// All but the webhook render from one Message composed by Compose, so every platform says the
// same thing in the same order: outcome first, then the reason's summary verbatim, then the
// evidence, the images, duration, stage, warnings and links. Each renderer keeps within its
// platform's size limits by shrinking the message step by step and marking what it cut.
//
// Webhook URLs are secrets: the WebhookURL type redacts itself in logs, fmt and JSON, and
// delivery errors never carry it.
package notify
