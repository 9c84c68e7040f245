"""boto3 clients for the local stack: the emulator's dummy credentials and region, a given endpoint."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

REGION = "us-east-1"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": REGION}


def local_client(service: str, endpoint_url: str, **config: Any) -> Any:
    """A boto3 client for ``service`` at ``endpoint_url``; ``config`` goes to botocore's Config."""
    import boto3  # noqa: PLC0415 - keeps `down` and `env` light
    from botocore.config import Config  # noqa: PLC0415

    make: Any = boto3.client
    return make(
        service,
        endpoint_url=endpoint_url,
        region_name=REGION,
        aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        config=Config(**config) if config else None,
    )


def function_environment(aws_url: str, lambda_url: str) -> dict[str, str]:
    """What the local Lambda gives every function: credentials, and where AWS and Lambda answer."""
    return {**CREDENTIALS, "AWS_ENDPOINT_URL": aws_url, "AWS_ENDPOINT_URL_LAMBDA": lambda_url}


@dataclass(frozen=True)
class Endpoints:
    """Where a running stack answers: the emulator, the local Lambda endpoint, and ``aws_url``, where
    the functions' and the clients' AWS calls go (the emulator, or a proxy in front of it)."""

    emulator_url: str
    lambda_url: str
    aws_url: str = ""

    def __post_init__(self) -> None:
        if not self.aws_url:
            object.__setattr__(self, "aws_url", self.emulator_url)  # the default, set once while constructing

    def client(self, service: str, *, direct: bool = False, **config: Any) -> Any:
        """A boto3 client: Lambda goes to the local endpoint (Invoke runs there, the rest goes on to the
        emulator), other services to ``aws_url``; ``direct`` goes to the emulator itself, whatever the service."""
        if direct:
            return local_client(service, self.emulator_url, **config)
        return local_client(service, self.lambda_url if service == "lambda" else self.aws_url, **config)
