"""metadata.yaml against Airbyte's connector metadata schema (ConnectorMetadataDefinitionV0), and against the image it describes."""

import re
import uuid
from pathlib import Path

import jsonschema
import pytest
import yaml
from airbyte_cdk.models.connector_metadata import MetadataFile

ROOT = Path(__file__).resolve().parents[1]
METADATA = yaml.safe_load((ROOT / "metadata.yaml").read_text())
DATA = METADATA["data"]

# The parts of ConnectorMetadataDefinitionV0 a source uses: required fields, enums, and no field the schema lacks.
REGISTRY_OVERRIDE = {"type": "object", "required": ["enabled"], "properties": {"enabled": {"type": "boolean"}}}
SCHEMA = {
    "type": "object",
    "required": ["metadataSpecVersion", "data"],
    "additionalProperties": False,
    "properties": {
        "metadataSpecVersion": {"type": "string"},
        "data": {
            "type": "object",
            "required": [
                "name",
                "definitionId",
                "connectorType",
                "dockerRepository",
                "dockerImageTag",
                "license",
                "documentationUrl",
                "githubIssueLabel",
                "connectorSubtype",
                "releaseStage",
            ],
            "additionalProperties": False,
            "properties": {
                **{
                    name: {"type": "string"}
                    for name in ("name", "icon", "dockerRepository", "dockerImageTag", "license", "githubIssueLabel")
                },
                "definitionId": {"type": "string"},
                "documentationUrl": {"type": "string", "pattern": "^https://"},
                "connectorType": {"enum": ["destination", "source"]},
                "connectorSubtype": {"enum": ["api", "database", "datalake", "file", "custom", "message_queue", "unknown", "vectorstore"]},
                "releaseStage": {"enum": ["alpha", "beta", "generally_available", "custom"]},
                "supportLevel": {"enum": ["community", "certified", "archived"]},
                "tags": {"type": "array", "items": {"type": "string", "pattern": "^[a-z-]+:.+$"}},
                "allowedHosts": {"type": "object", "properties": {"hosts": {"type": "array", "items": {"type": "string"}}}},
                "registryOverrides": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {"oss": REGISTRY_OVERRIDE, "cloud": REGISTRY_OVERRIDE},
                },
                "connectorTestSuitesOptions": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["suite"],
                        "properties": {"suite": {"enum": ["unitTests", "integrationTests", "acceptanceTests", "liveTests", "smokeTests"]}},
                    },
                },
                "externalDocumentationUrls": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["title", "url"],
                        "additionalProperties": False,
                        "properties": {"title": {"type": "string"}, "url": {"type": "string"}, "type": {"type": "string"}},
                    },
                },
                "ab_internal": {
                    "type": "object",
                    "properties": {"sl": {"enum": [0, 100, 200, 300]}, "ql": {"enum": [0, 100, 200, 300, 400, 500, 600]}},
                },
                # Fields the schema allows that this connector does not set (yet).
                **{
                    name: {}
                    for name in (
                        "connectorBuildOptions",
                        "supportsDbt",
                        "supportsNormalization",
                        "maxSecondsBetweenMessages",
                        "releaseDate",
                        "protocolVersion",
                        "erdUrl",
                        "releases",
                        "normalizationConfig",
                        "suggestedStreams",
                        "resourceRequirements",
                        "remoteRegistries",
                        "supportsRefreshes",
                        "generated",
                        "supportsFileTransfer",
                        "supportsDataActivation",
                        "connectorIPCOptions",
                    )
                },
            },
        },
    },
}


def pyproject_value(key: str) -> str:
    [value] = re.findall(rf'^{key} = "(.+)"$', (ROOT / "pyproject.toml").read_text(), re.MULTILINE)  # tomllib is 3.11+
    return value


def dockerfile_label(name: str) -> str:
    [value] = re.findall(rf"^LABEL {re.escape(name)}=(\S+)$", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    return value


def test_metadata_follows_airbytes_schema():
    jsonschema.validate(METADATA, SCHEMA)
    uuid.UUID(DATA["definitionId"])
    assert (ROOT / DATA["icon"]).is_file()


def test_the_cdk_reads_it_as_a_python_connector():
    metadata = MetadataFile.from_file(ROOT / "metadata.yaml")
    assert metadata.data.language.value == "python"


@pytest.mark.parametrize(
    "described, actual",
    [
        (DATA["dockerImageTag"], pyproject_value("version")),
        (DATA["dockerImageTag"], dockerfile_label("io.airbyte.version")),
        (DATA["dockerRepository"], dockerfile_label("io.airbyte.name")),
        (DATA["license"], pyproject_value("license")),
        (DATA["dockerRepository"], yaml.safe_load((ROOT / "acceptance-test-config.yml").read_text())["connector_image"].split(":")[0]),
    ],
    ids=["version-pyproject", "version-image-label", "repository-image-label", "license", "repository-acceptance-config"],
)
def test_metadata_describes_the_package_and_image_it_ships_with(described, actual):
    assert described == actual
