package ecsemu

import (
	"fmt"
	"math"
	"time"
)

// Deployment strategies the emulator runs (reference §1.1). ROLLING is not emulated.
const (
	StrategyBlueGreen = "BLUE_GREEN"
	StrategyLinear    = "LINEAR"
	StrategyCanary    = "CANARY"
)

func emulatedStrategy(s string) bool {
	return s == StrategyBlueGreen || s == StrategyLinear || s == StrategyCanary
}

// Reference §1.1 defaults.
const (
	defaultStepPercent     = 10.0
	defaultStepBakeMinutes = 6
	defaultCanaryPercent   = 5.0
	defaultCanaryBakeMins  = 10
)

// strategyValid checks the strategy's own settings (reference §1.1) with errors that name
// the field and its range.
func strategyValid(cfg deploymentConfiguration) error {
	if !emulatedStrategy(cfg.Strategy) {
		return fmt.Errorf("deploymentConfiguration.strategy %q: the ECS emulator runs BLUE_GREEN, LINEAR and CANARY", cfg.Strategy)
	}
	if cfg.LinearConfiguration != nil && cfg.Strategy != StrategyLinear {
		return fmt.Errorf("deploymentConfiguration.linearConfiguration is only allowed with strategy LINEAR (strategy is %s)", cfg.Strategy)
	}
	if cfg.CanaryConfiguration != nil && cfg.Strategy != StrategyCanary {
		return fmt.Errorf("deploymentConfiguration.canaryConfiguration is only allowed with strategy CANARY (strategy is %s)", cfg.Strategy)
	}
	if cfg.BakeTimeInMinutes == nil && cfg.Strategy == StrategyBlueGreen {
		return fmt.Errorf("deploymentConfiguration.bakeTimeInMinutes is required with strategy BLUE_GREEN (0-1440)")
	}
	if b := cfg.BakeTimeInMinutes; b != nil && (*b < 0 || *b > 1440) {
		return fmt.Errorf("deploymentConfiguration.bakeTimeInMinutes %d is out of range: use 0-1440", *b)
	}
	bake := func(field string, v *int) error {
		if v != nil && (*v < 0 || *v > 1440) {
			return fmt.Errorf("deploymentConfiguration.%s %d is out of range: use 0-1440", field, *v)
		}
		return nil
	}
	percent := func(field string, v *float64, lo float64) error {
		if v == nil {
			return nil
		}
		if *v < lo || *v > 100 || math.Abs(*v*10-math.Round(*v*10)) > 1e-9 {
			return fmt.Errorf("deploymentConfiguration.%s %g is not allowed: use a multiple of 0.1 from %g to 100", field, *v, lo)
		}
		return nil
	}
	if l := cfg.LinearConfiguration; l != nil {
		if err := percent("linearConfiguration.stepPercent", l.StepPercent, 3); err != nil {
			return err
		}
		if err := bake("linearConfiguration.stepBakeTimeInMinutes", l.StepBakeTimeInMinutes); err != nil {
			return err
		}
	}
	if c := cfg.CanaryConfiguration; c != nil {
		if err := percent("canaryConfiguration.canaryPercent", c.CanaryPercent, 0.1); err != nil {
			return err
		}
		if err := bake("canaryConfiguration.canaryBakeTimeInMinutes", c.CanaryBakeTimeInMinutes); err != nil {
			return err
		}
	}
	return nil
}

// trafficStep is one production traffic shift: green's share of production after it, and
// the (emulated) time ECS waits before the next one.
type trafficStep struct {
	green float64
	bake  time.Duration
}

// trafficSteps is the production shift of a deployment (reference §1.1, §2.5): BLUE_GREEN
// moves 100 % at once; LINEAR moves stepPercent at a time with stepBakeTimeInMinutes between
// steps and none after the 100 % step; CANARY moves canaryPercent, waits
// canaryBakeTimeInMinutes, then moves the rest.
func trafficSteps(cfg deploymentConfiguration) []trafficStep {
	minutes := func(v *int, def int) time.Duration {
		if v != nil {
			return time.Duration(*v) * time.Minute
		}
		return time.Duration(def) * time.Minute
	}
	pct := func(v *float64, def float64) float64 {
		if v != nil {
			return *v
		}
		return def
	}
	var steps []trafficStep
	switch cfg.Strategy {
	case StrategyLinear:
		var l linearConfiguration
		if cfg.LinearConfiguration != nil {
			l = *cfg.LinearConfiguration
		}
		step, bake := pct(l.StepPercent, defaultStepPercent), minutes(l.StepBakeTimeInMinutes, defaultStepBakeMinutes)
		for i := 1; ; i++ {
			g := math.Round(float64(i)*step*10) / 10
			if g >= 100 {
				break
			}
			steps = append(steps, trafficStep{green: g, bake: bake})
		}
	case StrategyCanary:
		var c canaryConfiguration
		if cfg.CanaryConfiguration != nil {
			c = *cfg.CanaryConfiguration
		}
		if g := pct(c.CanaryPercent, defaultCanaryPercent); g < 100 {
			steps = append(steps, trafficStep{green: g, bake: minutes(c.CanaryBakeTimeInMinutes, defaultCanaryBakeMins)})
		}
	}
	return append(steps, trafficStep{green: 100})
}

// albWeights splits a listener rule's forward between green and blue for a green share in
// percent: 100/0 and 0/100 at the ends, as a BLUE_GREEN shift writes them; in between, ALB
// weights being whole numbers (0-999), out of 999 so that a 0.1 % step keeps its size and
// never rounds to nothing.
func albWeights(green float64) (g, b int) {
	switch {
	case green >= 100:
		return 100, 0
	case green <= 0:
		return 0, 100
	}
	g = max(int(math.Round(green*999/100)), 1)
	return g, 999 - g
}
