# SPDX-License-Identifier: Apache-2.0
"""A scripted fake of a venue's public REST and WebSocket API, for CCXT's real clients.

One generic server (tests.ccxt_fakes.server.FakeVenue); everything venue-specific is data in
``tests/fixtures/<venue>/venue.json`` and the files it names:

* ``rest``: ``"GET /path"`` -> a JSON file served as the answer (the query string is ignored),
  or ``"GET /path?a=1&b=2"`` for that exact query string only (matched before the bare path);
  any method (``"POST /path"``) alike; a list of files answers the n-th request with the n-th
  file (the last one again after that: a later snapshot for a resync); ``@fake@`` in an answer
  becomes the fake's own ``127.0.0.1:port`` (a venue that names its WebSocket server in a REST
  answer, as KuCoin's token does);
* ``ws_path``: where the WebSocket is served (a path, or a list of them; one ending in ``*`` is a
  prefix: Binance's numbered stream paths); ``ws_rules``: how a client frame is recognized
  (``match``: dotted paths -> required values) and answered (``reply``: a frame whose string
  values ``"$dotted.path"`` are copied from the client's frame; or ``replies``, a list: the n-th
  matching frame gets the n-th, the last one again after that, as HTX's snapshot request); a rule with ``topic`` subscribes
  the client to that topic (``book`` or ``trades``), or to each of a list of topics (one
  subscribe frame carrying both, as Gemini's ``l2``);
* ``streams``: per topic, a list of JSONL scripts; the n-th subscribe of a topic plays the n-th
  script (the last one again after that). A script line is a frame to send, or a directive:
  ``{"_sleep": 0.05}``, ``{"_hold": "name"}`` (wait until the test calls ``release("name")``),
  ``{"_close": true}`` (close the socket), ``{"_skip": 1}`` (with ``sequence``: that many numbers are
  never sent, as messages lost on the way). After its last line a script is silent: the socket
  stays open and the rules above still answer (pings, further subscribes).

* ``compress``: ``"gzip"`` sends every frame as a binary frame of its gzipped JSON (HTX).
* ``stream_encoding``: ``"mexc-protobuf"`` sends the scripts' frames (written in the message's JSON
  form) as binary protobuf messages (MEXC); replies stay JSON text.

* ``sequence``: a field name (Coinbase ``sequence_num``): every frame the fake sends on a
  connection, replies included, carries it, counting from 0 per connection.

Any request the fake has no answer for is logged in ``FakeVenue.unknown`` and answered 404 (an
unknown WebSocket frame is logged and not answered), so a test can assert that its flow asked
for nothing unscripted.
"""
