"""Calling the endpoint and reading what came back.

- :mod:`.invoke`: one request (async through S3, real-time, serverless) and its output's summary;
- :mod:`.notifications`: the async success/error topics, read through a temporary queue;
- :mod:`.replay`: the requests that failed during the outage, sent again;
- :mod:`.metrics`: the outage as CloudWatch's invocation metrics counted it.
"""
