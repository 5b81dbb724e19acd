"""The application layer: what every front end (CLI, batch runner, Slicer modules, web
workstation) does with a job, defined once below them: the requests that become `ich` command
lines, the names and provenance of a job's outputs, the reading of a finished job, the texts and
tables the panels show, background jobs and "save as ground truth". It imports the algorithms and
nothing above it; no front end imports another."""
