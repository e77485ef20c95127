"""AWS clients for the shipping commands, and AWS errors as the one line the etl command prints.

Where the settings come from, first match wins. Endpoint: the command's --endpoint-url, then
AWS_ENDPOINT_URL_EMR / _S3 or AWS_ENDPOINT_URL (as every AWS tool reads them), then the env config
(emr.endpoint; s3.endpoint for uploads), else AWS. Region: --region, then the env config (emr.region;
s3.region for uploads: where the cluster and bucket are), then the SDK's lookup (AWS_REGION,
~/.aws/config). Credentials only ever come from the SDK's lookup; nothing here reads or prints them,
and error texts pass through etl.secrets.mask.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from etl.config.models import EnvConfig
from etl.errors import EtlError
from etl.secrets import mask


def emr_client(env: EnvConfig, region: str | None = None, endpoint: str | None = None) -> Any:
    import boto3

    with aws_errors("EMR"):
        return boto3.client("emr", region_name=region or env.emr.region, endpoint_url=_endpoint("EMR", endpoint, env.emr.endpoint))


def emr_serverless_client(env: EnvConfig, region: str | None = None, endpoint: str | None = None) -> Any:
    """EMR Serverless in the env's emr.region; endpoint: the flag, else AWS_ENDPOINT_URL_EMR_SERVERLESS or AWS_ENDPOINT_URL."""
    import boto3

    with aws_errors("EMR Serverless"):
        return boto3.client(
            "emr-serverless", region_name=region or env.emr.region, endpoint_url=_endpoint("EMR_SERVERLESS", endpoint, None)
        )


def s3_client(env: EnvConfig, endpoint: str | None = None, region: str | None = None) -> Any:
    """S3 as the env reaches it: path-style addressing for a local server (any endpoint other than AWS's)."""
    import boto3
    from botocore.config import Config

    s3 = env.s3
    endpoint = _endpoint("S3", endpoint, s3.endpoint if s3 else None)
    local = endpoint or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    config = Config(s3={"addressing_style": "path"}) if (s3 and s3.path_style_access) or local else None
    with aws_errors("S3"):
        return boto3.client("s3", region_name=region or (s3.region if s3 else None) or env.emr.region, endpoint_url=endpoint, config=config)


def _endpoint(service: str, flag: str | None, configured: str | None) -> str | None:
    """The flag, else None where the SDK will read AWS_ENDPOINT_URL(_<SERVICE>) itself, else the env config's."""
    if flag:
        return flag
    if os.environ.get(f"AWS_ENDPOINT_URL_{service}") or os.environ.get("AWS_ENDPOINT_URL"):
        return None
    return configured or None


@contextmanager
def aws_errors(service: str) -> Iterator[None]:
    """botocore's exceptions -> EtlError with one line naming the service, the call and AWS's reason."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

    try:
        yield
    except ClientError as error:
        details = error.response.get("Error", {})
        operation = getattr(error, "operation_name", "") or "call"
        reason = f"{details.get('Code', 'error')}: {details.get('Message', '')}".strip(": ")
        raise EtlError(_line(f"{service} {operation}: {reason}")) from None
    except NoRegionError:
        raise EtlError(f"{service}: no AWS region: set emr.region in the env, pass --region, or set AWS_REGION") from None
    except NoCredentialsError:
        raise EtlError(f"{service}: no AWS credentials found (environment, ~/.aws, instance profile)") from None
    except BotoCoreError as error:
        raise EtlError(_line(f"{service}: {error}")) from None


def _line(text: str) -> str:
    return mask(" ".join(text.split()))
