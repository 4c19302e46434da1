"""Live replies: generation decoupled from sockets, streamed to every open page.

``hub`` (this process's sockets and replies), ``frames`` (the HTML fragments),
``generation`` (a reply from the pipeline to its final write), ``sockets`` (what the
conversation socket does) and ``titles`` (naming a conversation after its first exchange).
"""
