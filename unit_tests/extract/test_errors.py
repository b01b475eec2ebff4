from airbyte_cdk.models import FailureType

from source_freshchat.extract import ReportError


def test_a_report_error_gives_airbyte_its_message_as_the_internal_message_too():
    """The sync's closing error names each failed stream by its error's internal message: it must not read None."""
    error = ReportError("Freshchat refused the report of conversation_created", refused=True)
    trace = error.as_airbyte_message().trace.error
    assert trace.message == trace.internal_message == "Freshchat refused the report of conversation_created"
    assert trace.failure_type == FailureType.system_error and error.refused and not error.quota
    assert "ReportError('Freshchat refused the report of conversation_created')" == repr(error)
