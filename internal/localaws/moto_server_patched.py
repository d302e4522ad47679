"""moto_server with greenlight's local, test-only patches. Written for moto 5.2.1 exactly.

Patches (see shared reference local-toolchain.md §1.5-1.8):
1. Step Functions execute mode: a second StartExecution in one account/region failed with
   HTTP 500 (copy.deepcopy reached an RLock in the backend).
2. StartExecution without a name got the ARN suffix ':None'; unnamed executions get a UUID.
3. EventBridge rules with a Step Functions target raised NotImplementedError (HTTP 500 for the
   whole PutEvents); such targets now start an execution with the event (or transformed input).
4. Lambda Invoke (with lambda use_docker=false) is forwarded to aws-lambda-rie for the functions
   named in the JSON map read from the file $MOTO_LAMBDA_RIE_FILE (re-read on every invoke, so
   emulators can be added after start). Invokes are serialized per function: aws-lambda-rie
   crashes on concurrent requests.
5. The Step Functions integration arn:aws:states:::states:startExecution passed StateMachineArn
   and Input to boto3 in AWS casing (States.Runtime 'Input'); they are given boto's casing, and
   the response keys AWS's (StartDate as a string).
6. SNS subscriptions with protocol "lambda" called the function object directly (Docker, or
   nothing without it) with a canned event (MessageId, Timestamp, TopicArn and
   MessageAttributes all fixed). For the functions in the RIE map, the message is delivered as
   AWS does: asynchronously, as the Lambda SNS event with the real message ID, topic,
   subscription ARN, subject, timestamp and message attributes.
7. A scheduled rule without an event pattern matched every PutEvents event (and a Lambda target
   then raised NotImplementedError, HTTP 500 for the whole PutEvents); on AWS such a rule only
   runs on its schedule. It no longer matches events (moto never fires schedules either).
8. The context object's $$.Execution.StartTime was a Python datetime (AWS gives an ISO 8601
   string), so States.JsonToString of anything holding it failed with "Object of type
   datetime is not JSON serializable". It is an ISO 8601 string, as on AWS.
9. The asynchronous SNS deliveries of patch 6 honour the function's event invoke config as
   Lambda does: a function error is retried MaximumRetryAttempts times (default 2), after
   1 and 2 minutes, times $MOTO_LAMBDA_ASYNC_RETRY_SCALE (default 1; the rehearsal compresses
   them), then the OnFailure destination (an SQS queue) gets Lambda's invocation record
   (condition RetriesExhausted, the request and the error response). Before, a failed
   delivery was dropped. And an aws-lambda-rie that answers an invocation with an error
   status (502 when the runtime died mid-invocation) passes its Runtime.ExitError body
   through, instead of a generic "unreachable" error.
10. StopExecution on an execution inside a Map iteration ended it FAILED (the aborted
   iteration's MapIterationAborted overwrote the stop); on AWS a stopped execution ends
   ABORTED, with an ExecutionAborted event, whatever its branches were doing. A stop now
   stays a stop.
11. An SDK retry of a call moto already carried out ran it again: under load a response is
   now and then lost on its way back, and the retried create answered "already exists"
   (ResourceInUseException, ImageAlreadyExistsException, DuplicateTargetGroupName). Every
   attempt of one SDK call carries the same amz-sdk-invocation-id; a repeat of a call (same
   invocation ID, operation and body) that moto answered 2xx now gets that answer again
   instead of running twice (a repeat that arrives while the first still runs waits for it),
   as AWS's idempotent APIs and client tokens behave.

Nothing here changes what moto returns for any other call.
"""
import json
import os
import sys
import threading
import urllib.error
import urllib.request
import uuid

EXPECTED_MOTO = "5.2.1"

import moto  # noqa: E402

if moto.__version__ != EXPECTED_MOTO:
    sys.stderr.write(
        "greenlight: these moto patches were written for moto %s, but moto %s is installed; "
        "install it with: pip install 'moto[server]==%s'\n" % (EXPECTED_MOTO, moto.__version__, EXPECTED_MOTO))
    sys.exit(3)

from moto.awslambda_simple.models import LambdaSimpleBackend  # noqa: E402
from moto.events import models as ev_models  # noqa: E402
from moto.events.utils import EventTemplateParser  # noqa: E402
from moto.stepfunctions.models import StepFunctionBackend  # noqa: E402
from moto.stepfunctions.parser.backend.execution import Execution  # noqa: E402
from moto.stepfunctions.parser.models import StepFunctionsParserBackend  # noqa: E402
from moto.stepfunctions.responses import get_backend as sfn_backend  # noqa: E402
from moto.utilities.arns import parse_arn  # noqa: E402

# 1. deepcopy of the backend / execution returns the object itself.
StepFunctionBackend.__deepcopy__ = lambda self, memo: self
Execution.__deepcopy__ = lambda self, memo: self

