"""SDK acceptance tests: the real globus-sdk (4.x or 3.66) against a live `openflows serve`."""
