package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/greenlight-deploy/greenlight/internal/routes"
)

// Routes is `greenlight routes get|validate|put`.
func Routes() *Command {
	return &Command{
		Name:    "routes",
		Summary: "show, check and change the routes document (which pushes deploy where)",
		Usage:   "routes get|validate|put [FILE]",
		Description: `The routes document maps ECR repositories and tag patterns to ECS services, with each
route's smoke tests, alarms and chat channels. It lives in one SSM parameter; these commands
read it, check a file against every rule, and replace it (validated first: an invalid
document is never written).`,
		Subcommands: []func() *Command{routesGet, routesValidate, routesPut},
	}
}

func routesGet() *Command {
	return &Command{
		Name:    "get",
		Summary: "print the routes document stored in SSM",
		Usage:   "routes get [--output json|yaml]",
		Description: `Prints the routes document from its SSM parameter: canonical JSON by default and with
--output json, YAML with --output yaml. If the stored document is invalid it is printed as
stored and the problems go to stderr (exit 1).`,
		Examples: []string{
			"greenlight routes get",
			"greenlight routes get -o yaml > routes.yaml    # edit, then: greenlight routes put routes.yaml",
		},
		Run: func(ctx context.Context, e *Env, _ []string) error {
			st, err := e.RoutesStore(ctx)
			if err != nil {
				return err
			}
			c, _ := e.Clients(ctx)
			raw, err := readParameter(ctx, c.SSM, st.Name())
			if err != nil {
				return err
			}
			if raw == nil {
				return NotFoundf("routes parameter %s does not exist: write one with `greenlight routes put FILE`", st.Name())
			}
			d, perr := routes.Parse([]byte(*raw))
			if perr != nil {
				fmt.Fprint(e.Stdout, *raw)
				if !strings.HasSuffix(*raw, "\n") {
					fmt.Fprintln(e.Stdout)
				}
				return Failedf("the stored document (%s) is invalid: %v", st.Name(), perr)
			}
			b, err := d.JSON()
			if err != nil {
				return err
			}
			if e.Global.Output == "yaml" {
				y, err := jsonToYAML(b)
				if err != nil {
					return err
				}
				_, err = e.Stdout.Write(y)
				return err
			}
			_, err = fmt.Fprintf(e.Stdout, "%s\n", b)
			return err
		},
	}
}

// readParameter returns the parameter's value, or nil when it does not exist.
func readParameter(ctx context.Context, c SSMAPI, name string) (*string, error) {
	out, err := c.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(name)})
	if err != nil {
		var nf *ssmtypes.ParameterNotFound
		if errors.As(err, &nf) {
			return nil, nil
		}
		return nil, AWSError("read routes parameter "+name+" (ssm:GetParameter)", err)
	}
	return out.Parameter.Value, nil
}

// ValidationView is the JSON of `routes validate` (and of a rejected `routes put`).
type ValidationView struct {
	File     string        `json:"file"`
	Valid    bool          `json:"valid"`
	Routes   int           `json:"routes"`
	Services int           `json:"services"`
	Problems []ProblemView `json:"problems"`
}

// ProblemView is one problem with its field path.
type ProblemView struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

func readRoutesFile(e *Env, file string) ([]byte, error) {
	if file == "-" {
		b, err := io.ReadAll(e.Stdin)
		if err != nil {
			return nil, Invalidf("read routes from standard input: %v", err)
		}
		return b, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, Invalidf("%s: no such file", file)
		}
		return nil, Invalidf("read %s: %v", file, err)
	}
	return b, nil
}

