package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// Command is one greenlight command. Constructors return a fresh Command each time, so flag
// values never leak between runs.
type Command struct {
	Name    string
	Summary string // one line, for the command list
	// Usage is the synopsis after "greenlight ": "status [--service S] [--watch]".
	Usage       string
	Description string
	Examples    []string
	// Flags registers the command's own flags.
	Flags func(fs *flag.FlagSet)
	// Args checks the positional arguments (nil: none allowed).
	Args func(args []string) error
	// Run does the work. Returned errors map to exit codes (see ExitCode).
	Run func(ctx context.Context, e *Env, args []string) error
	// Subcommands (routes get|validate|put); a command with subcommands has no Run.
	Subcommands []func() *Command
}

// App is the CLI with everything it touches from the outside, so tests can run it whole.
type App struct {
	Name   string
	Getenv func(string) string
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Now    func() time.Time
	// Sleep waits d or until ctx ends (watch and wait loops).
	Sleep func(ctx context.Context, d time.Duration) error
	// IsTerminal reports whether w is a terminal (colours, redraws, prompts).
	IsTerminal func(w io.Writer) bool
	// LoadAWS builds the AWS configuration from the global flags (default LoadAWS).
	LoadAWS func(ctx context.Context, getenv func(string) string, o AWSOptions) (aws.Config, error)
	// WrapClients, when set, may replace clients after they are built (tests).
	WrapClients func(c *Clients)

	commands []func() *Command
}

// New returns an App wired to the process.
func New(getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) *App {
	return &App{
		Name: "greenlight", Getenv: getenv, Stdin: stdin, Stdout: stdout, Stderr: stderr,
		Now: time.Now, Sleep: sleep, IsTerminal: isTerminal, LoadAWS: LoadAWS,
	}
}

// Register adds commands (constructors).
func (a *App) Register(cmds ...func() *Command) { a.commands = append(a.commands, cmds...) }

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// Global holds the flags every command accepts.
type Global struct {
	AWSOptions
	Stack           string
	StateMachineARN string
	LedgerTable     string
	RoutesParameter string
	Output          string
	NoColor         bool
}

func (g *Global) register(fs *flag.FlagSet, getenv func(string) string) {
	fs.StringVar(&g.Region, "region", "", "AWS region (default: AWS_REGION, AWS_DEFAULT_REGION or the profile's)")
	fs.StringVar(&g.Profile, "profile", "", "AWS shared-config profile (default: AWS_PROFILE)")
	fs.StringVar(&g.EndpointURL, "endpoint-url", "", "send every AWS call to this endpoint (a local AWS such as the rehearsal's); AWS_ENDPOINT_URL[_<SERVICE>] also work")
	fs.StringVar(&g.Stack, "stack", envOr(getenv, "greenlight", "GREENLIGHT_STACK"), "greenlight's CloudFormation stack, whose outputs name its resources (env GREENLIGHT_STACK)")
	fs.StringVar(&g.StateMachineARN, "state-machine-arn", envOr(getenv, "", "GREENLIGHT_STATE_MACHINE_ARN", "STATE_MACHINE_ARN"), "the deploy state machine; skips the stack lookup (env GREENLIGHT_STATE_MACHINE_ARN)")
	fs.StringVar(&g.LedgerTable, "ledger-table", envOr(getenv, "", "GREENLIGHT_LEDGER_TABLE", "LEDGER_TABLE"), "the ledger DynamoDB table; skips the stack lookup (env GREENLIGHT_LEDGER_TABLE)")
	fs.StringVar(&g.RoutesParameter, "routes-parameter", envOr(getenv, "", "GREENLIGHT_ROUTES_PARAMETER", "ROUTES_PARAMETER"), "the routes SSM parameter; skips the stack lookup (env GREENLIGHT_ROUTES_PARAMETER)")
	fs.StringVar(&g.Output, "output", envOr(getenv, "text", "GREENLIGHT_OUTPUT"), "output format: text, json or yaml (env GREENLIGHT_OUTPUT)")
	fs.StringVar(&g.Output, "o", envOr(getenv, "text", "GREENLIGHT_OUTPUT"), "shorthand for --output")
	fs.BoolVar(&g.NoColor, "no-color", false, "never colour the output (NO_COLOR set does the same)")
}

var globalFlagNames = map[string]bool{"region": true, "profile": true, "endpoint-url": true, "stack": true,
	"state-machine-arn": true, "ledger-table": true, "routes-parameter": true, "output": true, "o": true, "no-color": true}

