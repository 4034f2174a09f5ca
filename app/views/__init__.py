"""FAB views: thin. Read input, call a service, flash the result."""