// parseRoutesFile parses and validates; on problems it reports them (JSON view or an error
// listing every problem) and returns a usage-class error.
func parseRoutesFile(e *Env, file string) (*routes.Document, error) {
	b, err := readRoutesFile(e, file)
	if err != nil {
		return nil, err
	}
	d, err := routes.Parse(b)
	if err == nil {
		return d, nil
	}
	var ve *routes.ValidationError
	if !errors.As(err, &ve) {
		return nil, Invalidf("%s: %v", file, err)
	}
	view := ValidationView{File: file, Problems: []ProblemView{}}
	for _, p := range ve.Problems {
		view.Problems = append(view.Problems, ProblemView{Field: p.Field, Message: p.Message})
	}
	if e.JSON() {
		if err := e.Emit(view, nil); err != nil {
			return nil, err
		}
		return nil, silent{ExitUsage}
	}
	lines := make([]string, len(ve.Problems))
	for i, p := range ve.Problems {
		lines[i] = "  " + p.String()
	}
	return nil, Invalidf("%s is invalid (%s):\n%s", file, plural(len(lines), "problem", "problems"), strings.Join(lines, "\n"))
}

func argFile(args []string) error {
	switch len(args) {
	case 1:
		return nil
	case 0:
		return Usagef("FILE is required (a YAML or JSON routes document, or - for standard input)")
	}
	return Usagef("one FILE only, got %d arguments", len(args))
}

func routesValidate() *Command {
	return &Command{
		Name:    "validate",
		Summary: "check a routes file against every rule; nothing is written",
		Usage:   "routes validate FILE",
		Description: `Parses FILE (YAML or JSON; - reads standard input) and checks every rule. Each problem names
its field (routes[0].smokeTests.checks[1].path) and the fix. Exit 0 when valid, 2 when not.
No AWS call is made.`,
		Examples: []string{
			"greenlight routes validate routes.yaml",
			"greenlight routes validate -o json routes.yaml | jq '.problems[].field'",
		},
		Args: argFile,
		Run: func(ctx context.Context, e *Env, args []string) error {
			d, err := parseRoutesFile(e, args[0])
			if err != nil {
				return err
			}
			view := ValidationView{File: args[0], Valid: true, Routes: len(d.Routes), Services: len(allTargets(d)), Problems: []ProblemView{}}
			return e.Emit(view, func(w io.Writer) {
				fmt.Fprintf(w, "%s: %s (%s, %s)\n", args[0], e.Paint(Green, "valid"),
					plural(view.Routes, "route", "routes"), plural(view.Services, "service", "services"))
			})
		},
	}
}

// PutView is the JSON of `routes put`.
type PutView struct {
	Parameter string `json:"parameter"`
	Changed   bool   `json:"changed"`
	Written   bool   `json:"written"`
	// Diff is a unified-style diff of the YAML renderings (current → new).
	Diff string `json:"diff"`
}

