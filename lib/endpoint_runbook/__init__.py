"""endpoint-runbook: bring a crash-looping SageMaker async endpoint back to a verified, fixed one."""

__version__ = "0.1.0"
