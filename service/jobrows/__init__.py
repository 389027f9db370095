"""The one state machine of a row that tracks a long job (a bundle build, a SAR redaction, a face scan):
queued -> running -> ready, or back to queued to be retried, or failed; see :class:`service.jobrows.service.JobRows`."""
