package main

import "github.com/greenlight-deploy/greenlight/internal/cli"

func init() { register(cli.Status) }
