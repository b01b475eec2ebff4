# Built and run as Airbyte runs it by `make test` (integration_tests/image/run.sh, with podman).
# The base is pinned to a Debian release so a rebuild cannot move to another distribution unnoticed.
FROM python:3.11-slim-bookworm

RUN useradd --create-home --uid 1000 airbyte
WORKDIR /airbyte/integration_code

# Dependencies first, exactly as locked: a change to the connector's code reuses this layer.
COPY requirements.lock ./
RUN pip install --no-cache-dir --disable-pip-version-check --requirement requirements.lock

# Then the connector, as integration_tests/test_packaging.py installs it without a container: the lock
# as constraints, so pip only checks that every dependency is already there.
COPY pyproject.toml README.md ./
COPY source_freshchat ./source_freshchat
RUN pip install --no-cache-dir --disable-pip-version-check --constraint requirements.lock . \
    && rm -rf /root/.cache

ENV AIRBYTE_ENTRYPOINT="/usr/local/bin/source-freshchat"
ENTRYPOINT ["/usr/local/bin/source-freshchat"]

USER airbyte
WORKDIR /home/airbyte

LABEL io.airbyte.name=freshchat-airbyte/source-freshchat
LABEL io.airbyte.version=0.3.3
