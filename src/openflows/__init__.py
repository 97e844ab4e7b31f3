"""OpenFlows: a self-hostable, Globus Flows compatible automation service."""

__version__ = "0.1.0"
