# The image installs the package exactly as integration_tests/test_packaging.py does without Docker:
# `pip install` of this folder (a wheel built by poetry-core), pinned by requirements.lock.
FROM python:3.11-slim

RUN useradd --create-home --uid 1000 airbyte
WORKDIR /airbyte/integration_code

COPY pyproject.toml requirements.lock README.md ./
COPY source_freshchat ./source_freshchat
RUN pip install --no-cache-dir --constraint requirements.lock . \
    && rm -rf /root/.cache

ENV AIRBYTE_ENTRYPOINT="/usr/local/bin/source-freshchat"
ENTRYPOINT ["/usr/local/bin/source-freshchat"]

USER airbyte
WORKDIR /home/airbyte

LABEL io.airbyte.name=freshchat-airbyte/source-freshchat
LABEL io.airbyte.version=0.1.0
