#!/usr/bin/env python3
"""Checks template.yaml the way `sam validate --lint` cannot: translates the
SAM template to CloudFormation with samtranslator (offline) and runs cfn-lint
on the result, which checks the values of the generated resources (runtimes,
event types, a queue visibility timeout shorter than its function's timeout).
Also runs cfn-lint on the SAM template itself. Exits non-zero on any finding."""
import json
import os
import subprocess
import sys
import tempfile

os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

from samtranslator.translator.transform import transform  # noqa: E402
from samtranslator.yaml_helper import yaml_parse  # noqa: E402


class _NoManagedPolicies:
    """Managed policy ARNs without a call to IAM (offline)."""

    def load(self):
        return {}


def main() -> int:
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    template = os.path.join(root, "template.yaml")
    with open(template, encoding="utf-8") as f:
        sam = yaml_parse(f.read())
    # As `sam package` would: local code becomes an S3 object.
    for res in sam.get("Resources", {}).values():
        props = res.get("Properties", {})
        if res.get("Type") == "AWS::Serverless::Function" and not str(props.get("CodeUri", "")).startswith("s3://"):
            props["CodeUri"] = "s3://zdsync-artifacts/code.zip"
    cfn = transform(sam, {}, _NoManagedPolicies())
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as out:
        json.dump(cfn, out, indent=1)
        translated = out.name
    status = 0
    for path in (template, translated):
        r = subprocess.run(["cfn-lint", "--format", "parseable", path], capture_output=True, text=True)
        if r.stdout.strip() or r.returncode != 0:
            print(f"cfn-lint {os.path.basename(path)}:\n{r.stdout}{r.stderr}")
            status = 1
    resources = cfn.get("Resources", {})
    functions = [k for k, v in resources.items() if v.get("Type") == "AWS::Lambda::Function"]
    schedules = [k for k, v in resources.items() if v.get("Type") in ("AWS::Events::Rule", "AWS::Scheduler::Schedule")]
    print(f"template: {len(resources)} resources, {len(functions)} functions, {len(schedules)} schedules")
    if len(functions) != 3 or len(schedules) != 2:
        print("expected 3 functions and 2 schedules")
        status = 1
    os.unlink(translated)
    return status


if __name__ == "__main__":
    sys.exit(main())
