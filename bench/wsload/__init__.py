"""The WebSocket load benchmark behind ``bench/ws_load.py`` (the entry point), one concept a module.

- ``config``: where things listen, rate limits and timeouts, the open-file limit, the commit under test;
- ``answers``: varied valid answers and one person's run through the questionnaire (``Journey``);
- ``client``: the load generator, a client process holding connections (``ClientWorker``), and
  the orchestrator's handle on those processes (``Clients``);
- ``servers``: a server subprocess (echo or ``planwise serve``), its CPU and memory;
- ``orchestrator``: the phases of a run (``Bench``): start servers, open connections, run a
  phase and measure it in its window;
- ``report``: a measured ``Phase``, the summary JSON, the table and the targets.

See ``bench/README-ws.md``.
"""
