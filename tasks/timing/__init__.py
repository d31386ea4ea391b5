"""Time arithmetic only, no I/O: when periodic tasks (``every=``, ``cron=``) are due."""
