"""Runtime: jobs, the work queue, the due-index walker, the local scheduler."""
