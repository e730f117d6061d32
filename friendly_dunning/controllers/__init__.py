from . import friendly_dunning
from . import portal
from . import portal_forms
from . import dunning_statement
