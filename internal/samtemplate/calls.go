package samtemplate

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

const sdkServicePrefix = "github.com/aws/aws-sdk-go-v2/service/"

// iamPrefix maps an SDK service package to its IAM action prefix where they differ.
var iamPrefix = map[string]string{
	"sfn":                    "states",
	"eventbridge":            "events",
	"elasticloadbalancingv2": "elasticloadbalancing",
}

// Call is one AWS operation a function's code can make.
type Call struct {
	Action string // IAM action, e.g. ecs:UpdateService
	Where  string // package.Interface.Method that declares it
}

// pkgIndex is what one module package declares, syntactically.
type pkgIndex struct {
	path string
	// interfaces: name -> SDK-shaped methods (IAM actions)
	interfaces map[string][]Call
	// structs: name -> field type expressions; funcs: name -> param and result types
	structs map[string][]typeRef
	funcs   map[string][]typeRef
}

// typeRef is a type expression reduced to (package path, name); pkg "" is the declaring package.
type typeRef struct{ pkg, name string }

// AWSCalls lists the AWS operations the Lambda in package pkg (e.g. ./functions/start) can
// make. It starts from what the main package constructs (composite literals pkg.T{…} and
// calls to pkg.F(…) of greenlight's own packages) and follows struct fields, constructor
// parameters and results through greenlight's packages; every SDK-shaped interface method
// (ctx, *svc.OpInput, ...func(*svc.Options)) met on the way is an operation, as IAM action
// svc:Op. An interface method counts even if it is never called, so the list can be a
// superset; tests name such exceptions.
func AWSCalls(ctx context.Context, moduleDir, module, pkg string) ([]Call, error) {
	cmd := exec.CommandContext(ctx, "go", "list", "-deps", "-json=ImportPath,Dir,GoFiles,Name", pkg)
	cmd.Dir = moduleDir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("go list -deps %s: %w: %s", pkg, err, errb.String())
	}
	idx := map[string]*pkgIndex{}
	var mainFiles []*ast.File
	var mainPath string
	dec := json.NewDecoder(&out)
	for dec.More() {
		var p struct {
			ImportPath, Dir, Name string
			GoFiles               []string
		}
		if err := dec.Decode(&p); err != nil {
			return nil, err
		}
		if p.ImportPath != module && !strings.HasPrefix(p.ImportPath, module+"/") {
			continue
		}
		pi := &pkgIndex{path: p.ImportPath, interfaces: map[string][]Call{}, structs: map[string][]typeRef{}, funcs: map[string][]typeRef{}}
		fset := token.NewFileSet()
		for _, f := range p.GoFiles {
			file, err := parser.ParseFile(fset, filepath.Join(p.Dir, f), nil, 0)
			if err != nil {
				return nil, err
			}
			pi.add(file, module)
			if p.Name == "main" {
				mainFiles = append(mainFiles, file)
				mainPath = p.ImportPath
			}
		}
		idx[p.ImportPath] = pi
	}
	if len(mainFiles) == 0 {
		return nil, fmt.Errorf("%s is not a main package of %s", pkg, module)
	}
	// Roots: what main constructs or calls in greenlight's packages.
	var roots []typeRef
	for _, f := range mainFiles {
		imports := importMap(f)
		ast.Inspect(f, func(n ast.Node) bool {
			var sel *ast.SelectorExpr
			switch x := n.(type) {
			case *ast.CompositeLit:
				sel, _ = x.Type.(*ast.SelectorExpr)
			case *ast.CallExpr:
				sel, _ = x.Fun.(*ast.SelectorExpr)
			}
			if sel == nil {
				return true
			}
			if id, ok := sel.X.(*ast.Ident); ok {
				if path, ok := imports[id.Name]; ok && idx[path] != nil {
					roots = append(roots, typeRef{path, sel.Sel.Name})
				}
			}
			return true
		})
	}
	_ = mainPath
	seen := map[typeRef]bool{}
	got := map[string]Call{}
	var visit func(r typeRef)
	visit = func(r typeRef) {
		if seen[r] {
			return
		}
		seen[r] = true
		pi := idx[r.pkg]
		if pi == nil {
			return
		}
		for _, c := range pi.interfaces[r.name] {
			got[c.Action+" "+c.Where] = c
		}
		for _, list := range [][]typeRef{pi.structs[r.name], pi.funcs[r.name]} {
			for _, t := range list {
				if t.pkg == "" {
					t.pkg = r.pkg
				}
				visit(t)
			}
		}
	}
	for _, r := range roots {
		visit(r)
	}
	calls := make([]Call, 0, len(got))
	for _, c := range got {
		calls = append(calls, c)
	}
	sort.Slice(calls, func(i, j int) bool { return calls[i].Action+calls[i].Where < calls[j].Action+calls[j].Where })
	return calls, nil
}

