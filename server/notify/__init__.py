"""Notifications to customers: the texts (push and SMS), their SMS cost, and (later) the outbox and worker."""