# 2. unnamed executions get a UUID.
_orig_start = StepFunctionsParserBackend.start_execution


def _start_execution(self, state_machine_arn, name=None, *a, **kw):
    return _orig_start(self, state_machine_arn, name or str(uuid.uuid4()), *a, **kw)


StepFunctionsParserBackend.start_execution = _start_execution

# 3. EventBridge -> Step Functions targets.
_orig_send = ev_models.Rule.send_to_targets


def _send_to_targets(self, original_event, transform_input=True):
    if self.scheduled_expression and not self.event_pattern._pattern:
        return  # 7. a schedule rule never matches events
    if not self.event_pattern.matches_event(original_event):
        return
    sfn_targets = [t for t in self.targets if parse_arn(t["Arn"]).service == "states"]
    for t in sfn_targets:
        it = t.get("InputTransformer", {})
        if "Input" in t:
            payload = t["Input"]
        elif it:
            payload = json.dumps(EventTemplateParser.parse(
                input_template=it.get("InputTemplate"), input_paths_map=it.get("InputPathsMap", {}),
                event=original_event))
        else:
            payload = json.dumps(original_event)
        arn = parse_arn(t["Arn"])
        sfn_backend(arn.account, arn.region).start_execution(t["Arn"], None, payload)
    saved, self.targets = self.targets, [t for t in self.targets if t not in sfn_targets]
    try:
        _orig_send(self, original_event, transform_input)
    finally:
        self.targets = saved


ev_models.Rule.send_to_targets = _send_to_targets

# 4. Lambda Invoke -> aws-lambda-rie, serialized per function.
_locks = {}
_locks_guard = threading.Lock()


def _rie_map():
    path = os.environ.get("MOTO_LAMBDA_RIE_FILE")
    if not path or not os.path.exists(path):
        return {}
    with open(path) as f:
        return json.load(f)


def _lock_for(name):
    with _locks_guard:
        return _locks.setdefault(name, threading.Lock())


_orig_invoke = LambdaSimpleBackend.invoke


def _invoke(self, function_name, qualifier, body, headers, response_headers):
    name = function_name.split(":function:")[-1].split(":")[0]
    target = _rie_map().get(name)
    if not target:
        return _orig_invoke(self, function_name, qualifier, body, headers, response_headers)
    self.get_function(function_name, qualifier)  # unknown function -> error, as on AWS
    data = (body or "{}").encode() if isinstance(body, str) else (body or b"{}")
    req = urllib.request.Request(target + "/2015-03-31/functions/function/invocations", data=data, method="POST")
    with _lock_for(name):
        try:
            with urllib.request.urlopen(req, timeout=900) as resp:
                payload, err_type = resp.read(), resp.headers.get("Error-Type")
        except urllib.error.HTTPError as e:
            # 9. aws-lambda-rie answers 502 with {"errorType": "Runtime.ExitError", ...} when
            # the runtime exits mid-invocation: pass its error through, as Lambda does.
            body = e.read()
            try:
                doc = json.loads(body)
            except ValueError:
                doc = None
            response_headers["x-amz-function-error"] = "Unhandled"
            if isinstance(doc, dict) and "errorType" in doc:
                return body
            return json.dumps({"errorType": "Runtime.ExitError",
                               "errorMessage": "lambda emulator for %s answered HTTP %d: %s" % (name, e.code, body[:200].decode(errors="replace"))}).encode()
        except (urllib.error.URLError, ConnectionError) as e:
            # The emulator is gone (killed mid-invocation): report it as AWS reports a crashed runtime.
            response_headers["x-amz-function-error"] = "Unhandled"
            return json.dumps({"errorType": "Runtime.ExitError",
                               "errorMessage": "lambda emulator for %s unreachable: %s" % (name, e)}).encode()
    try:
        doc = json.loads(payload)
    except ValueError:
        doc = None
    if doc is None and payload.startswith(b"Task timed out"):
        response_headers["x-amz-function-error"] = "Unhandled"
        return json.dumps({"errorType": "Sandbox.Timedout", "errorMessage": payload.decode()}).encode()
    if err_type or (isinstance(doc, dict) and set(doc) >= {"errorMessage", "errorType"}):
        response_headers["x-amz-function-error"] = "Unhandled"
    return payload


LambdaSimpleBackend.invoke = _invoke

# 5. states:startExecution from a state machine.
import datetime  # noqa: E402

from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (  # noqa: E402
    state_task_service_sfn as _sfnsvc,
)

_orig_norm_params = _sfnsvc.StateTaskServiceSfn._normalise_parameters


