"""Loaded by every pytest run in this repository, Airbyte's `airbyte-cdk connector test` included.

That command writes its own test module under .tmp/ and runs it with this directory as rootdir, so
of our conftest files it loads only this one: whatever its standard tests need is a plugin named here.
"""

pytest_plugins = ["integration_tests.standard_test_configs"]
