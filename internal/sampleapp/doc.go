// Package sampleapp is the sample service greenlight deploys in its walkthrough and its
// rehearsal: a plain net/http server with the routes an ALB and greenlight's smoke tests
// need (GET /health, GET /, GET /version) and fault switches for rehearsing rollbacks
// without editing code.
//
// Everything is read once, at start, from the environment (ConfigFromEnv): the bind address
// (HOST, PORT), the build's identity (VERSION, REVISION, which override what the binary was
// built with), and the faults (HEALTH_FAIL, ERROR_RATE, LATENCY_MS, CRASH_AFTER). Images
// bake fault defaults in as build arguments, so a "broken" image is just another digest and
// greenlight deploys it like any other; the rehearsal starts a "green" process with the
// same variables set.
//
// The binary is app/ (package main); this package holds its logic so the rehearsal and the
// tests can use the handler directly.
package sampleapp