def _norm_params(self, parameters, boto_service_name=None, service_action_name=None):
    _orig_norm_params(self, parameters, boto_service_name, service_action_name)
    if service_action_name is None and self._get_boto_service_action() in ("start_execution", "start_sync_execution"):
        for k in list(parameters):
            if k in ("StateMachineArn", "Input", "Name", "TraceHeader"):
                parameters[k[0].lower() + k[1:]] = parameters.pop(k)


_sfnsvc.StateTaskServiceSfn._normalise_parameters = _norm_params

_orig_norm_resp = _sfnsvc.StateTaskServiceSfn._normalise_response


def _norm_resp(self, response, boto_service_name=None, service_action_name=None):
    _orig_norm_resp(self, response, boto_service_name, service_action_name)
    if isinstance(response, dict):
        for k in list(response):
            v = response.pop(k)
            response[k[0].upper() + k[1:]] = v.isoformat() if isinstance(v, datetime.datetime) else v


_sfnsvc.StateTaskServiceSfn._normalise_response = _norm_resp

# 6. SNS "lambda" subscriptions -> aws-lambda-rie, asynchronously, with the real SNS event.
import datetime as _dt  # noqa: E402

from moto.sns import models as _sns_models  # noqa: E402

_orig_sub_publish = _sns_models.Subscription.publish


