package main

import "github.com/greenlight-deploy/greenlight/internal/cli"

// registry holds every command. Each command is one file in this directory that adds its
// constructor in init (status.go, history.go, …); a new command such as rehearse is one new
// file:
//
//	func init() { register(rehearseCommand) }
var registry []func() *cli.Command

func register(cmd func() *cli.Command) { registry = append(registry, cmd) }