func envOr(getenv func(string) string, def string, names ...string) string {
	for _, n := range names {
		if v := getenv(n); v != "" {
			return v
		}
	}
	return def
}

// Run parses args (without the program name), runs the command and returns the exit code.
func (a *App) Run(ctx context.Context, args []string) int {
	g := &Global{}
	root := flag.NewFlagSet(a.Name, flag.ContinueOnError)
	root.SetOutput(io.Discard)
	g.register(root, a.Getenv)
	help := false
	root.BoolVar(&help, "help", false, "")
	root.BoolVar(&help, "h", false, "")
	if err := root.Parse(args); err != nil {
		return a.fail(g, nil, Usagef("%s", flagMessage(err)))
	}
	rest := root.Args()
	if help || len(rest) == 0 || rest[0] == "help" {
		if len(rest) > 1 && rest[0] == "help" {
			return a.Run(ctx, append(rest[1:], "--help"))
		}
		a.rootHelp(a.Stdout)
		if !help && len(rest) == 0 {
			return ExitUsage
		}
		return ExitOK
	}
	cmd := a.find(a.commands, rest[0])
	if cmd == nil {
		return a.fail(g, nil, Usagef("unknown command %q: commands are %s", rest[0], strings.Join(a.names(a.commands), ", ")))
	}
	path := []string{cmd.Name}
	rest = rest[1:]
	for len(cmd.Subcommands) > 0 {
		if len(rest) == 0 || rest[0] == "--help" || rest[0] == "-h" || rest[0] == "help" {
			a.commandHelp(a.Stdout, path, cmd, nil)
			if len(rest) == 0 {
				return ExitUsage
			}
			return ExitOK
		}
		sub := a.find(cmd.Subcommands, rest[0])
		if sub == nil {
			return a.fail(g, path, Usagef("unknown command %q: %s has %s", rest[0], strings.Join(path, " "), strings.Join(a.names(cmd.Subcommands), ", ")))
		}
		cmd = sub
		path = append(path, sub.Name)
		rest = rest[1:]
	}

	fs := flag.NewFlagSet(a.Name+" "+strings.Join(path, " "), flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if cmd.Flags != nil {
		cmd.Flags(fs)
	}
	// Global flags are accepted after the command too; they keep what was set before it.
	pre := *g
	g.register(fs, a.Getenv)
	*g = pre
	positional, err := parseInterleaved(fs, rest)
	if errors.Is(err, flag.ErrHelp) {
		a.commandHelp(a.Stdout, path, cmd, fs)
		return ExitOK
	}
	if err != nil {
		return a.fail(g, path, Usagef("%s", flagMessage(err)))
	}
	switch g.Output {
	case "text", "json", "yaml":
	default:
		return a.fail(g, path, Usagef("--output %q: use text, json or yaml", g.Output))
	}
	if cmd.Args != nil {
		if err := cmd.Args(positional); err != nil {
			return a.fail(g, path, err)
		}
	} else if len(positional) > 0 {
		return a.fail(g, path, Usagef("unexpected argument %q", positional[0]))
	}
	e := &Env{App: a, Global: g, Command: strings.Join(path, " ")}
	if err := cmd.Run(ctx, e, positional); err != nil {
		if ctx.Err() != nil && !errors.Is(err, context.Canceled) {
			err = fmt.Errorf("%w: %v", context.Canceled, err)
		}
		return a.fail(g, path, err)
	}
	return ExitOK
}

// parseInterleaved lets flags follow positional arguments ("routes put FILE --yes").
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func (a *App) find(list []func() *Command, name string) *Command {
	for _, mk := range list {
		if c := mk(); c.Name == name {
			return c
		}
	}
	return nil
}

func (a *App) names(list []func() *Command) []string {
	var out []string
	for _, mk := range list {
		out = append(out, mk().Name)
	}
	sort.Strings(out)
	return out
}

// fail prints err (text, or a JSON object with --output json) on stderr and returns its code.
func (a *App) fail(g *Global, path []string, err error) int {
	code := ExitCode(err)
	var s silent
	if errors.As(err, &s) {
		return code
	}
	msg := err.Error()
	if code == ExitInterrupted {
		msg = "interrupted"
	}
	if g != nil && g.Output == "json" {
		b, _ := json.Marshal(map[string]any{"error": map[string]any{
			"code": code, "kind": errorKind(code), "message": msg,
		}})
		fmt.Fprintln(a.Stderr, string(b))
		return code
	}
	prefix := a.Name
	if len(path) > 0 {
		prefix += " " + strings.Join(path, " ")
	}
	fmt.Fprintf(a.Stderr, "%s: %s\n", prefix, msg)
	var ce *Error
	if errors.As(err, &ce) && ce.Usage {
		fmt.Fprintf(a.Stderr, "Run '%s --help' for usage.\n", prefix)
	}
	return code
}

func (a *App) rootHelp(w io.Writer) {
	fmt.Fprintf(w, "%s deploys ECR pushes to ECS blue/green services; this CLI shows and steers it.\n\n", a.Name)
	fmt.Fprintf(w, "Usage:\n  %s <command> [flags]\n\nCommands:\n", a.Name)
	cmds := make([]*Command, 0, len(a.commands))
	for _, mk := range a.commands {
		cmds = append(cmds, mk())
	}
	sort.Slice(cmds, func(i, j int) bool { return cmds[i].Name < cmds[j].Name })
	for _, c := range cmds {
		fmt.Fprintf(w, "  %-10s %s\n", c.Name, c.Summary)
	}
	fmt.Fprintf(w, "\nGlobal flags (accepted before or after the command):\n")
	g := &Global{}
	fs := flag.NewFlagSet("", flag.ContinueOnError)
	g.register(fs, func(string) string { return "" })
	printFlags(w, fs, func(n string) bool { return true })
	fmt.Fprintf(w, "\nExit codes: 0 ok, 1 check failed or deployment did not succeed, 2 usage, 3 AWS error, 4 not found, 130 interrupted.\n")
	fmt.Fprintf(w, "Run '%s <command> --help' for a command's flags and examples.\n", a.Name)
}

func (a *App) commandHelp(w io.Writer, path []string, c *Command, fs *flag.FlagSet) {
	full := a.Name + " " + strings.Join(path, " ")
	usage := c.Usage
	if usage == "" {
		usage = strings.Join(path, " ") + " [flags]"
	}
	fmt.Fprintf(w, "Usage: %s %s\n\n", a.Name, usage)
	if c.Description != "" {
		fmt.Fprintf(w, "%s\n\n", strings.TrimSpace(c.Description))
	} else {
		fmt.Fprintf(w, "%s\n\n", c.Summary)
	}
	if len(c.Subcommands) > 0 {
		fmt.Fprintf(w, "Commands:\n")
		for _, mk := range c.Subcommands {
			s := mk()
			fmt.Fprintf(w, "  %-10s %s\n", s.Name, s.Summary)
		}
		fmt.Fprintf(w, "\nRun '%s <command> --help' for details.\n", full)
	}
	if fs != nil {
		own := false
		fs.VisitAll(func(f *flag.Flag) { own = own || !globalFlagNames[f.Name] })
		if own {
			fmt.Fprintf(w, "Flags:\n")
			printFlags(w, fs, func(n string) bool { return !globalFlagNames[n] })
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "Global flags: --region, --profile, --endpoint-url, --stack, --state-machine-arn, --ledger-table, --routes-parameter, --output/-o text|json|yaml, --no-color (see '%s --help').\n", a.Name)
	}
	if len(c.Examples) > 0 {
		fmt.Fprintf(w, "\nExamples:\n")
		for _, ex := range c.Examples {
			fmt.Fprintf(w, "  %s\n", ex)
		}
	}
}

func printFlags(w io.Writer, fs *flag.FlagSet, keep func(string) bool) {
	fs.VisitAll(func(f *flag.Flag) {
		if !keep(f.Name) || f.Name == "o" {
			return
		}
		name, usage := flag.UnquoteUsage(f)
		left := "--" + f.Name
		if name != "" {
			left += " " + name
		}
		def := ""
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" && f.DefValue != "0s" {
			def = fmt.Sprintf(" (default %s)", f.DefValue)
		}
		fmt.Fprintf(w, "  %-30s %s%s\n", left, usage, def)
	})
}

// flagMessage rewrites the flag package's messages in the --long form this CLI documents.
func flagMessage(err error) string {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		return "unknown flag --" + strings.TrimPrefix(name, "-")
	}
	if rest, ok := strings.CutPrefix(msg, "flag needs an argument: -"); ok {
		return "flag --" + strings.TrimPrefix(rest, "-") + " needs a value"
	}
	if strings.HasPrefix(msg, "invalid value ") {
		return strings.Replace(msg, " for flag -", " for flag --", 1)
	}
	return msg
}
