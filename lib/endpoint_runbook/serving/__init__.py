"""What stands in for the SageMaker serving image outside the container, shared by the load check and the
local stack's hosting (neither depends on the other):

- :mod:`.env`: the cached serving environment (what the image ships), per-model requirements layers, and
  the model-server launcher;
- :mod:`.container_entry`: the container's entry point (the image's ``serve``), run inside that environment;
- :mod:`.loadcheck`: does the model load as the container would load it, in a clean subprocess;
- :mod:`.requirements` and :mod:`.pip_output`: what ``code/requirements.txt`` asks of the image (torch-family
  pins that would replace its torch), and what pip's output says failed (a line, or the network).
"""
