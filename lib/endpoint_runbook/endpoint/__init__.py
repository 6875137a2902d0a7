"""The endpoint: its facts as one type, its kind, and how a fix reaches it.

- :mod:`.facts`: DescribeEndpoint → DescribeEndpointConfig → DescribeModel read into the one facts type
  (:class:`endpoint_runbook.step_records.EndpointFacts`, what step 1 records and the later steps read);
- :mod:`.kind`: asynchronous, real-time or serverless, and what each allows;
- :mod:`.diagnosis`: the evidence reconciled into step 1's verdict;
- :mod:`.startup_failure`, :mod:`.network_reach`, :mod:`.backlog`, :mod:`.model_data`: the container's start,
  its network, its queue, its model data;
- :mod:`.names`, :mod:`.image`, :mod:`.plan`, :mod:`.preflight`: step 3's names, image URI, plan and checks
  before anything is created; :mod:`.inplace`: the in-place update (and its rollback) vs a new endpoint.
"""
