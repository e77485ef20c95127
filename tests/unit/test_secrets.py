"""Secret values from the environment are masked in messages and log lines."""

from __future__ import annotations

import logging

import pytest

from etl.secrets import MASK, MaskSecrets, mask, secret_values

ENVIRON = {
    "AWS_ACCESS_KEY_ID": "AKIATESTKEY123",
    "AWS_SECRET_ACCESS_KEY": "s3cr3t/with+chars",
    "ETL_METASTORE_PASSWORD": "hunter22",
    "HOME": "/root",
    "SHORT_TOKEN": "abc",
}


def test_secret_looking_variables_are_masked_and_others_are_not() -> None:
    text = "key AKIATESTKEY123 secret s3cr3t/with+chars pw hunter22 home /root abc"
    assert mask(text, ENVIRON) == f"key {MASK} secret {MASK} pw {MASK} home /root abc"
    assert secret_values(ENVIRON) == ["s3cr3t/with+chars", "AKIATESTKEY123", "hunter22"]


def test_log_records_are_masked_after_formatting(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s3cr3t/with+chars")
    logger = logging.getLogger("etl.test_secrets")
    logger.addFilter(MaskSecrets())
    with caplog.at_level(logging.INFO, logger="etl.test_secrets"):
        logger.info("connecting with %s to %s", "s3cr3t/with+chars", "bucket")
    assert caplog.messages == [f"connecting with {MASK} to bucket"]
