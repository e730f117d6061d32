from . import friendly_dunning