func importMap(f *ast.File) map[string]string {
	m := map[string]string{}
	for _, im := range f.Imports {
		p := strings.Trim(im.Path.Value, `"`)
		name := p[strings.LastIndex(p, "/")+1:]
		if im.Name != nil {
			name = im.Name.Name
		}
		m[name] = p
	}
	return m
}

func (pi *pkgIndex) add(file *ast.File, module string) {
	imports := importMap(file)
	refs := func(e ast.Expr) []typeRef {
		var out []typeRef
		ast.Inspect(e, func(n ast.Node) bool {
			switch x := n.(type) {
			case *ast.SelectorExpr:
				if id, ok := x.X.(*ast.Ident); ok {
					if p, ok := imports[id.Name]; ok && (p == module || strings.HasPrefix(p, module+"/")) {
						out = append(out, typeRef{p, x.Sel.Name})
					}
				}
				return false
			case *ast.Ident:
				if x.Obj == nil || x.Obj.Kind == ast.Typ {
					out = append(out, typeRef{"", x.Name})
				}
			}
			return true
		})
		return out
	}
	for _, d := range file.Decls {
		switch x := d.(type) {
		case *ast.FuncDecl:
			if x.Recv != nil {
				continue
			}
			var rs []typeRef
			for _, fl := range []*ast.FieldList{x.Type.Params, x.Type.Results} {
				if fl == nil {
					continue
				}
				for _, f := range fl.List {
					rs = append(rs, refs(f.Type)...)
				}
			}
			pi.funcs[x.Name.Name] = rs
		case *ast.GenDecl:
			for _, s := range x.Specs {
				ts, ok := s.(*ast.TypeSpec)
				if !ok {
					continue
				}
				switch t := ts.Type.(type) {
				case *ast.StructType:
					var rs []typeRef
					for _, f := range t.Fields.List {
						rs = append(rs, refs(f.Type)...)
					}
					pi.structs[ts.Name.Name] = rs
				case *ast.InterfaceType:
					pi.interfaces[ts.Name.Name] = sdkMethods(t, imports, pi.path, ts.Name.Name)
				}
			}
		}
	}
}

func sdkMethods(it *ast.InterfaceType, imports map[string]string, pkgPath, iface string) []Call {
	var out []Call
	for _, m := range it.Methods.List {
		ft, ok := m.Type.(*ast.FuncType)
		if !ok || len(m.Names) == 0 || ft.Params == nil || len(ft.Params.List) != 3 {
			continue
		}
		star, ok := ft.Params.List[1].Type.(*ast.StarExpr)
		if !ok {
			continue
		}
		sel, ok := star.X.(*ast.SelectorExpr)
		if !ok {
			continue
		}
		x, ok := sel.X.(*ast.Ident)
		if !ok {
			continue
		}
		path := imports[x.Name]
		op := m.Names[0].Name
		if !strings.HasPrefix(path, sdkServicePrefix) || sel.Sel.Name != op+"Input" {
			continue
		}
		svc := strings.TrimPrefix(path, sdkServicePrefix)
		if p, ok := iamPrefix[svc]; ok {
			svc = p
		}
		out = append(out, Call{Action: svc + ":" + op, Where: pkgPath[strings.LastIndex(pkgPath, "/")+1:] + "." + iface + "." + op})
	}
	return out
}
