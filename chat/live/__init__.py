"""Live replies: generation decoupled from sockets, streamed to every open page.

``hub`` (this process's sockets and replies), ``reply`` (a reply as the pages see it),
``frames`` and ``sketches`` (the HTML fragments), ``collector`` (the garbage collector
during a burst), ``generation`` (a reply from the pipeline to its final write),
``sockets`` (what the conversation socket does), ``remote`` (pages in other processes)
and ``titles`` (naming a conversation after its first exchange).
"""
