"""Jobs: a run's units of work, each in a folder named by a hash of what determines its output, and
the executors that run them (in this process, or on Ray)."""

from clearbench.jobs.job import Job, job_states, read_state

__all__ = ["Job", "job_states", "read_state"]
