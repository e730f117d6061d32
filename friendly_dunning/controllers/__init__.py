from . import webhooks
from . import portal
from . import dunning_statement
