#!/usr/bin/env python3
"""Checks template.yaml the way `sam validate --lint` cannot: translates the
SAM template to CloudFormation with samtranslator (offline) and runs cfn-lint
on the result, which checks the values of the generated resources (runtimes,
event types, a queue visibility timeout shorter than its function's timeout).
Also runs cfn-lint on the SAM template itself, then checks the promises of
least privilege on the translation (see `check_security`): each function's
permissions exactly as its code needs them, per-stack secrets, retained data,
log retention, the dead-letter alarm. Exits non-zero on any finding."""
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


# What each function's code calls, as (IAM action, resource) pairs; the
# resource is a label given by `resource_label`. Derived from the code:
#   DynamoDB (shared/store-dynamodb/src/, through the engine):
#     GetItem        get_connection, get_cursor, acquire_lease (a held lease)
#     PutItem        put_cursor, acquire_lease, put_run_record, indexing an
#                    old connection record
#     DeleteItem     release_lease
#     BatchGetItem   get_entities, get_states, get_document_hashes,
#                    write_tickets (what is stored of the bodies), listing
#                    connections (their records)
#     BatchWriteItem put_entities, write_tickets, delete_cursor
#     Query (table)  list_entity_ids, counts
#     Query (gsi1)   list_state_ids (the worker's refresh-users items);
#                    list_connections (the scheduled runs)
#     Scan, PutItem  list_connections' one-time indexing of connection
#                    records written before they carried the index's keys;
#                    the worker is given one connection by name
#   The daily user-refresh function only lists the connections and queues
#   one refresh item each (shared/lambda/src/lib.rs fan_out): no credentials,
#   no ticket data.
#   SQS (shared/store-dynamodb/src/queue.rs): SendMessageBatch, authorised
#     as sqs:SendMessage, by every function (continuations, backfill plans,
#     busy items queued again); the worker's event source mapping receives
#     and deletes (ReceiveMessage, DeleteMessage, GetQueueAttributes; failed
#     items are reported, visibility is never changed).
#   Secrets Manager (shared/engine/src/credentials.rs, store-dynamodb's
#     secrets.rs): GetSecretValue to build a client, PutSecretValue when an
#     OAuth token is refreshed (any run may refresh). CreateSecret and
#     DeleteSecret belong to `zdsync connect` only.
_DDB = {f"dynamodb:{a}" for a in ("GetItem", "PutItem", "DeleteItem", "BatchGetItem", "BatchWriteItem", "Query")}
_SECRETS = {("secretsmanager:GetSecretValue", "secrets"), ("secretsmanager:PutSecretValue", "secrets")}
EXPECTED = {
    "TicketSyncFunction": {(a, "table") for a in _DDB | {"dynamodb:Scan"}}
    | {("dynamodb:Query", "index gsi1"), ("sqs:SendMessage", "queue")}
    | _SECRETS,
    "UserRefreshFunction": {(f"dynamodb:{a}", "table") for a in ("BatchGetItem", "PutItem", "Scan")}
    | {("dynamodb:Query", "index gsi1"), ("sqs:SendMessage", "queue")},
    "BackfillWorkerFunction": {(a, "table") for a in _DDB}
    | {("dynamodb:Query", "index gsi1")}
    | {(f"sqs:{a}", "queue") for a in ("SendMessage", "ReceiveMessage", "DeleteMessage", "GetQueueAttributes")}
    | _SECRETS,
}
# The only managed policy a function role may carry (logs).
BASIC_EXECUTION = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
# The effective secrets prefix: zdsync/<stack name>/ unless SecretsPrefix is set.
PER_STACK_PREFIX = {
    "Fn::If": ["PerStackSecretsPrefix", {"Fn::Sub": "zdsync/${AWS::StackName}/"}, {"Ref": "SecretsPrefix"}]
}
SECRET_ARN = "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:${Prefix}*"


def resource_label(res):
    """A policy resource as a label, or None when it is not one of the known shapes."""
    if res == {"Fn::GetAtt": ["Table", "Arn"]}:
        return "table"
    if res == {"Fn::Sub": "${Table.Arn}/index/gsi1"}:
        return "index gsi1"
    if res == {"Fn::GetAtt": ["WorkQueue", "Arn"]}:
        return "queue"
    if res == {"Fn::Sub": [SECRET_ARN, {"Prefix": PER_STACK_PREFIX}]}:
        return "secrets"
    return None


def as_list(v):
    return v if isinstance(v, list) else [v]