def _sns_event(sub, message, message_id, subject, message_attributes):
    attrs = {}
    for k, v in (message_attributes or {}).items():
        attrs[k] = {"Type": v.get("Type", "String"), "Value": v.get("Value")}
    t = _dt.datetime.now(_dt.timezone.utc)
    now = t.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (t.microsecond // 1000)
    return {"Records": [{
        "EventSource": "aws:sns", "EventVersion": "1.0", "EventSubscriptionArn": sub.arn,
        "Sns": {"Type": "Notification", "MessageId": message_id, "TopicArn": sub.topic.arn,
                "Subject": subject, "Message": message, "Timestamp": now,
                "SignatureVersion": "1", "Signature": "", "SigningCertUrl": "", "UnsubscribeUrl": "",
                "MessageAttributes": attrs}}]}


def _invoke_async_once(name, target, data):
    """One asynchronous invocation: (status code, payload, function error or None)."""
    req = urllib.request.Request(target + "/2015-03-31/functions/function/invocations", data=data, method="POST")
    with _lock_for(name):
        try:
            with urllib.request.urlopen(req, timeout=900) as resp:
                payload, err_type = resp.read(), resp.headers.get("Error-Type")
        except urllib.error.HTTPError as e:
            return 200, e.read(), "Unhandled"
        except (urllib.error.URLError, ConnectionError) as e:
            return 200, json.dumps({"errorType": "Runtime.ExitError", "errorMessage": str(e)}).encode(), "Unhandled"
    try:
        doc = json.loads(payload)
    except ValueError:
        doc = None
    if err_type or (isinstance(doc, dict) and set(doc) >= {"errorMessage", "errorType"}):
        return 200, payload, "Unhandled"
    return 200, payload, None


def _async_config(function_arn):
    """(MaximumRetryAttempts, OnFailure destination ARN or None) of the function."""
    from moto.awslambda.utils import get_backend as _lambda_backend
    arn = parse_arn(function_arn)
    name = function_arn.split(":function:")[-1].split(":")[0]
    try:
        fn = _lambda_backend(arn.account, arn.region).get_function(name)
    except Exception:  # noqa: BLE001 - an unknown function has the defaults
        return 2, None
    if not fn.event_invoke_config:
        return 2, None
    c = fn.event_invoke_config[0].config
    dest = (c.get("DestinationConfig") or {}).get("OnFailure", {}).get("Destination")
    return int(c.get("MaximumRetryAttempts", 2)), dest


_ASYNC_DELAYS = (60.0, 120.0)  # Lambda's waits before the second and third attempts


def _deliver_sns(name, target, payload, function_arn=None):
    import time
    data = json.dumps(payload).encode()
    retries, dest = _async_config(function_arn) if function_arn else (0, None)
    scale = float(os.environ.get("MOTO_LAMBDA_ASYNC_RETRY_SCALE", "1") or "1")
    attempt = 0
    while True:
        attempt += 1
        status, body, func_err = _invoke_async_once(name, target, data)
        if func_err is None:
            return
        sys.stderr.write("greenlight: asynchronous invocation %d of %s failed: %s\n" % (attempt, name, body[:300]))
        if attempt > retries:
            break
        time.sleep(_ASYNC_DELAYS[min(attempt - 1, len(_ASYNC_DELAYS) - 1)] * scale)
    if not dest:
        return
    try:
        response = json.loads(body)
    except ValueError:
        response = body.decode(errors="replace")
    t = _dt.datetime.now(_dt.timezone.utc)
    record = {
        "version": "1.0",
        "timestamp": t.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (t.microsecond // 1000),
        "requestContext": {"requestId": str(uuid.uuid4()), "functionArn": function_arn + ":$LATEST",
                           "condition": "RetriesExhausted", "approximateInvokeCount": attempt},
        "requestPayload": payload,
        "responseContext": {"statusCode": status, "executedVersion": "$LATEST", "functionError": func_err},
        "responsePayload": response,
    }
    d = parse_arn(dest)
    if d.service != "sqs":
        sys.stderr.write("greenlight: on-failure destination %s is not an SQS queue; not delivered\n" % dest)
        return
    from moto.sqs.models import sqs_backends
    sqs_backends[d.account][d.region].send_message(dest.split(":")[-1], json.dumps(record))


def _sub_publish(self, message, message_id, subject=None, message_attributes=None, *a, **kw):
    if self.protocol == "lambda":
        name = self.endpoint.split(":function:")[-1].split(":")[0]
        target = _rie_map().get(name)
        if target:
            if self._filter_policy_matcher is not None and not self._filter_policy_matcher.matches(message_attributes, message):
                return None
            payload = _sns_event(self, message, message_id, subject, message_attributes)
            threading.Thread(target=_deliver_sns, args=(name, target, payload, self.endpoint), daemon=True).start()
            return None
    return _orig_sub_publish(self, message, message_id, subject, message_attributes, *a, **kw)


_sns_models.Subscription.publish = _sub_publish

# 8. $$.Execution.StartTime as an ISO 8601 string.
from moto.stepfunctions.parser.backend import execution_worker as _execution_worker  # noqa: E402

_orig_environment = _execution_worker.ExecutionWorker._get_evaluation_environment


def _environment(self):
    env = _orig_environment(self)
    ex = env.states.context_object.context_object_data["Execution"]
    if isinstance(ex.get("StartTime"), datetime.datetime):
        t = ex["StartTime"]
        if t.tzinfo is None:
            t = t.replace(tzinfo=datetime.timezone.utc)
        ex["StartTime"] = t.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return env


_execution_worker.ExecutionWorker._get_evaluation_environment = _environment

# 10. A stopped execution stays stopped (ABORTED), even inside a Map iteration.
from moto.stepfunctions.parser.asl.eval.environment import Environment as _Environment  # noqa: E402
from moto.stepfunctions.parser.asl.eval.program_state import ProgramStopped as _ProgramStopped  # noqa: E402

_orig_set_error = _Environment.set_error


def _set_error(self, error):
    if isinstance(self._program_state, _ProgramStopped):
        return
    _orig_set_error(self, error)


_Environment.set_error = _set_error

# 11. A retried SDK call (same amz-sdk-invocation-id) is carried out once.
from moto.moto_server.werkzeug_app import DomainDispatcherApplication as _Dispatcher  # noqa: E402
import collections as _collections  # noqa: E402
import hashlib as _hashlib  # noqa: E402
import io as _io  # noqa: E402

_answers = _collections.OrderedDict()
_running = {}
_answers_lock = threading.Lock()
_orig_dispatch = _Dispatcher.__call__


def _dispatch_once(self, environ, start_response):
    inv = environ.get("HTTP_AMZ_SDK_INVOCATION_ID")
    length = environ.get("CONTENT_LENGTH") or ""
    if not inv or not length.isdigit() or environ.get("PATH_INFO", "").startswith("/moto-api"):
        return _orig_dispatch(self, environ, start_response)
    # The same call is the same invocation ID, operation and body: a proxy that makes other
    # calls with the headers of the one it received is not taken for a retry.
    raw = environ["wsgi.input"].read(int(length)) if int(length) > 0 else b""
    environ["wsgi.input"] = _io.BytesIO(raw)
    key = (inv, environ.get("HTTP_X_MOTO_ACCOUNT_ID", ""), environ.get("HTTP_X_AMZ_TARGET", ""),
           environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", ""), environ.get("QUERY_STRING", ""),
           _hashlib.sha256(raw).hexdigest())
    while True:
        with _answers_lock:
            answer = _answers.get(key)
            first = _running.get(key)
            if answer is None and first is None:
                done = _running[key] = threading.Event()
                break
        if answer is not None:
            status, headers, body = answer
            start_response(status, headers)
            return [body]
        first.wait(120)
    captured = {}

    def _start(status, headers, exc_info=None):
        captured["status"], captured["headers"] = status, list(headers)
        return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

    try:
        body = b"".join(_orig_dispatch(self, environ, _start))
        if captured.get("status", "").startswith("2"):
            with _answers_lock:
                _answers[key] = (captured["status"], captured["headers"], body)
                while len(_answers) > 20000:
                    _answers.popitem(last=False)
        return [body]
    finally:
        with _answers_lock:
            _running.pop(key, None)
        done.set()


_Dispatcher.__call__ = _dispatch_once

if __name__ == "__main__":
    from moto.server import main

    main()