func routesPut() *Command {
	var yes, dryRun bool
	return &Command{
		Name:    "put",
		Summary: "validate a routes file, show the change, and write it to SSM",
		Usage:   "routes put FILE [--yes] [--dry-run]",
		Description: `Validates FILE (YAML or JSON; - reads standard input) exactly as 'routes validate' does,
shows what changes against the stored document, asks for confirmation unless --yes, and
writes the canonical JSON to the routes parameter. An invalid file is never written (exit 2).
Running deployments keep the routes they started with.`,
		Examples: []string{
			"greenlight routes put routes.yaml",
			"greenlight routes put routes.yaml --yes",
			"greenlight routes put routes.yaml --dry-run    # show the diff only",
		},
		Flags: func(fs *flag.FlagSet) {
			fs.BoolVar(&yes, "yes", false, "write without asking")
			fs.BoolVar(&dryRun, "dry-run", false, "show the change, write nothing")
		},
		Args: argFile,
		Run: func(ctx context.Context, e *Env, args []string) error {
			d, err := parseRoutesFile(e, args[0])
			if err != nil {
				return err
			}
			st, err := e.RoutesStore(ctx)
			if err != nil {
				return err
			}
			c, _ := e.Clients(ctx)
			cur, err := readParameter(ctx, c.SSM, st.Name())
			if err != nil {
				return err
			}
			newJSON, err := d.JSON()
			if err != nil {
				return err
			}
			newYAML, _ := jsonToYAML(newJSON)
			var oldYAML []byte
			if cur != nil {
				if od, err := routes.Parse([]byte(*cur)); err == nil {
					ob, _ := od.JSON()
					oldYAML, _ = jsonToYAML(ob)
				} else {
					oldYAML = []byte(*cur)
				}
			}
			view := PutView{Parameter: st.Name(), Diff: lineDiff(string(oldYAML), string(newYAML), 3)}
			view.Changed = view.Diff != ""
			if !view.Changed {
				return e.Emit(view, func(w io.Writer) {
					fmt.Fprintf(w, "%s already holds this document: nothing to write.\n", st.Name())
				})
			}
			if !e.JSON() {
				what := "Changes to " + st.Name()
				if cur == nil {
					what = st.Name() + " does not exist yet; it will be created"
				}
				fmt.Fprintf(e.Stdout, "%s:\n", what)
				for _, l := range strings.SplitAfter(view.Diff, "\n") {
					switch {
					case strings.HasPrefix(l, "+"):
						fmt.Fprint(e.Stdout, e.Paint(Green, strings.TrimSuffix(l, "\n"))+"\n")
					case strings.HasPrefix(l, "-"):
						fmt.Fprint(e.Stdout, e.Paint(Red, strings.TrimSuffix(l, "\n"))+"\n")
					case strings.HasPrefix(l, "@@"):
						fmt.Fprint(e.Stdout, e.Paint(Cyan, strings.TrimSuffix(l, "\n"))+"\n")
					default:
						fmt.Fprint(e.Stdout, l)
					}
				}
			}
			if dryRun {
				return e.Emit(view, func(w io.Writer) { fmt.Fprintln(w, "Dry run: nothing was written.") })
			}
			if err := e.Confirm(fmt.Sprintf("Write %s (%s)?", st.Name(), plural(len(d.Routes), "route", "routes")), yes); err != nil {
				return err
			}
			if err := st.Save(ctx, d); err != nil {
				return AWSError("write routes", err)
			}
			view.Written = true
			return e.Emit(view, func(w io.Writer) {
				fmt.Fprintf(w, "Wrote %s: %s, %s.\n", st.Name(), plural(len(d.Routes), "route", "routes"), plural(len(allTargets(d)), "service", "services"))
			})
		},
	}
}

// lineDiff returns a unified-style diff (hunks with context lines) of a → b, or "" when
// they are equal.
func lineDiff(a, b string, context int) string {
	if a == b {
		return ""
	}
	al, bl := splitLines(a), splitLines(b)
	// LCS table; routes documents are small (hundreds of lines).
	n, m := len(al), len(bl)
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if al[i] == bl[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	type op struct {
		kind byte // ' ', '-', '+'
		text string
		ai   int
		bi   int
	}
	var ops []op
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && al[i] == bl[j]:
			ops = append(ops, op{' ', al[i], i, j})
			i++
			j++
		case j < m && (i == n || lcs[i][j+1] > lcs[i+1][j]):
			ops = append(ops, op{'+', bl[j], i, j})
			j++
		default:
			ops = append(ops, op{'-', al[i], i, j})
			i++
		}
	}
	var out strings.Builder
	for k := 0; k < len(ops); {
		if ops[k].kind == ' ' {
			k++
			continue
		}
		start := max(0, k-context)
		end := k
		for end < len(ops) {
			if ops[end].kind != ' ' {
				end++
				continue
			}
			run := end
			for run < len(ops) && ops[run].kind == ' ' {
				run++
			}
			if run-end > 2*context || run == len(ops) {
				end = min(len(ops), end+context)
				break
			}
			end = run
		}
		aStart, bStart, aCount, bCount := ops[start].ai+1, ops[start].bi+1, 0, 0
		for _, o := range ops[start:end] {
			if o.kind != '+' {
				aCount++
			}
			if o.kind != '-' {
				bCount++
			}
		}
		fmt.Fprintf(&out, "@@ -%d,%d +%d,%d @@\n", aStart, aCount, bStart, bCount)
		for _, o := range ops[start:end] {
			fmt.Fprintf(&out, "%c%s\n", o.kind, o.text)
		}
		k = end
	}
	return out.String()
}

func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}