def check_security(cfn):
    """The least-privilege promises of the template; returns the findings."""
    problems = []
    resources = cfn.get("Resources", {})
    params = cfn.get("Parameters", {})
    conditions = cfn.get("Conditions", {})

    # Secrets: a prefix of the stack's own unless overridden.
    if params.get("SecretsPrefix", {}).get("Default", None) != "":
        problems.append("SecretsPrefix must default to empty (meaning zdsync/<stack name>/)")
    if conditions.get("PerStackSecretsPrefix") != {"Fn::Equals": [{"Ref": "SecretsPrefix"}, ""]}:
        problems.append("condition PerStackSecretsPrefix must be SecretsPrefix == \"\"")
    if cfn.get("Outputs", {}).get("SecretsPrefix", {}).get("Value") != PER_STACK_PREFIX:
        problems.append("output SecretsPrefix must give the effective prefix")

    functions = {k: v for k, v in resources.items() if v.get("Type") == "AWS::Lambda::Function"}
    if set(functions) != set(EXPECTED):
        problems.append(f"functions {sorted(functions)}, expected {sorted(EXPECTED)}")
    for name, fn in functions.items():
        props = fn.get("Properties", {})
        env = props.get("Environment", {}).get("Variables", {})
        if env.get("ZDSYNC_SECRETS_PREFIX") != PER_STACK_PREFIX:
            problems.append(f"{name}: ZDSYNC_SECRETS_PREFIX must be the effective prefix")

        # Permissions: exactly the expected (action, resource) pairs.
        role_ref = props.get("Role", {}).get("Fn::GetAtt", [None])[0]
        role = resources.get(role_ref, {})
        if role.get("Type") != "AWS::IAM::Role":
            problems.append(f"{name}: its role is not a role of this template")
            continue
        managed = role["Properties"].get("ManagedPolicyArns", [])
        if managed != [BASIC_EXECUTION]:
            problems.append(f"{name}: managed policies {managed}, expected only AWSLambdaBasicExecutionRole")
        granted = set()
        for policy in role["Properties"].get("Policies", []):
            for st in as_list(policy.get("PolicyDocument", {}).get("Statement", [])):
                if st.get("Effect") != "Allow":
                    continue
                if "NotAction" in st or "NotResource" in st:
                    problems.append(f"{name}: NotAction/NotResource in {policy.get('PolicyName')}")
                for action in as_list(st.get("Action", [])):
                    if "*" in action:
                        problems.append(f"{name}: wildcard action {action!r}")
                    if action in ("secretsmanager:CreateSecret", "secretsmanager:DeleteSecret"):
                        problems.append(f"{name}: {action} (only `zdsync connect` creates or deletes secrets)")
                    for res in as_list(st.get("Resource", [])):
                        label = resource_label(res)
                        if label is None:
                            problems.append(f"{name}: {action} on an unexpected resource {json.dumps(res)}")
                        else:
                            granted.add((action, label))
        expected = EXPECTED.get(name, set())
        for action, label in sorted(granted - expected):
            problems.append(f"{name}: grants {action} on {label}, which its code does not call")
        for action, label in sorted(expected - granted):
            problems.append(f"{name}: lacks {action} on {label}, which its code calls")

        # Logs: a log group of the stack's, with a retention.
        group_ref = props.get("LoggingConfig", {}).get("LogGroup", {})
        group = resources.get(group_ref.get("Ref") if isinstance(group_ref, dict) else None, {})
        if group.get("Type") != "AWS::Logs::LogGroup":
            problems.append(f"{name}: LoggingConfig.LogGroup must name a log group of this template")
        elif group.get("Properties", {}).get("RetentionInDays") != {"Ref": "LogRetentionDays"}:
            problems.append(f"{name}: its log group must keep logs LogRetentionDays days")

    # The worker drains the work queue through a mapping of its own (the
    # receive side of its SQS grant above).
    mappings = [
        v.get("Properties", {})
        for v in resources.values()
        if v.get("Type") == "AWS::Lambda::EventSourceMapping"
    ]
    if [(m.get("EventSourceArn"), m.get("FunctionName")) for m in mappings] != [
        ({"Fn::GetAtt": ["WorkQueue", "Arn"]}, {"Ref": "BackfillWorkerFunction"})
    ]:
        problems.append("expected one event source mapping: the work queue to BackfillWorkerFunction")

    # Kept when the stack goes (or the resource is replaced).
    for name in ("Table", "WorkDeadLetterQueue"):
        res = resources.get(name, {})
        for policy in ("DeletionPolicy", "UpdateReplacePolicy"):
            if res.get(policy) != "Retain":
                problems.append(f"{name}: {policy} must be Retain")

    # An alarm as soon as the dead-letter queue holds a message.
    if conditions.get("HasAlarmTopic") != {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmTopicArn"}, ""]}]}:
        problems.append("condition HasAlarmTopic must be AlarmTopicArn != \"\"")
    if params.get("AlarmTopicArn", {}).get("Default", None) != "":
        problems.append("AlarmTopicArn must be optional (default empty)")
    alarms = [
        (k, v["Properties"])
        for k, v in resources.items()
        if v.get("Type") == "AWS::CloudWatch::Alarm"
        and v.get("Properties", {}).get("Dimensions")
        == [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["WorkDeadLetterQueue", "QueueName"]}}]
    ]
    if len(alarms) != 1:
        problems.append(f"expected one alarm on the dead-letter queue, found {len(alarms)}")
    for k, a in alarms:
        want = {
            "Namespace": "AWS/SQS",
            "MetricName": "ApproximateNumberOfMessagesVisible",
            "Statistic": "Maximum",
            "Period": 300,
            "EvaluationPeriods": 1,
            "Threshold": 1,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "AlarmActions": {"Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]},
        }
        for key, value in want.items():
            if a.get(key) != value:
                problems.append(f"{k}: {key} is {json.dumps(a.get(key))}, expected {json.dumps(value)}")
    return problems


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
    problems = check_security(cfn)
    for p in problems:
        print(f"least privilege: {p}")
    if problems:
        status = 1
    else:
        print("least privilege: per-function permissions, per-stack secrets, retained data, log retention, dead-letter alarm: as expected")
    os.unlink(translated)
    return status


if __name__ == "__main__":
    sys.exit(main())
