"""Print the W&B API key from the cloud's secret store, for a node's start command to export:

    export WANDB_API_KEY="$(python cluster/wandb_key.py aws /mgen/wandb_api_key)"     # SSM Parameter Store
    export WANDB_API_KEY="$(python cluster/wandb_key.py gcp mgen-wandb-api-key)"      # Secret Manager

The key goes from the secret store into the `ray start` process's environment (so into the driver's,
which hands it to the W&B logging actors as an argument), and never into a file, a command line or a
runtime env, which Ray logs in full. With no secret, or no permission to read it, this prints nothing
and says why on stderr: the study then logs to W&B offline and says so.
"""
from __future__ import annotations

import sys


def aws(name: str) -> str:
    import boto3

    return boto3.client("ssm").get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]


def gcp(name: str) -> str:
    import google.auth
    from google.cloud import secretmanager

    _, project = google.auth.default()
    client = secretmanager.SecretManagerServiceClient()
    version = client.access_secret_version(name=f"projects/{project}/secrets/{name}/versions/latest")
    return version.payload.data.decode()


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("aws", "gcp"):
        print("usage: wandb_key.py aws|gcp SECRET_NAME", file=sys.stderr)
        return 2
    try:
        key = (aws if argv[0] == "aws" else gcp)(argv[1]).strip()
    except Exception as exc:  # no secret, no permission, no SDK: W&B runs offline, the study says so
        print(f"wandb_key: no W&B key from {argv[0]} secret {argv[1]} ({type(exc).__name__}); "
              "W&B will log offline", file=sys.stderr)
        return 0
    print(key)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
