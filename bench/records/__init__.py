"""Records: what a run stores and how it is read back.

``schema`` declares each record kind and the format version and history; ``io`` writes files atomically
and reads one file; ``read`` reads a run directory or results documents tolerantly; ``environment`` says
where the records were measured.
"""
