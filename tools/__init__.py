"""Tools for working on the connector, run from a checkout and never shipped (the wheel and the image hold only
source_freshchat/).

The demo (`make demo`), the benchmarks, the mutation check and the driver of `make test-under-load`. They sync
the emulator of the tests (integration_tests/emulator/) and run the connector as the tests do
(integration_tests/harness.py); their own tests are in tools/tests/.
"""
