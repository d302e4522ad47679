// Package cfnyaml reads CloudFormation templates written in YAML, short-form intrinsic
// function tags included (!Ref, !GetAtt, !Sub, !If …), into the plain tree their JSON form
// decodes to ({"Ref": …}, {"Fn::GetAtt": [resource, attribute]}, {"Fn::Sub": …}), so tests
// can check a template's wiring with ordinary map lookups.
//
// goformation cannot be used for this: it rejects the ECS blue/green properties and
// resolves intrinsics to empty strings (reference/local-toolchain.md §5).
package cfnyaml
