"""User training script run by the sagemaker-training toolkit (SAGEMAKER_PROGRAM=probe.py).

The toolkit computes the SM_* variables from the runner's /opt/ml/input/config/*.json and
passes the hyperparameters as `--name value` arguments. This prints them all as one line
`TOOLKIT_REPORT {json}` and writes the same JSON to /opt/ml/model/toolkit.json.
Hyperparameter `exit_code` (default 0) is the exit code, to test the toolkit's failure path.
Hyperparameter `sleep`: then sleep that many seconds, with a SIGTERM handler that prints
`TOOLKIT_SIGTERM` and exits 0 (a user script that would checkpoint on SIGTERM).
Hyperparameter `aws_bucket`: with boto3 as a user's script would, find credentials (reported:
how botocore found them), ask STS who they are and list the bucket's keys.
"""
import json
import os
import socket
import sys

# Variables whose value the toolkit JSON-encodes: reported parsed as well.
JSON_VARS = (
    "SM_HPS", "SM_CHANNELS", "SM_HOSTS", "SM_TRAINING_ENV", "SM_USER_ARGS",
    "SM_RESOURCE_CONFIG", "SM_INPUT_DATA_CONFIG", "SM_FRAMEWORK_PARAMS",
    "SM_ADDITIONAL_FRAMEWORK_PARAMETERS", "SM_INSTANCE_GROUPS", "SM_INSTANCE_GROUPS_DICT",
    "SM_DISTRIBUTION_INSTANCE_GROUPS", "SM_CURRENT_INSTANCE_GROUP_HOSTS",
)


def parsed(name):
    value = os.environ.get(name)
    if value is None:
        return None
    try:
        return json.loads(value)
    except ValueError:
        return value


def main():
    sm = {k: v for k, v in sorted(os.environ.items()) if k.startswith("SM_")}
    report = {
        "argv": sys.argv,
        "hostname": socket.gethostname(),
        "uid": os.getuid(),
        "gid": os.getgid(),
        "SM_HPS": parsed("SM_HPS"),
        "SM_CHANNELS": parsed("SM_CHANNELS"),
        "SM_CHANNEL_TRAIN": os.environ.get("SM_CHANNEL_TRAIN"),
        "SM_HOSTS": parsed("SM_HOSTS"),
        "SM_CURRENT_HOST": os.environ.get("SM_CURRENT_HOST"),
        "SM_NUM_GPUS": os.environ.get("SM_NUM_GPUS"),
        "SM_NUM_CPUS": os.environ.get("SM_NUM_CPUS"),
        "SM_MODEL_DIR": os.environ.get("SM_MODEL_DIR"),
        "SM_OUTPUT_DATA_DIR": os.environ.get("SM_OUTPUT_DATA_DIR"),
        "SM_INPUT_CONFIG_DIR": os.environ.get("SM_INPUT_CONFIG_DIR"),
        "SM_TRAINING_ENV": parsed("SM_TRAINING_ENV"),
        "SM_USER_ARGS": parsed("SM_USER_ARGS"),
        "sm_env": sm,
        "sm_env_parsed": {k: parsed(k) for k in JSON_VARS if k in os.environ},
        "training_job_name": os.environ.get("TRAINING_JOB_NAME"),
    }
    args = sys.argv[1:]
    if "--aws_bucket" in args[:-1]:
        report["aws"] = aws_probe(args[args.index("--aws_bucket") + 1])
    line = json.dumps(report, sort_keys=True)
    sys.stdout.write("TOOLKIT_REPORT " + line + "\n")
    sys.stdout.flush()
    model_dir = os.environ.get("SM_MODEL_DIR", "/opt/ml/model")
    try:
        with open(os.path.join(model_dir, "toolkit.json"), "w") as f:
            f.write(line + "\n")
    except OSError as e:
        sys.stderr.write("TOOLKIT_WRITE_ERROR %s\n" % e)

    code = 0
    if "--sleep" in args[:-1]:
        import signal
        import time

        def on_term(signum, frame):
            sys.stdout.write("TOOLKIT_SIGTERM\n")
            sys.stdout.flush()
            os._exit(0)

        signal.signal(signal.SIGTERM, on_term)
        sys.stdout.write("TOOLKIT_SLEEPING\n")
        sys.stdout.flush()
        time.sleep(float(args[args.index("--sleep") + 1]))
    if "--exit_code" in args[:-1]:
        code = int(args[args.index("--exit_code") + 1])
    return code


def aws_probe(bucket):
    import boto3

    session = boto3.session.Session()
    out = {"method": None, "caller": None, "keys": None, "error": None}
    try:
        creds = session.get_credentials()
        out["method"] = creds.method if creds is not None else None
        out["caller"] = session.client("sts").get_caller_identity()["Arn"]
        listed = session.client("s3").list_objects_v2(Bucket=bucket)
        out["keys"] = [o["Key"] for o in listed.get("Contents", [])]
    except Exception as e:  # reported, not raised: the test reads what happened
        out["error"] = "%s: %s" % (type(e).__name__, e)
    return out


if __name__ == "__main__":
    sys.exit(main())
