"""The run's own tables, beside the data it loads:

audit       etl_audit.job_runs: one row per run, succeeded or failed
lock        etl_audit.job_locks: one run of a job at a time
bookmarks   etl_audit.bookmarks: the files each run date of an incremental source took
volume      the volume check, judged against the audit log's earlier runs
quarantine  quarantine.<table> and quarantine.<job>_<source>: the rows a run did not load
"""
