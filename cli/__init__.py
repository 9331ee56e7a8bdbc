"""`pentathlon`: the participant's command line for a Pentathlon evaluation server.

Needs only numpy, h5py, requests and rich (the base install): never Django. Offline checks use
the evaluation core (`evaluation`), the very code the server scores with.

Exit codes (see README.md):
    0  success
    1  usage error, network error, server error, or a local file that cannot be read or written
    2  rejected submission: offline validation failed, the server refused the upload, or scoring failed
    3  authentication: not logged in, wrong credentials, token refused, or not allowed to do this
"""
