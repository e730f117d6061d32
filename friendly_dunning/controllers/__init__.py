from . import friendly_dunning
from . import portal
from . import dunning_statement
