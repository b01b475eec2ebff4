"""Conversation properties: a bare JSON array, not paged."""

from ..conftest import API, records_of, run_read


def test_conversation_properties_is_a_bare_array(requests_mock):
    fields = [{"id": "f1", "name": "priority", "type": "DROPDOWN", "choices": [{"id": "c1", "value": "High"}]}]
    requests_mock.get(f"{API}/conversations/fields", json=fields)
    assert records_of(run_read(["conversation_properties"]), "conversation_properties") == fields


def test_conversation_properties_that_are_not_an_array_are_a_changed_shape(requests_mock):
    requests_mock.get(f"{API}/conversations/fields", json={"fields": []})
    output = run_read(["conversation_properties"])
    assert "has no JSON array" in output.errors[0].trace.error.message
