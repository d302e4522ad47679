"""Offline SAM -> CloudFormation with the installed aws-sam-translator (no AWS calls).

Usage: AWS_DEFAULT_REGION=us-east-1 python3 sam_transform.py template.yaml > translated.json
Run from the template's directory (DefinitionUri and CodeUri are relative to it).
CodeUri becomes a placeholder S3 URI; DefinitionUri is inlined as Definition, as sam deploy does.
"""
import json
import sys

from samtranslator.public.exceptions import InvalidDocumentException
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse


class NoManagedPolicies:
    # Only consulted for AWS managed policy *names*; the template uses ARNs.
    def load(self):
        return {}


def main(path):
    with open(path) as f:
        tpl = yaml_parse(f.read())
    for r in tpl.get("Resources", {}).values():
        p = r.get("Properties", {})
        if r["Type"] == "AWS::Serverless::Function" and isinstance(p.get("CodeUri"), str):
            p["CodeUri"] = "s3://bucket/" + p["CodeUri"].strip("/") + ".zip"
        if r["Type"] == "AWS::Serverless::StateMachine" and isinstance(p.get("DefinitionUri"), str):
            with open(p.pop("DefinitionUri")) as f:
                p["Definition"] = json.load(f)
    try:
        out = transform(tpl, {}, NoManagedPolicies())
    except InvalidDocumentException as e:
        print("\n".join(str(c) for c in e.causes), file=sys.stderr)
        sys.exit(1)
    json.dump(out, sys.stdout, indent=1, default=str)


if __name__ == "__main__":
    main(sys.argv[1])
