// Package routes owns the routes document: which pushes (repository + tag pattern) deploy
// to which ECS services, with each route's smoke tests, alarms, deadlines and chat
// channels. It parses JSON or YAML, validates everything before anything is used (every
// problem names its field and the fix), and matches pushes to routes.
//
// The document lives in an SSM parameter; Store reads and writes it.
package routes
