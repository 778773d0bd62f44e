"""The worker side: the task ``backend.process_event`` and one handler per event type."""
