from . import friendly_dunning
from . import portal
