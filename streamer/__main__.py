"""``python -m streamer``: serve the streamer (see :mod:`streamer.main`)."""

from streamer.main import main

main()
