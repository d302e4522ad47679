package cfnyaml

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestParseShortForms(t *testing.T) {
	src := `
Conditions:
  HasImage: !Not [!Equals [!Ref ImageUri, ""]]
Resources:
  Rule:
    Properties:
      ListenerArn: !Ref Listener
      Port: !Ref "80"
      Name: !Sub ${Project}-rule
      Join: !Join [",", [!GetAtt Role.Arn, !GetAtt Alb.DNSName]]
      Nested: !GetAtt Stack.Outputs.Url
      Long: !GetAtt [Role, Arn]
      If: !If [HasImage, !Ref Image, !Ref AWS::NoValue]
      Azs: !Select [0, !GetAZs ""]
      Split: !Split [",", !Ref Stages]
      Cond: !Condition HasImage
      Plain: {Weight: 100, On: true, Ratio: 0.5, Text: "100", Nothing: null}
      Anchored: &a [1, 2]
      Alias: *a
`
	got, err := Parse([]byte(src))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	want := `{
 "Conditions": {"HasImage": {"Fn::Not": [{"Fn::Equals": [{"Ref": "ImageUri"}, ""]}]}},
 "Resources": {"Rule": {"Properties": {
   "ListenerArn": {"Ref": "Listener"},
   "Port": {"Ref": "80"},
   "Name": {"Fn::Sub": "${Project}-rule"},
   "Join": {"Fn::Join": [",", [{"Fn::GetAtt": ["Role", "Arn"]}, {"Fn::GetAtt": ["Alb", "DNSName"]}]]},
   "Nested": {"Fn::GetAtt": ["Stack", "Outputs.Url"]},
   "Long": {"Fn::GetAtt": ["Role", "Arn"]},
   "If": {"Fn::If": ["HasImage", {"Ref": "Image"}, {"Ref": "AWS::NoValue"}]},
   "Azs": {"Fn::Select": [0, {"Fn::GetAZs": ""}]},
   "Split": {"Fn::Split": [",", {"Ref": "Stages"}]},
   "Cond": {"Condition": "HasImage"},
   "Plain": {"Weight": 100, "On": true, "Ratio": 0.5, "Text": "100", "Nothing": null},
   "Anchored": [1, 2],
   "Alias": [1, 2]
 }}}}`
	// Compare through JSON so YAML's int and JSON's float64 read the same.
	if !reflect.DeepEqual(viaJSON(t, got), viaJSON(t, jsonTree(t, want))) {
		g, _ := json.MarshalIndent(got, "", " ")
		t.Errorf("Parse =\n%s\nwant\n%s", g, want)
	}
	if _, ok := got["Resources"].(map[string]any)["Rule"].(map[string]any)["Properties"].(map[string]any)["Plain"].(map[string]any)["Weight"].(int); !ok {
		t.Error("plain numbers should decode as int")
	}
}

func jsonTree(t *testing.T, s string) any {
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("bad want: %v", err)
	}
	return v
}

func viaJSON(t *testing.T, v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return jsonTree(t, string(b))
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ src, want string }{
		{"A: !Reff Thing\n", "line 1: unknown tag !Reff"},
		{"A: !GetAtt NoDot\n", `!GetAtt "NoDot": want Resource.Attribute`},
		{"A: 1\nA: 2\n", `line 2: duplicate key "A"`},
		{"- a\n", "a template is a mapping"},
		{"", "empty template"},
		{"A: [\n", "yaml"},
	}
	for _, tt := range tests {
		_, err := Parse([]byte(tt.src))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%q) error = %v, want one containing %q", tt.src, err, tt.want)
		}
	}
}

func TestLookup(t *testing.T) {
	tree, err := Parse([]byte("Resources:\n  S:\n    Properties:\n      LB: [{TG: !Ref A}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := Lookup(tree, "Resources.S.Properties.LB.0.TG")
	if err != nil || !reflect.DeepEqual(v, map[string]any{"Ref": "A"}) {
		t.Errorf("Lookup = %v, %v; want {Ref: A}", v, err)
	}
	for path, want := range map[string]string{
		"Resources.X":                          `Resources: no key "X"`,
		"Resources.S.Properties.LB.1":          `Resources.S.Properties.LB: no item "1" in a list of 1`,
		"Resources.S.Properties.LB.0.TG.Ref.x": "Resources.S.Properties.LB.0.TG.Ref is a string",
	} {
		if _, err := Lookup(tree, path); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Lookup(%q) error = %v, want %q", path, err, want)
		}
	}
}
